"""The report's figures, each written to a PNG file (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def training_curves(history: list[dict], metric: str, title: str, path: str) -> str:
    """Loss and validation metric per epoch; frozen epochs shaded."""
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, [h["loss"] for h in history], marker="o")
    left.set(xlabel="epoch", ylabel="training loss", title=f"{title}: loss")
    right.plot(epochs, [h[metric] for h in history], marker="o", color="tab:green")
    right.set(xlabel="epoch", ylabel=metric, title=f"{title}: {metric}")
    for h in history:
        if h.get("frozen"):
            for ax in (left, right):
                ax.axvspan(h["epoch"] - 0.5, h["epoch"] + 0.5, color="0.9", zorder=0)
    return _save(fig, path)


def per_tag_bars(per_tag: dict, path: str) -> str:
    """ROC-AUC per tag, best first; tags without a positive clip are left out."""
    scored = sorted(((t, v["roc_auc"]) for t, v in per_tag.items() if v.get("roc_auc") is not None),
                    key=lambda kv: -kv[1])
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.22 * len(scored) + 1)))
    ax.barh([t for t, _ in scored][::-1], [v for _, v in scored][::-1], color="tab:blue")
    ax.axvline(0.5, color="0.5", linestyle="--", linewidth=1)
    ax.set(xlim=(0, 1), xlabel="test ROC-AUC", title="ROC-AUC per tag (dashed: chance)")
    return _save(fig, path)


def interval(entry: dict | float | None) -> tuple[float | None, float | None, float | None]:
    """``(value, ci_low, ci_high)`` of a metric entry; None for what is missing.

    An entry is ``{"value", "ci_low", "ci_high"}`` (``metrics.json`` with
    bootstrap intervals) or a bare number (older files, no interval).
    """
    if isinstance(entry, dict):
        return entry.get("value"), entry.get("ci_low"), entry.get("ci_high")
    if isinstance(entry, (int, float)) and not isinstance(entry, bool):
        return float(entry), None, None
    return None, None, None


def grouped_metrics(models: dict, metrics: Sequence[str], title: str, path: str,
                    ylim: tuple[float, float] | None = None) -> str:
    """Bars of each metric for each model, with their 95% intervals as error bars.

    Parameters
    ----------
    models : dict
        ``{model: {metric: {"value", "ci_low", "ci_high"} or number}}``.
    metrics : sequence of str
    title, path : str
    ylim : (float, float), optional

    Returns
    -------
    str
        ``path``.
    """
    names = list(models)
    x = np.arange(len(metrics))
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i, name in enumerate(names):
        values, below, above = [], [], []
        for m in metrics:
            value, low, high = interval(models[name].get(m))
            value = value if value is not None else 0.0
            values.append(value)
            # A missing interval draws no bar end rather than a false one of width 0.
            below.append(max(value - low, 0.0) if low is not None else np.nan)
            above.append(max(high - value, 0.0) if high is not None else np.nan)
        has_ci = not np.all(np.isnan(below))
        ax.bar(x + i * width, values, width, label=name,
               yerr=np.array([below, above]) if has_ci else None,
               capsize=3 if has_ci else 0, error_kw={"elinewidth": 1})
    ax.set_xticks(x + width * (len(names) - 1) / 2, metrics)
    ax.set(title=title)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8)
    return _save(fig, path)


def counts_bars(counts: dict[str, int], title: str, path: str) -> str:
    """Horizontal bars of ``{reason: count}``."""
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    fig, ax = plt.subplots(figsize=(7, max(2, 0.35 * len(items) + 1)))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="tab:orange")
    ax.set(title=title, xlabel="tracks")
    return _save(fig, path)


def spectrograms(examples: Sequence[tuple[str, np.ndarray]], path: str,
                 frame_rate: float | None = None) -> str:
    """A grid of (title, time x bands matrix) images."""
    n = len(examples)
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, matrix) in zip(axes.flat, examples):
        matrix = np.asarray(matrix, dtype=np.float32)
        extent = None
        if frame_rate:
            extent = (0, matrix.shape[0] / frame_rate, 0, matrix.shape[1])
        ax.imshow(matrix.T, origin="lower", aspect="auto", cmap="magma", extent=extent)
        ax.set_title(title, fontsize=8)
        ax.axis("on")
        ax.set_xlabel("seconds" if frame_rate else "frames", fontsize=7)
        ax.set_ylabel("band", fontsize=7)
        ax.tick_params(labelsize=6)
    return _save(fig, path)
