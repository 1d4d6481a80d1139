"""Statistics shared by the evaluations: bootstrap intervals and paired differences."""

from krotos.stats.bootstrap import (  # noqa: F401
    bootstrap_info,
    interval_warnings,
    mean_interval,
    paired_difference,
    percentile_interval,
    resample_counts,
    tag_metric_intervals,
    unit_metric_intervals,
    weighted_average_precision,
    weighted_roc_auc,
)
