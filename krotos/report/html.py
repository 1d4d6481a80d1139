"""Assemble the run report: ``index.html`` and its PNG figures in one folder.

Every section is optional: a report of a partial run shows what exists.
Metrics are shown as ``value [ci_low, ci_high]`` (95% bootstrap intervals of
``metrics.json``), each evaluation has a table of paired differences between
its models, and the warnings of the evaluations (too few users or clips,
intervals too wide to tell models apart) are repeated at the top of the page.
"""

from __future__ import annotations

import html
import json
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from krotos.report import plots

if TYPE_CHECKING:
    import numpy as np


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } .note { color: #666; font-size: 0.9em; } .hit { background: #e6f4e6; }
.warnings { background: #fff4d6; border-left: 5px solid #e0a000; padding: 0.5em 1em; }
.warnings h3 { margin: 0.2em 0; } .warnings li { margin: 0.2em 0; }
"""

CF_METRICS = ("auc", "map_at_500", "precision_at_10", "recall_at_10", "ndcg_at_10")
TAG_METRICS = ("roc_auc_macro", "pr_auc_macro")


def _load(path):
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return html.escape(str(value))


def _is_interval(value):
    return isinstance(value, dict) and "value" in value


def _fmt_interval(entry):
    """``0.8123 [0.7901, 0.8330]``; ``-`` for a missing value."""
    value, low, high = plots.interval(entry)
    if value is None:
        return "-"
    if low is None or high is None:
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"


def _cell(value):
    if _is_interval(value):
        return f'<td class="num">{html.escape(_fmt_interval(value))}</td>'
    if value is None:
        return "<td>-</td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<td class="num">{_fmt(value)}</td>'
    return f"<td>{_fmt(value)}</td>"


def _table(header, rows, row_class=None):
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{row_class[i]}"' if row_class and row_class[i] else ""
        out.append(f"<tr{cls}>{''.join(_cell(v) for v in row)}</tr>")
    return "\n".join(out + ["</table>"])


def _metric_names(models):
    """Metric names of a ``models`` (or ``paired``) entry, in first-seen order."""
    names = []
    for metrics in models.values():
        names += [m for m in metrics if m not in names]
    return names


def _models_table(first_header, models, metrics=None):
    metrics = list(metrics or _metric_names(models))
    return _table([first_header] + metrics,
                  [[name] + [m.get(k) for k in metrics] for name, m in models.items()])


def _excludes_zero(entry):
    _, low, high = plots.interval(entry)
    return low is not None and high is not None and (low > 0 or high < 0)


def _paired_table(paired, metrics=None):
    """Differences ``a - b`` with their intervals; rows whose intervals all exclude 0 marked."""
    if not paired:
        return ""
    metrics = list(metrics or _metric_names(paired))
    rows = [[name.replace("_minus_", " − ")] + [d.get(k) for k in metrics]
            for name, d in paired.items()]
    marks = ["hit" if all(_excludes_zero(d.get(k)) for k in metrics if d.get(k) is not None)
             else "" for d in paired.values()]
    return ("<h3>Paired differences</h3>"
            '<p class="note">Each model minus another on the same bootstrap resamples; an '
            "interval that excludes 0 (highlighted rows: every metric) is a difference the test "
            "set resolves.</p>" + _table(["difference"] + metrics, rows, row_class=marks))


def _bootstrap_note(result):
    boot = (result or {}).get("bootstrap")
    if not boot:
        return ""
    unit = boot.get("unit", "unit")
    return (f'<p class="note">Intervals: {100 * boot.get("confidence", 0.95):g}% '
            f'{html.escape(str(boot.get("method", "percentile")))} bootstrap over '
            f'{_fmt(boot.get("n_units"))} {html.escape(unit)}s, '
            f'{_fmt(boot.get("n_resamples"))} resamples (seed {_fmt(boot.get("seed"))}).</p>')


def _warnings_box(warnings, heading="Warnings"):
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(str(w))}</li>" for w in warnings)
    return f'<div class="warnings"><h3>⚠ {html.escape(heading)}</h3><ul>{items}</ul></div>'


def _tag_models(metrics):
    """``models`` of a tag ``metrics.json``; older files had the CNN's figures at the top."""
    if isinstance(metrics.get("models"), dict):
        return metrics["models"]
    return {"cnn": {k: metrics.get(k) for k in ("roc_auc_macro", "pr_auc_macro")}}


def _model_metric(result, model, metric):
    """One model's metric entry of a ``metrics.json`` (``-`` when absent)."""
    entry = ((result or {}).get("models") or {}).get(model, {}).get(metric)
    if entry is None and result and model == "cnn":
        entry = result.get(metric)  # older files: the CNN's figures at the top level
    return entry if entry is not None else "-"


def _img(name, alt):
    return f'<p><img src="{html.escape(name)}" alt="{html.escape(alt)}"></p>'


def _flat_counts(summary, prefix=""):
    """Scalar entries of a (nested) summary dict as ``(dotted key, value)`` rows."""
    rows = []
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flat_counts(value, name + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((name, value))
    return rows


def _status_counts(manifest):
    counts = {}
    for entry in (manifest or {}).get("tracks", {}).values():
        counts[entry.get("status", "unknown")] = counts.get(entry.get("status", "unknown"), 0) + 1
    return counts


def build_report(out_dir: str, *, title: str = "krotos run report",
                 summaries: dict[str, str] | None = None, manifest: str | None = None,
                 spectrogram_examples: list[tuple[str, np.ndarray]] | None = None,
                 frame_rate: float | None = None, tag_training: str | None = None,
                 tag_metrics: str | None = None, latent_training: str | None = None,
                 cf_metrics: str | None = None, cold_metrics: str | None = None,
                 variants: dict[str, dict[str, str]] | None = None) -> str:
    """Write ``index.html`` and its figures into ``out_dir``.

    Parameters
    ----------
    out_dir : str
        Existing folder.
    title : str
    summaries : dict, optional
        ``{stage name: path of a JSON summary}`` (counts, bad input by reason).
    manifest : str, optional
        ``manifest.json`` of the feature shards (status per track).
    spectrogram_examples : list of (str, np.ndarray), optional
        ``(caption, time x bands matrix)`` to show.
    frame_rate : float, optional
        Frames per second of those matrices (for the time axis).
    tag_training, latent_training : str, optional
        ``training.json`` of the tag model and of the latent-factor model.
    tag_metrics, cf_metrics, cold_metrics : str, optional
        ``metrics.json`` of EvaluateTags, EvaluateCF and EvaluateRecommendation.
    variants : dict, optional
        ``{label: {"tag_metrics": path, "cold_metrics": path}}`` of other
        feature settings (e.g. Echo Nest features) to compare side by side.

    Returns
    -------
    str
        Path of ``index.html``.
    """
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="note">written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>']

    # Dataset and bad input.
    body.append("<h2>Dataset</h2>")
    for stage, path in (summaries or {}).items():
        data = _load(path)
        if data:
            body.append(f"<h3>{html.escape(stage)}</h3>")
            body.append(_table(["count", "value"], _flat_counts(data)))
    manifest_data = _load(manifest)
    statuses = _status_counts(manifest_data)
    if statuses:
        body.append("<h3>Audio: tracks by status</h3>")
        body.append(_table(["status", "tracks"], sorted(statuses.items(), key=lambda kv: -kv[1])))
        body.append(_img(os.path.basename(plots.counts_bars(
            statuses, "tracks by feature-extraction status",
            os.path.join(out_dir, "status.png"))), "tracks by status"))
    if spectrogram_examples:
        body.append("<h3>Examples of model inputs</h3>")
        body.append(_img(os.path.basename(plots.spectrograms(
            spectrogram_examples, os.path.join(out_dir, "spectrograms.png"), frame_rate)),
            "spectrogram examples"))

    # Tags.
    training = _load(tag_training)
    metrics = _load(tag_metrics)
    if training or metrics:
        body.append("<h2>Tag model</h2>")
    if training and training.get("history"):
        body.append(_img(os.path.basename(plots.training_curves(
            training["history"], "val_roc_auc", "tag CNN",
            os.path.join(out_dir, "tag_training.png"))), "tag model training curves"))
        body.append(f'<p class="note">best epoch {training.get("best_epoch")}, validation '
                    f'ROC-AUC {_fmt(training.get("best_metric"))}</p>')
    if metrics:
        models = _tag_models(metrics)
        cnn = models.get("cnn", {})
        body.append(_warnings_box(metrics.get("warnings"), "Tag evaluation"))
        body.append(f"<p>Test split: macro ROC-AUC <b>{_fmt_interval(cnn.get('roc_auc_macro'))}"
                    f"</b>, macro PR-AUC <b>{_fmt_interval(cnn.get('pr_auc_macro'))}</b> over "
                    f"{_fmt(metrics.get('n_tags_scored'))} tags and "
                    f"{_fmt(metrics.get('n_clips'))} clips.</p>")
        body.append(_bootstrap_note(metrics))
        body.append(_models_table("model", models, TAG_METRICS))
        if any(_is_interval(v) for m in models.values() for v in m.values()):
            body.append(_img(os.path.basename(plots.grouped_metrics(
                models, list(TAG_METRICS), "tag models (error bars: 95% interval)",
                os.path.join(out_dir, "tag_metrics.png"), ylim=(0, 1))), "tag model metrics"))
        body.append(_paired_table(metrics.get("paired"), TAG_METRICS))
        per_tag = metrics.get("per_tag", {})
        if per_tag:
            body.append(_img(os.path.basename(plots.per_tag_bars(
                per_tag, os.path.join(out_dir, "per_tag_auc.png"))), "ROC-AUC per tag"))
            body.append(_table(["tag", "ROC-AUC", "PR-AUC", "positives", "status"],
                               [(t, v.get("roc_auc") if v.get("roc_auc") is not None else "-",
                                 v.get("pr_auc") if v.get("pr_auc") is not None else "-",
                                 v.get("positives"), v.get("status"))
                                for t, v in per_tag.items()]))

    # Collaborative filtering and cold start.
    cf = _load(cf_metrics)
    if cf:
        body.append("<h2>Collaborative filtering (held-out plays of warm songs)</h2>")
        body.append(_warnings_box(cf.get("warnings"), "Collaborative-filtering evaluation"))
        body.append(f'<p class="note">{html.escape(cf.get("protocol", ""))}</p>')
        body.append(_bootstrap_note(cf))
        body.append(_models_table("model", cf["models"], CF_METRICS))
        body.append(_img(os.path.basename(plots.grouped_metrics(
            cf["models"], ["auc", "map_at_500", "ndcg_at_10"],
            "ALS vs baselines (error bars: 95% interval)",
            os.path.join(out_dir, "cf_metrics.png"))), "CF metrics"))
        body.append(_paired_table(cf.get("paired"), CF_METRICS))
    latent = _load(latent_training)
    cold = _load(cold_metrics)
    if latent or cold:
        body.append("<h2>Cold-start recommendation from audio</h2>")
    if latent and latent.get("history"):
        body.append(_img(os.path.basename(plots.training_curves(
            latent["history"], "val_cosine", "latent-factor CNN",
            os.path.join(out_dir, "latent_training.png"))), "latent model training curves"))
    if cold:
        body.append(_warnings_box(cold.get("warnings"), "Cold-start evaluation"))
        body.append(f'<p class="note">{html.escape(cold.get("protocol", ""))}. '
                    f'{_fmt(cold.get("n_cold_songs_evaluated"))} cold songs, '
                    f'{_fmt(cold.get("n_users"))} users. Relative AUC (CNN between random=0 '
                    f'and upper bound=1): <b>{_fmt(cold.get("relative_auc"))}</b>.</p>')
        body.append(_bootstrap_note(cold))
        body.append(_models_table("songs represented by", cold["models"], CF_METRICS))
        body.append(_img(os.path.basename(plots.grouped_metrics(
            cold["models"], ["auc", "map_at_500", "ndcg_at_10"],
            "cold-start songs (error bars: 95% interval)",
            os.path.join(out_dir, "cold_metrics.png"))), "cold-start metrics"))
        body.append(_paired_table(cold.get("paired"), CF_METRICS))
        for example in cold.get("examples", []):
            body.append(f"<h3>Top cold-start songs for user {html.escape(example['user'])} "
                        f"({example['n_heldout_cold_plays']} held-out plays)</h3>")
            top = example["top"]
            body.append(_table(["rank", "track", "score", "played (held out)", "tags"],
                               [(i + 1, t["track_id"], t["score"], "yes" if t["played"] else "",
                                 ", ".join(t["tags"])) for i, t in enumerate(top)],
                               row_class=["hit" if t["played"] else "" for t in top]))

    if variants:
        body.append("<h2>Feature settings side by side</h2>")
        rows = []
        for label, paths in variants.items():
            tm, cm = _load(paths.get("tag_metrics")), _load(paths.get("cold_metrics"))
            rows.append((label, _model_metric(tm, "cnn", "roc_auc_macro"),
                         _model_metric(tm, "cnn", "pr_auc_macro"), _model_metric(cm, "cnn", "auc"),
                         _model_metric(cm, "cnn", "map_at_500"),
                         (cm or {}).get("relative_auc", "-")))
        body.append(_table(["features", "tag ROC-AUC", "tag PR-AUC", "cold AUC",
                            "cold MAP@500", "relative AUC"], rows))

    # Every evaluation's warnings once more, first thing on the page: a figure
    # without a usable interval must not pass for a result.
    gathered = [f"{label}: {w}" for label, result in
                (("tags", metrics), ("collaborative filtering", cf), ("cold start", cold))
                for w in (result or {}).get("warnings") or []]
    if gathered:
        body.insert(2, _warnings_box(gathered, "Evaluation warnings"))

    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body>\n" + "\n".join(body) +
            "\n</body></html>\n")
    path = os.path.join(out_dir, "index.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
