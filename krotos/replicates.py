"""Replicates: the headline figures as means over several seeds.

One replicate is the whole model side of the DAG (song split, held-out
plays, factorization, tag model, fine-tuning, evaluations) under seeds
shifted by its number. A replicate's metrics carry their own bootstrap
intervals (the sampling noise of its test songs and users); the spread over
replicates adds the noise of the split and of training, which no single run
shows and which is the honest figure across machines.

A replicate whose run failed stays in the table, marked failed with the
reason, and is counted: means say over how many replicates they are.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence

import numpy as np

#: (label, evaluation, path in its metrics.json) of every figure in the table.
FIGURES = (
    ("tags: CNN ROC-AUC", "tags", ("models", "cnn", "roc_auc_macro")),
    ("tags: bag-of-frames ROC-AUC", "tags", ("models", "bag_of_frames", "roc_auc_macro")),
    ("tags: CNN - bag of frames, ROC-AUC", "tags",
     ("paired", "cnn_minus_bag_of_frames", "roc_auc_macro")),
    ("tags: ceiling (true audible attributes), ROC-AUC", "ceiling",
     ("models", "audible_attributes", "roc_auc_macro")),
    ("CF: ALS MAP@500", "cf", ("models", "als", "map_at_500")),
    ("CF: popularity MAP@500", "cf", ("models", "popularity", "map_at_500")),
    ("CF: ALS - popularity, MAP@500", "cf", ("paired", "als_minus_popularity", "map_at_500")),
    ("cold start: CNN AUC", "cold", ("models", "cnn", "auc")),
    ("cold start: linear AUC", "cold", ("models", "linear", "auc")),
    ("cold start: random AUC", "cold", ("models", "random", "auc")),
    ("cold start: upper bound AUC", "cold", ("models", "upper_bound", "auc")),
    ("cold start: CNN - linear, AUC", "cold", ("paired", "cnn_minus_linear", "auc")),
    ("cold start: CNN MAP@500", "cold", ("models", "cnn", "map_at_500")),
    ("cold start: linear MAP@500", "cold", ("models", "linear", "map_at_500")),
    ("cold start: upper bound MAP@500", "cold", ("models", "upper_bound", "map_at_500")),
    ("cold start: CNN - linear, MAP@500", "cold", ("paired", "cnn_minus_linear", "map_at_500")),
)

EVALUATIONS = ("tags", "cf", "cold")

#: Evaluations only some datasets have (the demo's tag ceiling): their figures
#: appear when their files exist, and a replicate without them is not failed.
OPTIONAL_EVALUATIONS = ("ceiling",)


def machine_description() -> str:
    """One line naming the machine: OS, architecture, CPUs, memory, accelerators."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
        memory = f", {memory:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        memory = ""
    gpus = "no GPU"
    try:
        import tensorflow as tf

        found = tf.config.list_physical_devices("GPU")
        if found:
            gpus = f"{len(found)} GPU(s)"
    except ImportError:
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores{memory}, "
            f"{gpus}, Python {platform.python_version()}")


def _dig(data, path):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def collect_replicates(runs: Sequence[dict]) -> dict:
    """The table of every replicate's figures, with mean and standard deviation.

    Parameters
    ----------
    runs : sequence of dict
        One per replicate, in order: ``{"replicate": r, "files": {"tags":
        path, "cf": path, "cold": path[, "ceiling": path]}}`` (the ceiling:
        the demo's :mod:`krotos.demo.ceiling`) and, for a run that failed,
        ``"failure"`` (a message). A missing metrics file makes the
        replicate failed too ("not run or failed").

    Returns
    -------
    dict
        ``replicates``: per replicate ``status`` (``ok`` or ``failed``),
        ``reason``, and ``figures`` (``{label: {value, ci_low, ci_high}}``);
        ``summary``: per label ``mean``, ``sd`` (ddof 1), ``n`` (replicates
        with the figure), ``n_failed``; ``figures``: the labels in order.
    """
    replicates = []
    for run in runs:
        metrics, missing = {}, []
        for name in EVALUATIONS + OPTIONAL_EVALUATIONS:
            path = run["files"].get(name)
            if path and os.path.isfile(path):
                with open(path) as f:
                    metrics[name] = json.load(f)
            elif name in EVALUATIONS:
                missing.append(name)
        entry = dict(replicate=int(run["replicate"]), status="ok", reason=None, figures={},
                     warnings=[w for m in metrics.values() for w in m.get("warnings", [])])
        if missing or run.get("failure"):
            entry["status"] = "failed"
            entry["reason"] = run.get("failure") or (
                f"no {', '.join(missing)} metrics: the run failed or has not finished")
        for label, evaluation, path in FIGURES:
            value = _dig(metrics.get(evaluation, {}), path)
            if isinstance(value, dict) and "value" in value:
                entry["figures"][label] = {k: value.get(k) for k in ("value", "ci_low", "ci_high")}
        if entry["status"] == "ok":
            entry["n_cold_songs"] = metrics["cold"].get("n_cold_songs_evaluated")
            entry["n_users"] = metrics["cold"].get("n_users")
        replicates.append(entry)
    summary = {}
    ok = [r for r in replicates if r["status"] == "ok"]
    for label, _, _ in FIGURES:
        values = np.array([r["figures"][label]["value"] for r in ok if label in r["figures"]],
                          dtype=float)
        summary[label] = dict(
            mean=float(values.mean()) if len(values) else None,
            sd=float(values.std(ddof=1)) if len(values) > 1 else None,
            n=int(len(values)), n_failed=int(len(replicates) - len(ok)))
    # A figure of an optional evaluation that no replicate has is left out.
    figures = [label for label, evaluation, _ in FIGURES
               if evaluation not in OPTIONAL_EVALUATIONS or summary[label]["n"]]
    return dict(replicates=replicates, summary=summary, figures=figures)


def _fmt(x, digits=3):
    return "–" if x is None else f"{x:.{digits}f}"


def markdown_table(result: dict) -> str:
    """The replicate table as Markdown: one row per figure, one column per seed, mean ± sd."""
    reps = result["replicates"]
    header = ["figure"] + [f"seed {r['replicate']}" for r in reps] + ["mean ± sd"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label in result["figures"]:
        cells = [label]
        for r in reps:
            fig = r["figures"].get(label)
            if r["status"] != "ok":
                cells.append("failed")
            elif fig is None:
                cells.append("–")
            else:
                cells.append(f"{_fmt(fig['value'])} [{_fmt(fig['ci_low'])}, {_fmt(fig['ci_high'])}]")
        s = result["summary"][label]
        sd = "" if s["sd"] is None else f" ± {_fmt(s['sd'])}"
        cells.append(f"**{_fmt(s['mean'])}**{sd} (n={s['n']})")
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- seed {r['replicate']} failed: {r['reason']}" for r in reps if r["status"] != "ok"]
    return "\n".join(lines + ([""] + notes if notes else []))


def plot_replicates(result: dict, path: str | os.PathLike) -> None:
    """One panel per figure: each seed's value with its 95% interval, and the mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = result["figures"]
    cols = 3
    rows = -(-len(labels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    for ax, label in zip(axes.ravel(), labels):
        xs, ys, lo, hi = [], [], [], []
        for r in result["replicates"]:
            f = r["figures"].get(label)
            if r["status"] == "ok" and f and f["value"] is not None:
                xs.append(r["replicate"])
                ys.append(f["value"])
                lo.append(f["value"] - (f["ci_low"] if f["ci_low"] is not None else f["value"]))
                hi.append((f["ci_high"] if f["ci_high"] is not None else f["value"]) - f["value"])
        if xs:
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3)
            mean = result["summary"][label]["mean"]
            ax.axhline(mean, color="grey", linestyle="--", linewidth=1)
        for r in result["replicates"]:
            if r["status"] != "ok":
                ax.axvline(r["replicate"], color="red", alpha=0.3)
        if " - " in label:  # a paired difference: 0 is the line that matters
            ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks([r["replicate"] for r in result["replicates"]])
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("seed")
    for ax in axes.ravel()[len(labels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_replicate_table(runs: list[dict], files: dict[str, str]) -> dict:
    """Collect the replicates' figures and write their table, as the ``Replicates`` task does.

    Parameters
    ----------
    runs : list of dict
        One per replicate, as :func:`collect_replicates` takes them.
    files : dict
        Paths to write: ``json`` (the result, with the machine), ``md`` (the
        markdown table) and ``png`` (the plot).

    Returns
    -------
    dict
        The result written to ``files["json"]``.
    """
    result = collect_replicates(runs)
    result["machine"] = machine_description()
    with open(files["json"], "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(files["md"], "w", encoding="utf-8") as f:
        f.write(markdown_table(result) + "\n")
    plot_replicates(result, files["png"])
    return result
