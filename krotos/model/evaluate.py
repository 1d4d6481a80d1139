"""Clip-level predictions and per-tag ROC-AUC / PR-AUC.

A clip's prediction is the mean of the model's outputs over its windows
(:func:`krotos.model.data.window_plan`). Tags are scored with scikit-learn's
``roc_auc_score`` and ``average_precision_score`` (PR-AUC); a tag with no
positive (or no negative) clip in the split has no defined score, so it is
reported with its status and left out of the macro averages rather than
turning them into NaN.

:func:`evaluate_tags` adds 95% bootstrap intervals over the test clips
(:func:`krotos.stats.tag_metric_intervals`) and, given a baseline, the paired
difference between the CNN and it on the same resamples.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import tensorflow as tf
from sklearn.metrics import average_precision_score, roc_auc_score

from krotos.model.data import (ShardReaderPool, TrackIndex, evaluation_dataset, index_tracks,
                               summarize_skips)
from krotos.model.network import model_input_shape
from krotos.model.params import TagEvaluationParams
from krotos.model.scores import roc_auc_macro  # noqa: F401 - the validation metric, re-exported
from krotos.cf.evaluate import undefined_metric_warnings
from krotos.msd.errors import EmptyResultError
from krotos.progress import Progress, no_progress
from krotos.stats import interval_warnings, tag_metric_intervals

log = logging.getLogger(__name__)

#: One compiled inference function per model, reused across calls (validation
#: runs every epoch; retracing each time would cost more than the prediction).
_FORWARD = weakref.WeakKeyDictionary()


def _forward(model):
    fn = _FORWARD.get(model)
    if fn is None:
        spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
        fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        _FORWARD[model] = fn
    return fn


def predict_clips(model: tf.keras.Model, index: TrackIndex, *, window_frames: int | None = None,
                  batch_size: int = 64, hop_frames: int | None = None, max_windows: int | None = None,
                  parallel_reads: int = 2, pool: ShardReaderPool | None = None,
                  progress: Progress = no_progress) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the model's window predictions for every track of ``index``.

    Parameters
    ----------
    model : keras.Model
    index : krotos.model.data.TrackIndex
    window_frames : int, optional
        Default: the model's input length.
    batch_size : int
    hop_frames, max_windows : int, optional
        See :func:`krotos.model.data.window_plan`.
    parallel_reads : int
    pool : krotos.model.data.ShardReaderPool, optional
        Reuse open readers and cached tracks (repeated validation); it is left open.
    progress : callable(fraction, message)

    Returns
    -------
    scores : np.ndarray float32 (n_tracks, n_outputs)
        NaN rows for tracks without a single finite window.
    ok : np.ndarray bool (n_tracks,)
        Tracks that got a prediction.
    """
    model_frames, model_mels = model_input_shape(model)
    if model_mels != index.n_mels:
        raise ValueError(f"the model expects {model_mels} mel bands, the spectrograms "
                         f"have {index.n_mels} ({index.shard_paths[0]})")
    window_frames = int(window_frames or model_frames)
    n_out = int(model.outputs[0].shape[-1])
    sums = np.zeros((len(index), n_out), dtype=np.float64)
    counts = np.zeros(len(index), dtype=np.int64)
    own_pool = pool is None
    pool = pool or ShardReaderPool(index)
    ds = evaluation_dataset(index, window_frames, batch_size, hop_frames=hop_frames,
                            max_windows=max_windows, parallel_reads=parallel_reads, pool=pool)
    forward = _forward(model)
    n_batches = int(ds.cardinality())
    try:
        for b, (x, ok, rows) in enumerate(ds):
            pred = forward(x).numpy()
            ok = ok.numpy() > 0
            rows = rows.numpy()
            np.add.at(sums, rows[ok], pred[ok])
            np.add.at(counts, rows[ok], 1)
            if b % 20 == 0:
                progress(b / max(n_batches, 1), f"predicting: batch {b}/{n_batches}")
    finally:
        if own_pool:
            pool.close()
    got = counts > 0
    scores = np.full(sums.shape, np.nan, dtype=np.float32)
    scores[got] = (sums[got] / counts[got, None]).astype(np.float32)
    for row in np.flatnonzero(~got):
        log.warning("%s: no finite window, no prediction", index.track_ids[row])
    return scores, got


def tag_metrics(y_true: npt.ArrayLike, y_score: npt.ArrayLike, vocabulary: Sequence[str]) -> dict:
    """Per-tag and macro ROC-AUC / PR-AUC.

    Parameters
    ----------
    y_true : array-like (n_clips, n_tags) of 0/1
    y_score : array-like (n_clips, n_tags)
    vocabulary : sequence of str

    Returns
    -------
    dict
        ``roc_auc_macro``, ``pr_auc_macro`` (over the tags that have both
        positive and negative clips; None if there is none), ``n_clips``,
        ``n_tags_scored``, ``tags_not_scored`` (``{tag: reason}``), and
        ``per_tag``: ``{tag: {"roc_auc", "pr_auc", "positives", "status"}}``
        where ``status`` is ``"ok"``, ``"no_positive"`` or ``"no_negative"``
        (then the scores are None).
    """
    y_true = np.asarray(y_true) > 0.5
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape or y_true.shape[1] != len(vocabulary):
        raise ValueError(f"shapes disagree: labels {y_true.shape}, scores {y_score.shape}, "
                         f"{len(vocabulary)} tags")
    if y_true.shape[0] == 0:
        raise ValueError("no clip to evaluate")
    per_tag, roc, pr, not_scored = {}, [], [], {}
    for j, tag in enumerate(vocabulary):
        positives = int(y_true[:, j].sum())
        entry = {"roc_auc": None, "pr_auc": None, "positives": positives}
        if positives == 0:
            entry["status"] = "no_positive"
        elif positives == y_true.shape[0]:
            entry["status"] = "no_negative"
        else:
            entry["status"] = "ok"
            entry["roc_auc"] = float(roc_auc_score(y_true[:, j], y_score[:, j]))
            entry["pr_auc"] = float(average_precision_score(y_true[:, j], y_score[:, j]))
            roc.append(entry["roc_auc"])
            pr.append(entry["pr_auc"])
        if entry["status"] != "ok":
            not_scored[tag] = entry["status"]
        per_tag[tag] = entry
    return {
        "roc_auc_macro": float(np.mean(roc)) if roc else None,
        "pr_auc_macro": float(np.mean(pr)) if pr else None,
        "n_clips": int(y_true.shape[0]),
        "n_tags": len(vocabulary),
        "n_tags_scored": len(roc),
        "tags_not_scored": not_scored,
        "per_tag": per_tag,
    }


def evaluate_tags(model_path: str, shard_paths: Sequence[str], splits: dict, targets: dict,
                  vocabulary: Sequence[str], *, baseline_scores: Callable | None = None,
                  other_scores: dict | None = None, params: TagEvaluationParams | None = None,
                  progress: Progress = no_progress) -> dict:
    """Score a saved tag model on the test split, with bootstrap intervals over clips.

    Parameters
    ----------
    model_path : str
        A ``.keras`` file written by :func:`krotos.model.train.train_tag_model`.
    shard_paths : sequence of str
    splits : dict
        ``{"train": [...], "valid": [...], "test": [...]}`` track ids; only
        ``splits["test"]`` is scored (the others are there for a baseline
        that needs them).
    targets : dict
        ``track_id -> 0/1 tag vector`` in ``vocabulary`` order.
    vocabulary : sequence of str
    baseline_scores : callable, optional
        ``(test_track_ids) -> (n, n_tags)`` scores of a baseline on the test
        clips the CNN scored (e.g. the bag-of-frames logistic regression of
        :func:`krotos.model.tag_baseline.tag_baseline_scores`, fitted on
        ``splits["train"]`` and ``splits["valid"]``). A clip it leaves
        without a finite score is dropped for both models, so that they are
        compared on the same clips.
    other_scores : dict, optional
        ``{name: callable}`` of more models scored the same way (e.g.
        ``"linear_probe"``, :func:`krotos.model.embed.linear_probe_scores`).
        Every model is compared on the clips that all of them scored; the CNN
        is paired with each, and a ``linear_probe`` with the bag of frames.
    params : krotos.model.params.TagEvaluationParams, optional
        ``n_resamples`` and ``seed`` of the bootstrap over test clips;
        ``max_interval_width`` (wider intervals are listed under ``warnings``);
        ``batch_size``, ``hop_frames`` and ``max_windows`` (0: all) of
        :func:`predict_clips`. Default: luigi.cfg's ``[EvaluateTags]``.
    progress : callable(fraction, message)

    Returns
    -------
    dict
        ``models``: ``{"cnn" [, "bag_of_frames", other models]: {"roc_auc_macro" |
        "pr_auc_macro": {"value", "ci_low", "ci_high"}}}``; ``paired``:
        ``{"cnn_minus_bag_of_frames": {...}, "cnn_minus_<other>": {...},
        "linear_probe_minus_bag_of_frames": {...}}`` (empty without another model);
        ``bootstrap`` (unit ``"clip"``); ``warnings``; and from
        :func:`tag_metrics` of the CNN ``per_tag``, ``n_clips``, ``n_tags``,
        ``n_tags_scored`` and ``tags_not_scored``; plus ``n_test_tracks``
        (asked for), ``n_test_clips_scored`` and ``skipped``
        (:func:`krotos.model.data.summarize_skips`).

    Raises
    ------
    krotos.msd.errors.EmptyResultError
        No vocabulary tag has both positive and negative test clips.
    """
    from krotos.model.network import load_model

    params = params or TagEvaluationParams()
    n_resamples = params.n_resamples
    test_track_ids = list((splits or {}).get("test") or [])
    if not test_track_ids:
        raise ValueError("the test split is empty: nothing to evaluate")
    model = load_model(model_path)
    _, n_mels = model_input_shape(model)
    index = index_tracks(shard_paths, test_track_ids, n_mels=n_mels)
    index = index.subset([t for t in index.track_ids if t in targets], "no tag vector")
    if len(index) == 0:
        raise ValueError(f"none of the {len(test_track_ids)} test tracks has a spectrogram")
    scores, ok = predict_clips(model, index, batch_size=params.batch_size,
                               hop_frames=params.hop_frames, max_windows=params.max_windows or None,
                               progress=lambda f, m=None: progress(0.8 * f, m))
    skipped = dict(index.skipped)
    skipped.update({t: "NaN or inf in every window" for t, g in zip(index.track_ids, ok) if not g})
    scored_ids = [t for t, g in zip(index.track_ids, ok) if g]
    y_true = index.target_matrix(targets)[ok]
    scores = scores[ok]
    others = dict({"bag_of_frames": baseline_scores} if baseline_scores is not None else {},
                  **(other_scores or {}))
    scores_by_model = {"cnn": scores}
    keep = np.ones(len(scored_ids), dtype=bool)
    for name, score_fn in others.items():
        progress(0.8, f"{name.replace('_', ' ')} scores")
        other = np.asarray(score_fn(scored_ids), dtype=np.float64)
        if other.shape != scores.shape:
            raise ValueError(f"the {name} model returned scores of shape {other.shape}, "
                             f"expected {scores.shape}")
        has = np.all(np.isfinite(other), axis=1)
        what = "bag-of-frames baseline" if name == "bag_of_frames" else name.replace("_", " ")
        skipped.update({t: f"no {what} score" for t, g, k in zip(scored_ids, has, keep)
                        if k and not g})
        keep &= has
        scores_by_model[name] = other
    if others:
        if not keep.any():
            raise ValueError(f"the {' and '.join(others)} scores cover none of the test clips")
        scores_by_model = {name: m[keep] for name, m in scores_by_model.items()}
        y_true, scores = y_true[keep], scores[keep]
    metrics = tag_metrics(y_true, scores, vocabulary)
    if metrics["n_tags_scored"] == 0:
        statuses = list(metrics["tags_not_scored"].values())
        raise EmptyResultError(
            f"no scorable tag on the {len(y_true):,} test clips ({shard_paths[0]}, ...): none of "
            f"the {len(vocabulary)} vocabulary tags has both positive and negative clips "
            f"({statuses.count('no_positive')} without a positive, "
            f"{statuses.count('no_negative')} without a negative)")
    progress(0.9, f"bootstrap: {n_resamples} resamples of the test clips")
    pairs = [("cnn", name) for name in scores_by_model if name != "cnn"]
    if {"linear_probe", "bag_of_frames"} <= set(scores_by_model):
        pairs.append(("linear_probe", "bag_of_frames"))
    intervals = tag_metric_intervals(y_true, scores_by_model, n_resamples=n_resamples,
                                     seed=params.seed, pairs=pairs)
    del metrics["roc_auc_macro"], metrics["pr_auc_macro"]  # under models.cnn, with intervals
    metrics.update(models=intervals["models"], paired=intervals["paired"],
                   bootstrap=intervals["bootstrap"],
                   warnings=(interval_warnings(intervals, params.max_interval_width)
                             + undefined_metric_warnings(intervals)))
    metrics["n_test_tracks"] = len(test_track_ids)
    metrics["n_test_clips_scored"] = int(len(y_true))
    metrics["skipped"] = summarize_skips(skipped)
    cnn = intervals["models"]["cnn"]["roc_auc_macro"]
    progress(1.0, f"ROC-AUC {cnn['value']} [{cnn['ci_low']}, {cnn['ci_high']}]")
    return metrics
