"""A fair comparison of tag models: a grid of architectures and settings under several seeds.

Every model of the grid is trained by the pipeline's own ``TrainTagModel``
(one task per grid point and seed, so runs are resumable and shared with the
main job) on the same song split as the bag-of-frames baseline, and scored
here on the same test clips: macro ROC-AUC and PR-AUC with 95% bootstrap
intervals over clips, the paired difference to the bag of frames (fitted on
exactly the training tracks the model used, read from its ``tracks.json``),
training seconds per epoch and parameter count.

The model to use by default is the one with the best mean **validation**
ROC-AUC over seeds (``training.json``'s best validation epoch): the test
figures are reported, never used to choose. Learning curves (models trained
on a seeded subset of the training tracks, ``max_train_tracks``) show
whether, and below how many clips, the bag of frames wins.
"""

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence

import numpy as np

from krotos.model.params import TagEvaluationParams
from krotos.progress import Progress, no_progress

log = logging.getLogger(__name__)

METRICS = ("roc_auc_macro", "pr_auc_macro")


def _ids_key(ids):
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


class BaselineCache:
    """Bag-of-frames scores of the test clips, per replicate and training set, fitted once.

    Every grid point of a replicate trained on the same tracks shares one fit.
    """

    def __init__(self, shard_paths, targets_by_replicate):
        self.shard_paths = shard_paths
        self.targets = targets_by_replicate
        self._fits = {}

    def scorer(self, replicate: int, splits: dict) -> Callable[[Sequence[str]], np.ndarray]:
        """``test_ids -> scores`` for the tag evaluation (NaN rows for clips it lacks)."""
        key = (replicate, _ids_key(splits["train"]), _ids_key(splits["valid"]))

        def scores(test_ids):
            from krotos.model.tag_baseline import tag_baseline_scores

            fit = self._fits.get(key)
            if fit is None or fit[0] != list(test_ids):
                ids, values, info = tag_baseline_scores(
                    self.shard_paths, dict(splits, test=list(test_ids)), self.targets[replicate])
                fit = self._fits[key] = (list(test_ids), ids, values, info)
            _, ids, values, _ = fit
            out = np.full((len(test_ids), values.shape[1]), np.nan)
            row = {t: i for i, t in enumerate(ids)}
            for i, t in enumerate(test_ids):
                if t in row:
                    out[i] = values[row[t]]
            return out

        return scores


def evaluate_run(model_dir: str, shard_paths: Sequence[str], splits: dict, targets: dict,
                 vocabulary: Sequence[str], baselines: BaselineCache, replicate: int, *,
                 params: TagEvaluationParams | None = None) -> dict:
    """One grid point of one replicate: test figures with intervals, and what training cost.

    Parameters
    ----------
    model_dir : str
        A ``TrainTagModel`` output (``model.keras``, ``training.json``, ``tracks.json``).
    shard_paths : sequence of str
    splits : dict
        The replicate's ``train``/``valid``/``test`` track ids.
    targets : dict
    vocabulary : sequence of str
    baselines : BaselineCache
    replicate : int
    params : krotos.model.params.TagEvaluationParams, optional
        See :func:`krotos.model.evaluate.evaluate_tags`.

    Returns
    -------
    dict
        ``n_train``, ``valid_roc_auc``, ``best_epoch``, ``epochs``,
        ``seconds_per_epoch``, ``n_params``, ``receptive_field_frames``,
        ``architecture``, ``models`` (``cnn`` and ``bag_of_frames`` intervals),
        ``paired`` (``cnn_minus_bag_of_frames``), ``n_test_clips``.
    """
    from krotos.model.evaluate import evaluate_tags
    from krotos.splits import read_track_sets

    with open(os.path.join(model_dir, "training.json"), encoding="utf-8") as f:
        training = json.load(f)
    used = read_track_sets(os.path.join(model_dir, "tracks.json"))
    # The baseline learns from exactly the clips the network learned from.
    fit_splits = dict(splits, train=sorted(used["train"]), valid=sorted(used["valid"]))
    metrics = evaluate_tags(os.path.join(model_dir, "model.keras"), shard_paths, fit_splits,
                            targets, vocabulary,
                            baseline_scores=baselines.scorer(replicate, fit_splits),
                            params=params)
    history = training.get("history") or []
    seconds = [h["seconds"] for h in history]
    config = training.get("config", {})
    return {
        "model_dir": model_dir, "n_train": training.get("n_train"),
        "valid_roc_auc": training.get("best_metric"), "best_epoch": training.get("best_epoch"),
        "epochs": len(history),
        "seconds_per_epoch": float(np.mean(seconds)) if seconds else None,
        "n_params": training.get("n_params"),
        "receptive_field_frames": training.get("receptive_field_frames"),
        "architecture": config.get("architecture", "dieleman"),
        "models": metrics["models"], "paired": metrics["paired"],
        "n_test_clips": metrics["n_test_clips_scored"],
    }


def _mean_sd(values):
    values = [float(v) for v in values if v is not None]
    if not values:
        return None
    return {"mean": float(np.mean(values)),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, "n": len(values)}


def summarize(runs: list[dict]) -> dict:
    """Group runs by (config, train_size) and choose the default on validation.

    Parameters
    ----------
    runs : list of dict
        :func:`evaluate_run` records with ``config``, ``replicate`` and
        ``train_size`` (0: every training track) added.

    Returns
    -------
    dict
        ``groups``: one entry per (config, train_size) with means ± sd over
        replicates of the validation and test figures, the paired difference,
        and ``seeds_above_zero`` / ``seeds_below_zero`` (replicates whose
        paired 95% interval of CNN − bag of frames ROC-AUC lies above / below
        0); ``chosen``: the config with the best mean validation ROC-AUC on
        the full training set (ties: the earlier one in the grid).
    """
    order, groups = [], {}
    for run in runs:
        key = (run["config"], int(run["train_size"]))
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(run)
    out = []
    for config, size in order:
        members = groups[config, size]
        entry = {"config": config, "train_size": size, "n_seeds": len(members),
                 "replicates": [r["replicate"] for r in members],
                 "architecture": members[0]["architecture"],
                 "n_params": members[0]["n_params"],
                 "n_train": _mean_sd(r["n_train"] for r in members),
                 "seconds_per_epoch": _mean_sd(r["seconds_per_epoch"] for r in members),
                 "epochs": _mean_sd(r["epochs"] for r in members),
                 "valid_roc_auc": _mean_sd(r["valid_roc_auc"] for r in members)}
        for model in ("cnn", "bag_of_frames"):
            for metric in METRICS:
                entry[f"{model}_{metric}"] = _mean_sd(r["models"][model][metric]["value"]
                                                      for r in members)
        for metric in METRICS:
            paired = [r["paired"]["cnn_minus_bag_of_frames"][metric] for r in members]
            entry[f"paired_{metric}"] = _mean_sd(p["value"] for p in paired)
            entry[f"seeds_above_zero_{metric}"] = sum(p["ci_low"] is not None and p["ci_low"] > 0
                                                      for p in paired)
            entry[f"seeds_below_zero_{metric}"] = sum(p["ci_high"] is not None and p["ci_high"] < 0
                                                      for p in paired)
        out.append(entry)
    full = [g for g in out if g["train_size"] == 0 and g["valid_roc_auc"]]
    chosen = max(full, key=lambda g: g["valid_roc_auc"]["mean"])["config"] if full else None
    return {"groups": out, "chosen": chosen}


def _ms(entry, digits=3, signed=False):
    if entry is None:
        return "–"
    fmt = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    return f"{fmt.format(entry['mean'])} ± {entry['sd']:.{digits}f}"


def _ci(interval, signed=False):
    if not interval or interval.get("value") is None:
        return "–"
    f = "{:+.3f}" if signed else "{:.3f}"
    lo = "?" if interval["ci_low"] is None else f.format(interval["ci_low"])
    hi = "?" if interval["ci_high"] is None else f.format(interval["ci_high"])
    return f"{f.format(interval['value'])} [{lo}, {hi}]"


def _clips(size, n_train):
    if size:
        return str(size)
    return f"all ({n_train['mean']:.0f})" if n_train else "all"


def markdown(result: dict) -> str:
    """The comparison as Markdown tables (summary, per seed, learning curve)."""
    groups = result["summary"]["groups"]
    chosen = result["summary"]["chosen"]
    full = [g for g in groups if g["train_size"] == 0]
    n_seeds = max((g["n_seeds"] for g in groups), default=0)
    lines = [
        f"Tag models on the artist-disjoint test songs, {n_seeds} seeds (replicates) each: "
        f"mean ± sd over seeds; *above 0*: seeds whose paired 95% bootstrap interval "
        f"(over clips) of CNN − bag of frames ROC-AUC lies above zero. Chosen on the "
        f"**validation** ROC-AUC: **{chosen}**.",
        "",
        "| model | architecture | parameters | s / epoch | valid ROC-AUC | test ROC-AUC "
        "| test PR-AUC | CNN − bag of frames (ROC-AUC) | above 0 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for g in full:
        name = f"**{g['config']}**" if g["config"] == chosen else g["config"]
        spe = "–" if g["seconds_per_epoch"] is None else f"{g['seconds_per_epoch']['mean']:.1f}"
        lines.append(
            f"| {name} | {g['architecture']} | {g['n_params']:,} | "
            f"{spe} | {_ms(g['valid_roc_auc'])} | "
            f"{_ms(g['cnn_roc_auc_macro'])} | {_ms(g['cnn_pr_auc_macro'])} | "
            f"{_ms(g['paired_roc_auc_macro'], signed=True)} | "
            f"{g['seeds_above_zero_roc_auc_macro']}/{g['n_seeds']} |")
    if full:
        g = full[0]
        lines.append(f"| bag of frames | logistic regression | – | – | – | "
                     f"{_ms(g['bag_of_frames_roc_auc_macro'])} | "
                     f"{_ms(g['bag_of_frames_pr_auc_macro'])} | – | – |")
    lines += ["", "Per seed, with 95% bootstrap intervals over the test clips:", "",
              "| model | seed | test clips | ROC-AUC | PR-AUC | bag of frames ROC-AUC "
              "| CNN − bag of frames ROC-AUC |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in result["runs"]:
        if run["train_size"]:
            continue
        lines.append(
            f"| {run['config']} | {run['replicate']} | {run['n_test_clips']} | "
            f"{_ci(run['models']['cnn']['roc_auc_macro'])} | "
            f"{_ci(run['models']['cnn']['pr_auc_macro'])} | "
            f"{_ci(run['models']['bag_of_frames']['roc_auc_macro'])} | "
            f"{_ci(run['paired']['cnn_minus_bag_of_frames']['roc_auc_macro'], signed=True)} |")
    curve = [g for g in groups if g["config"] == result.get("curve_config")]
    if len(curve) > 1:
        curve.sort(key=lambda g: g["train_size"] or float("inf"))
        lines += ["", f"Learning curve of **{result['curve_config']}**: trained on a seeded "
                      f"subset of the training songs (the bag of frames on the same subset):", "",
                  "| training clips | bag of frames ROC-AUC | CNN ROC-AUC "
                  "| CNN − bag of frames | above 0 | below 0 |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for g in curve:
            lines.append(
                f"| {_clips(g['train_size'], g['n_train'])} | "
                f"{_ms(g['bag_of_frames_roc_auc_macro'])} | {_ms(g['cnn_roc_auc_macro'])} | "
                f"{_ms(g['paired_roc_auc_macro'], signed=True)} | "
                f"{g['seeds_above_zero_roc_auc_macro']}/{g['n_seeds']} | "
                f"{g['seeds_below_zero_roc_auc_macro']}/{g['n_seeds']} |")
    return "\n".join(lines)


def _errorbar(ax, interval, y, color, label=None):
    v = interval["value"]
    if v is None:
        return
    lo = v - (interval["ci_low"] if interval["ci_low"] is not None else v)
    hi = (interval["ci_high"] if interval["ci_high"] is not None else v) - v
    ax.errorbar(v, y, xerr=[[lo], [hi]], fmt="o", color=color, markersize=4, capsize=2,
                label=label)


def plot(result: dict, path: str | os.PathLike) -> None:
    """Per model and seed: CNN − bag of frames and test ROC-AUC with intervals; the learning curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in result["runs"] if not r["train_size"]]
    configs = list(dict.fromkeys(r["config"] for r in runs))
    curve = [r for r in result["runs"] if r["config"] == result.get("curve_config")]
    sizes = sorted({r["train_size"] for r in curve})
    panels = 3 if len(sizes) > 1 else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels + 2.4, 0.55 * len(configs) + 2.2),
                             gridspec_kw={"width_ratios": [1, 1, 1.1][:panels]})
    diff_ax, auc_ax = axes[0], axes[1]
    for y, config in enumerate(configs):
        members = [r for r in runs if r["config"] == config]
        for k, r in enumerate(members):
            off = (k - (len(members) - 1) / 2) * 0.18
            _errorbar(diff_ax, r["paired"]["cnn_minus_bag_of_frames"]["roc_auc_macro"],
                      y + off, "tab:blue")
            _errorbar(auc_ax, r["models"]["cnn"]["roc_auc_macro"], y + off - 0.04, "tab:blue")
            _errorbar(auc_ax, r["models"]["bag_of_frames"]["roc_auc_macro"], y + off + 0.04,
                      "tab:gray")
    for ax in (diff_ax, auc_ax):
        ax.set_yticks(range(len(configs)))
        ax.set_ylim(len(configs) - 0.5, -0.5)
    diff_ax.set_yticklabels(configs)
    auc_ax.set_yticklabels([])
    diff_ax.axvline(0, color="0.4", linewidth=1, linestyle="--")
    diff_ax.set(xlabel="CNN − bag of frames, test ROC-AUC", title="paired difference, each seed")
    auc_ax.set(xlabel="test macro ROC-AUC (95% intervals over clips)",
               title="CNN (blue), bag of frames (gray)")
    if panels == 3:
        ax = axes[2]
        x = [s if s else max(r["n_train"] for r in curve) for s in sizes]
        for model, color, label in (("cnn", "tab:blue", result["curve_config"]),
                                    ("bag_of_frames", "tab:gray", "bag of frames")):
            means = []
            for s, xs in zip(sizes, x):
                pts = [r["models"][model]["roc_auc_macro"]["value"] for r in curve
                       if r["train_size"] == s]
                ax.scatter([xs] * len(pts), pts, color=color, s=10, alpha=0.5)
                means.append(np.mean(pts))
            ax.plot(x, means, marker="o", color=color, label=label)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(x)
        ax.set_xticklabels([str(v) for v in x])
        ax.set(xlabel="training clips", ylabel="test macro ROC-AUC",
               title="learning curve (dots: seeds)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def compare_tag_models(runs_to_score: list[dict], shard_paths: Sequence[str], vocabulary: Sequence[str],
                       *, curve_config: str | None = None, params: TagEvaluationParams | None = None,
                       progress: Progress = no_progress) -> dict:
    """Score every trained grid point and replicate, and summarize.

    Parameters
    ----------
    runs_to_score : list of dict
        ``config`` (name), ``replicate``, ``train_size`` (0: all), ``model_dir``
        (a ``TrainTagModel`` output), ``splits`` and ``targets`` of the replicate.
    shard_paths : sequence of str
    vocabulary : sequence of str
    curve_config : str, optional
        The config whose runs at several ``train_size`` make the learning curve.
    params : krotos.model.params.TagEvaluationParams, optional
        How each run is scored (:func:`krotos.model.evaluate.evaluate_tags`);
        replicate ``r`` bootstraps with ``seed + r``.
    progress : callable(fraction, message)

    Returns
    -------
    dict
        ``runs`` (:func:`evaluate_run` records with ``config``, ``replicate``,
        ``train_size``), ``summary`` (:func:`summarize`), ``curve_config``.
    """
    params = params or TagEvaluationParams()
    baselines = BaselineCache(shard_paths, {r["replicate"]: r["targets"] for r in runs_to_score})
    runs = []
    for k, spec in enumerate(runs_to_score):
        progress(k / max(len(runs_to_score), 1),
                 f"scoring {spec['config']} (replicate {spec['replicate']}, "
                 f"{spec['train_size'] or 'all'} training clips)")
        record = evaluate_run(spec["model_dir"], shard_paths, spec["splits"], spec["targets"],
                              vocabulary, baselines, spec["replicate"],
                              params=dataclasses.replace(params,
                                                         seed=params.seed + spec["replicate"]))
        record.update(config=spec["config"], replicate=spec["replicate"],
                      train_size=int(spec["train_size"]))
        runs.append(record)
    return {"runs": runs, "summary": summarize(runs), "curve_config": curve_config}
