"""Bootstrap intervals of evaluation metrics, and paired differences between models.

Every evaluation of krotos reports a metric with a percentile bootstrap
interval: the evaluated *units* (users for the ranking evaluations, clips for
the tag evaluation) are resampled with replacement, the metric is recomputed
on each resample, and the interval is the central ``confidence`` share of
those replicates. Models compared on the same units use the *same* resamples,
so that the difference of two models has its own, much narrower, interval
(a paired bootstrap): both models see the same easy and hard units in each
replicate, and the variation that they share cancels.

A resample is represented by how many times each unit was drawn
(:func:`resample_counts`), so a replicate of a mean is a weighted mean and
all replicates are one matrix product. Areas under curves are computed from
weights too (:func:`weighted_roc_auc`, :func:`weighted_average_precision`):
each tag's scores are sorted once, and every replicate is a cumulative sum of
its weights in that order. Nothing loops over replicates or over units.

Values that cannot be computed (no finite value, no replicate where a metric
is defined) are ``None``, so that the results can be written as strict JSON.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: Below this many units an interval is flagged whatever its width: the
#: bootstrap itself is unreliable on very small samples.
MIN_UNITS = 30


def _number(x):
    """A finite float, or None (JSON has no NaN)."""
    return float(x) if x is not None and np.isfinite(x) else None


def resample_counts(n: int, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """How many times each of ``n`` units is drawn in each bootstrap resample.

    Parameters
    ----------
    n : int
        Number of units (users, clips).
    n_resamples : int
        Number of bootstrap replicates.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray
        ``(n_resamples, n)`` int64 counts; every row sums to ``n``.
    """
    n, n_resamples = int(n), int(n_resamples)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    if n == 0:
        return np.zeros((n_resamples, 0), dtype=np.int64)
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(np.int64)


def _weights(counts, n):
    # float64 once: the matrix products below would otherwise convert int
    # counts on every call.
    w = np.asarray(counts, dtype=np.float64)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"counts have shape {np.shape(counts)}, expected (n_resamples, {n})")
    return w


def percentile_interval(value: float, replicates: npt.ArrayLike,
                        confidence: float = 0.95) -> dict[str, float | None]:
    """Percentile interval of bootstrap replicates around a full-data value.

    Parameters
    ----------
    value : float
        The statistic on the full (not resampled) data.
    replicates : array_like
        The statistic on each resample; non-finite replicates (where the
        statistic is undefined) are left out.
    confidence : float
        Share of the replicates inside the interval.

    Returns
    -------
    dict
        ``{"value", "ci_low", "ci_high"}``, each a float or None.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    reps = np.asarray(replicates, dtype=np.float64).ravel()
    reps = reps[np.isfinite(reps)]
    low = high = None
    if len(reps):
        tail = 50.0 * (1.0 - confidence)
        low, high = np.percentile(reps, [tail, 100.0 - tail])
    return {"value": _number(value), "ci_low": _number(low), "ci_high": _number(high)}


def _weighted_means(values, w):
    """Means of ``values`` (NaN ignored) under each row of weights ``w``; NaN where no weight."""
    finite = np.isfinite(values)
    sums = w @ np.where(finite, values, 0.0)
    total = w @ finite.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / total


def mean_interval(values: npt.ArrayLike, counts: npt.ArrayLike,
                  confidence: float = 0.95) -> dict[str, float | None]:
    """Mean of per-unit values with its percentile bootstrap interval.

    Parameters
    ----------
    values : array_like
        ``(n,)`` per-unit values; NaN (undefined for that unit) is ignored,
        i.e. gets weight 0 in every replicate.
    counts : array_like
        ``(n_resamples, n)`` from :func:`resample_counts`.
    confidence : float

    Returns
    -------
    dict
        ``{"value": mean of the finite values, "ci_low", "ci_high"}``.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    w = _weights(counts, len(values))
    finite = np.isfinite(values)
    value = values[finite].mean() if finite.any() else None
    return percentile_interval(value, _weighted_means(values, w), confidence)


def _paired(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {len(a)} and {len(b)}")
    # A unit counts only where both models have a value, so that the
    # difference compares the models on the same units.
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(a) & np.isfinite(b), a - b, np.nan)


def paired_difference(a: npt.ArrayLike, b: npt.ArrayLike, counts: npt.ArrayLike,
                      confidence: float = 0.95) -> dict[str, float | None]:
    """Mean of ``a - b`` over units where both are finite, with its bootstrap interval.

    Parameters
    ----------
    a, b : array_like
        ``(n,)`` per-unit values of two models on the same units.
    counts : array_like
        ``(n_resamples, n)``; the same resamples for both models.
    confidence : float

    Returns
    -------
    dict
        ``{"value", "ci_low", "ci_high"}``.
    """
    return mean_interval(_paired(a, b), counts, confidence)


#: Cells of the (units x replicates) blocks of :func:`_curve_metrics`: larger
#: problems are cut into blocks of replicates to bound the working memory.
_BLOCK_CELLS = 1 << 22


def _unit_weights(counts, n):
    """Weights as a contiguous ``(n, n_resamples)`` array: reordering units is then a row gather."""
    return np.ascontiguousarray(_weights(counts, n).T)


def _curve_metrics(y_true, y_score, weights_t):
    """ROC-AUC and average precision of one label column under each column of weights.

    ``weights_t`` is ``(n, n_resamples)`` (:func:`_unit_weights`). Returns two
    ``(n_resamples,)`` arrays, NaN where a replicate has no positive weight
    (and, for the AUC, no negative weight).
    """
    y = np.asarray(y_true).ravel() > 0.5
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    n, n_rep = weights_t.shape
    if n != len(s):
        raise ValueError(f"weights cover {n} units, expected {len(s)}")
    auc = np.full(n_rep, np.nan)
    ap = np.full(n_rep, np.nan)
    if n == 0:
        return auc, ap
    # Sorted once, best score first; all replicates share the order.
    order = np.argsort(-s, kind="stable")
    s, pos = s[order], y[order]
    # Tied scores are one threshold, as in scikit-learn's curves: a positive
    # is credited with the weights cumulated to the end of its tie group (and,
    # for the AUC, half of the negatives tied with it).
    is_start = np.concatenate([[True], s[1:] != s[:-1]])
    starts = np.flatnonzero(is_start)
    group = np.cumsum(is_start) - 1
    ends = np.concatenate([starts[1:], [n]])  # one past the last row of each group
    positives = np.flatnonzero(pos)
    end_of = ends[group[positives]]
    start_of = starts[group[positives]]
    # Positive weight cumulates over the positive rows alone (few, for a
    # tag); only the cumulative weight of all units needs a pass over every
    # row, and the negatives' follows from the two.
    pos_end = np.searchsorted(positives, end_of, side="left")
    pos_start = np.searchsorted(positives, start_of, side="left")
    step = max(1, _BLOCK_CELLS // n)
    for lo in range(0, n_rep, step):
        w = weights_t[order, lo:lo + step]
        w_pos = w[positives]
        # Padded with a zero row: row k holds the weight of the units before row k.
        call = np.zeros((n + 1, w.shape[1]))
        np.cumsum(w, axis=0, out=call[1:])
        cpos = np.zeros((len(positives) + 1, w.shape[1]))
        np.cumsum(w_pos, axis=0, out=cpos[1:])
        n_pos = cpos[-1]
        n_neg = call[-1] - n_pos
        seen = call[end_of]
        hits = cpos[pos_end]
        neg_end = seen - hits
        neg_start = call[start_of] - cpos[pos_start]
        beaten = n_neg - 0.5 * (neg_end + neg_start)
        with np.errstate(invalid="ignore", divide="ignore"):
            a = (w_pos * beaten).sum(axis=0) / (n_pos * n_neg)
            # A positive drawn 0 times adds nothing, even where nothing above
            # it was drawn either (0/0 precision).
            precision = np.where(seen > 0, hits / np.where(seen > 0, seen, 1.0), 0.0)
            p = (w_pos * precision).sum(axis=0) / n_pos
        a[(n_pos <= 0) | (n_neg <= 0)] = np.nan
        p[n_pos <= 0] = np.nan
        auc[lo:lo + step], ap[lo:lo + step] = a, p
    return auc, ap


def weighted_roc_auc(y_true: npt.ArrayLike, y_score: npt.ArrayLike,
                     counts: npt.ArrayLike) -> np.ndarray:
    """ROC-AUC of one binary label column under each row of unit weights.

    Parameters
    ----------
    y_true : array_like
        ``(n,)`` 0/1 labels.
    y_score : array_like
        ``(n,)`` finite scores, higher meaning more likely positive.
    counts : array_like
        ``(n_resamples, n)`` weights (bootstrap counts), or ``(n,)``.

    Returns
    -------
    numpy.ndarray
        ``(n_resamples,)``: for each row, what
        ``sklearn.metrics.roc_auc_score(y_true, y_score, sample_weight=row)``
        returns (a positive tied with a negative counts one half); NaN where
        the row gives no weight to positives or to negatives.
    """
    s = np.ravel(y_score)
    return _curve_metrics(y_true, s, _unit_weights(counts, len(s)))[0]


def weighted_average_precision(y_true: npt.ArrayLike, y_score: npt.ArrayLike,
                               counts: npt.ArrayLike) -> np.ndarray:
    """Average precision (PR-AUC) of one binary label column under each row of weights.

    ``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds, best
    first, as ``sklearn.metrics.average_precision_score`` with ``sample_weight``.

    Parameters
    ----------
    y_true, y_score, counts
        As :func:`weighted_roc_auc`.

    Returns
    -------
    numpy.ndarray
        ``(n_resamples,)``; NaN where the row gives no weight to positives.
    """
    s = np.ravel(y_score)
    return _curve_metrics(y_true, s, _unit_weights(counts, len(s)))[1]


def bootstrap_info(unit: str, n_units: int, n_resamples: int, confidence: float = 0.95,
                   seed: int = 0) -> dict:
    """The ``"bootstrap"`` entry of a ``metrics.json``: how the intervals were made."""
    return {"unit": unit, "n_units": int(n_units), "n_resamples": int(n_resamples),
            "confidence": float(confidence), "seed": int(seed), "method": "percentile"}


def _pair_names(names, pairs):
    if pairs is None:
        # The first model is the one under study: it is compared with each other one.
        pairs = [(names[0], other) for other in names[1:]]
    for a, b in pairs:
        if a not in names or b not in names:
            raise ValueError(f"pair {a!r} - {b!r}: unknown model (models: {names})")
    return [(a, b) for a, b in pairs]


def unit_metric_intervals(per_unit: dict, pairs: Sequence[tuple[str, str]] | None = None, *,
                          unit: str = "unit", n_resamples: int = 1000, seed: int = 0,
                          confidence: float = 0.95) -> dict:
    """Intervals of per-unit means for several models, and paired differences.

    Parameters
    ----------
    per_unit : dict
        ``{model: {metric: (n,) per-unit values}}``; every array covers the
        same units in the same order (NaN where undefined for a unit).
    pairs : sequence of (str, str), optional
        ``(a, b)`` pairs to compare as ``a - b``; default the first model
        minus each other one.
    unit : str
        What a unit is (``"user"``), for the ``bootstrap`` entry.
    n_resamples, seed, confidence
        See :func:`resample_counts` and :func:`percentile_interval`.

    Returns
    -------
    dict
        ``{"models": {model: {metric: interval}}, "paired": {"<a>_minus_<b>":
        {metric: interval}}, "bootstrap": bootstrap_info(...)}`` where an
        interval is ``{"value", "ci_low", "ci_high"}``; the paired metrics are
        those both models have.
    """
    names = list(per_unit)
    if not names:
        raise ValueError("no model to evaluate")
    lengths = {len(np.ravel(v)) for metrics in per_unit.values() for v in metrics.values()}
    if len(lengths) > 1:
        raise ValueError(f"per-unit arrays differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    w = resample_counts(n, n_resamples, seed).astype(np.float64)
    models = {name: {metric: mean_interval(values, w, confidence)
                     for metric, values in metrics.items()}
              for name, metrics in per_unit.items()}
    paired = {}
    for a, b in _pair_names(names, pairs):
        shared = [m for m in per_unit[a] if m in per_unit[b]]
        paired[f"{a}_minus_{b}"] = {m: paired_difference(per_unit[a][m], per_unit[b][m], w,
                                                         confidence) for m in shared}
    return {"models": models, "paired": paired,
            "bootstrap": bootstrap_info(unit, n, n_resamples, confidence, seed)}


def _macro(values, defined):
    """Mean over the defined columns of each row; NaN for rows with none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, values, 0.0).sum(axis=1) / defined.sum(axis=1)


def tag_metric_intervals(y_true: npt.ArrayLike, scores_by_model: dict[str, npt.ArrayLike],
                         n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                         pairs: Sequence[tuple[str, str]] | None = None) -> dict:
    """Macro ROC-AUC and PR-AUC of several tag models with clip-bootstrap intervals.

    Parameters
    ----------
    y_true : array_like
        ``(n_clips, n_tags)`` 0/1 labels.
    scores_by_model : dict
        ``{model: (n_clips, n_tags) finite scores}``, same clips and tags.
    n_resamples, seed, confidence
        See :func:`resample_counts` and :func:`percentile_interval`.
    pairs : sequence of (str, str), optional
        Default: the first model minus each other one, in the order given.

    Returns
    -------
    dict
        ``{"models": {model: {"roc_auc_macro": interval, "pr_auc_macro":
        interval}}, "paired": {"<a>_minus_<b>": {...}}, "bootstrap": ...}``.
        A macro average is the mean over the tags with both positive and
        negative clips; in a replicate, a tag without either among the drawn
        clips is left out of that replicate's mean. ``value`` is the metric on
        all clips.
    """
    y = np.asarray(y_true) > 0.5
    if y.ndim != 2:
        raise ValueError(f"labels must be (n_clips, n_tags), got shape {y.shape}")
    n, n_tags = y.shape
    names = list(scores_by_model)
    if not names:
        raise ValueError("no model to evaluate")
    # Row 0 is the full data (every clip once), rows 1.. the resamples: one
    # pass computes the value and its replicates.
    w = np.vstack([np.ones((1, n)), resample_counts(n, n_resamples, seed).astype(np.float64)])
    defined = ((w @ y) > 0) & ((w @ ~y) > 0)
    w_t = np.ascontiguousarray(w.T)
    macro = {}
    for name in names:
        scores = np.asarray(scores_by_model[name], dtype=np.float64)
        if scores.shape != y.shape:
            raise ValueError(f"{name}: scores have shape {scores.shape}, labels {y.shape}")
        roc = np.full((len(w), n_tags), np.nan)
        pr = np.full((len(w), n_tags), np.nan)
        for j in np.flatnonzero(defined[0]):
            roc[:, j], pr[:, j] = _curve_metrics(y[:, j], scores[:, j], w_t)
        macro[name] = {"roc_auc_macro": _macro(roc, defined), "pr_auc_macro": _macro(pr, defined)}
    models = {name: {metric: percentile_interval(reps[0], reps[1:], confidence)
                     for metric, reps in metrics.items()} for name, metrics in macro.items()}
    paired = {}
    for a, b in _pair_names(names, pairs):
        paired[f"{a}_minus_{b}"] = {
            metric: percentile_interval(macro[a][metric][0] - macro[b][metric][0],
                                        macro[a][metric][1:] - macro[b][metric][1:], confidence)
            for metric in macro[a]}
    return {"models": models, "paired": paired,
            "bootstrap": bootstrap_info("clip", n, n_resamples, confidence, seed)}


def interval_warnings(intervals: dict, max_width: float, *, n_units: int | None = None,
                      unit: str | None = None, confidence: float | None = None,
                      min_units: int = MIN_UNITS) -> list[str]:
    """Plain-language warnings about intervals too wide to tell models apart.

    Parameters
    ----------
    intervals : dict
        ``{model or pair: {metric: {"value", "ci_low", "ci_high"}}}`` (the
        ``models`` or ``paired`` entry of a result), or a whole result of
        :func:`unit_metric_intervals` / :func:`tag_metric_intervals`, whose
        models, pairs and ``bootstrap`` entry are then all used.
    max_width : float
        Intervals wider than this are reported.
    n_units : int, optional
        Number of units resampled; also warns when below ``min_units``.
    unit : str, optional
        What a unit is (``"user"``, ``"clip"``), for the messages.
    confidence : float, optional
        For the messages; default 0.95.
    min_units : int

    Returns
    -------
    list of str
        E.g. ``"cnn auc: 95% interval wider than 0.10 (0.71 to 0.84, 59 users)"``;
        empty when every interval is narrow enough and there are enough units.
    """
    if isinstance(intervals.get("models"), dict):
        boot = intervals.get("bootstrap") or {}
        n_units = boot.get("n_units") if n_units is None else n_units
        unit = unit or boot.get("unit")
        confidence = confidence or boot.get("confidence")
        intervals = {**intervals["models"], **(intervals.get("paired") or {})}
    unit = unit or "unit"
    confidence = confidence or 0.95
    percent = f"{100 * confidence:g}%"
    units = ""
    out = []
    if n_units is not None:
        plural = unit if n_units == 1 else unit + "s"
        units = f", {n_units:,} {plural}"
        if n_units < min_units:
            out.append(f"only {n_units:,} {plural} evaluated (fewer than {min_units}): the test "
                       f"set is too small for reliable intervals or comparisons")
    for name, metrics in intervals.items():
        for metric, iv in metrics.items():
            if not isinstance(iv, dict) or "ci_low" not in iv:
                continue
            low, high = iv.get("ci_low"), iv.get("ci_high")
            if low is None or high is None:
                if iv.get("value") is not None:
                    out.append(f"{name} {metric}: no {percent} interval (undefined in every "
                               f"resample{units})")
                continue
            if high - low > max_width:
                out.append(f"{name} {metric}: {percent} interval wider than {max_width:.2f} "
                           f"({low:.2f} to {high:.2f}{units})")
    return out
