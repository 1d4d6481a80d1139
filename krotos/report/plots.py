"""The report's figures, each written to a PNG file (matplotlib, no display)."""

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def training_curves(history, metric, title, path):
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


def per_tag_bars(per_tag, path):
    """ROC-AUC per tag, best first; tags without a positive clip are left out."""
    scored = sorted(((t, v["roc_auc"]) for t, v in per_tag.items() if v.get("roc_auc") is not None),
                    key=lambda kv: -kv[1])
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.22 * len(scored) + 1)))
    ax.barh([t for t, _ in scored][::-1], [v for _, v in scored][::-1], color="tab:blue")
    ax.axvline(0.5, color="0.5", linestyle="--", linewidth=1)
    ax.set(xlim=(0, 1), xlabel="test ROC-AUC", title="ROC-AUC per tag (dashed: chance)")
    return _save(fig, path)


def grouped_metrics(models, metrics, title, path):
    """Bars of each metric for each model (e.g. ALS vs popularity vs random)."""
    names = list(models)
    x = np.arange(len(metrics))
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i, name in enumerate(names):
        ax.bar(x + i * width, [models[name].get(m) or 0 for m in metrics], width, label=name)
    ax.set_xticks(x + width * (len(names) - 1) / 2, metrics)
    ax.set(title=title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def counts_bars(counts, title, path):
    """Horizontal bars of ``{reason: count}``."""
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    fig, ax = plt.subplots(figsize=(7, max(2, 0.35 * len(items) + 1)))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="tab:orange")
    ax.set(title=title, xlabel="tracks")
    return _save(fig, path)


def spectrograms(examples, path, frame_rate=None):
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
