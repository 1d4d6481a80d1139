"""The few lines a finished run prints: each evaluation's headline figures."""

import json


def format_interval(entry: dict) -> str:
    """``"0.812 [0.790, 0.833]"``: a value with its 95% bootstrap interval.

    Parameters
    ----------
    entry : dict
        ``{"value", "ci_low", "ci_high"}`` as the evaluations write them.

    Returns
    -------
    str
    """
    return f"{entry['value']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def results_lines(tag_metrics: str, cf_metrics: str, cold_metrics: str) -> list[str]:
    """The headline figures of the three evaluations, one line each, then their warnings.

    Parameters
    ----------
    tag_metrics, cf_metrics, cold_metrics : str
        ``metrics.json`` of the tag, collaborative-filtering and cold-start
        evaluations.

    Returns
    -------
    list of str
        The interval legend, the tag, CF and two cold-start lines (in that
        order: the cold-start AUC line is ``[3]``), then one line per warning.
    """
    metrics = {}
    for key, path in (("tags", tag_metrics), ("cf", cf_metrics), ("cold", cold_metrics)):
        with open(path, encoding="utf-8") as f:
            metrics[key] = json.load(f)
    tags, cf, cold = (metrics[k]["models"] for k in ("tags", "cf", "cold"))
    paired = metrics["cold"]["paired"]
    iv = format_interval
    return [
        "95% bootstrap intervals in brackets",
        f"tags (test songs): ROC-AUC CNN {iv(tags['cnn']['roc_auc_macro'])}, "
        f"bag of frames {iv(tags['bag_of_frames']['roc_auc_macro'])}",
        f"collaborative filtering (test plays): MAP@500 ALS {iv(cf['als']['map_at_500'])}, "
        f"popularity {iv(cf['popularity']['map_at_500'])}",
        f"cold start ({metrics['cold']['n_cold_songs_evaluated']} test songs): AUC CNN "
        f"{iv(cold['cnn']['auc'])}, linear {iv(cold['linear']['auc'])}, "
        f"random {iv(cold['random']['auc'])}, "
        f"upper bound {iv(cold['upper_bound']['auc'])}",
        f"cold start MAP@500: CNN {iv(cold['cnn']['map_at_500'])}, linear "
        f"{iv(cold['linear']['map_at_500'])}; CNN - linear "
        f"{iv(paired['cnn_minus_linear']['map_at_500'])}",
    ] + [f"warning: {w}" for k in ("tags", "cf", "cold") for w in metrics[k].get("warnings", [])]


def results_text(tag_metrics: str, cf_metrics: str, cold_metrics: str,
                 outputs: dict[str, str]) -> tuple[str, str]:
    """What a finished main job prints, and the line it leaves as its status.

    Parameters
    ----------
    tag_metrics, cf_metrics, cold_metrics : str
        ``metrics.json`` of the three evaluations (see :func:`results_lines`).
    outputs : dict
        ``{name: path}`` of what a user opens after the run, listed after the figures.

    Returns
    -------
    status : str
        The cold-start AUC line.
    text : str
        ``krotos results:`` and the indented figures, warnings and outputs.
    """
    lines = results_lines(tag_metrics, cf_metrics, cold_metrics)
    status = lines[3]
    lines += [f"{name}: {path}" for name, path in outputs.items()]
    return status, "\n".join(["", "krotos results:"] + ["  " + line for line in lines])
