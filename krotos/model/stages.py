"""The model stages as one call each: what a pipeline task's ``run()`` hands its inputs to.

Each function takes the paths of its inputs (the shard store's manifest,
the tag database, the song split already read) and the stage's parameter
objects, does everything between reading them and writing the stage's
files into the folder it is given, and returns what the task reports. The
tasks in ``pipeline/tags_model.py`` and ``pipeline/latents.py`` are wiring
only; these functions run without a scheduler.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

import numpy as np

from krotos.model.params import FinetuneParams, TagEvaluationParams, TagModelParams, TrainingParams
from krotos.progress import Progress, no_progress
from krotos.splits import SongSplit, check_no_test_tracks

log = logging.getLogger(__name__)

#: The three splits, in the order their tracks are read.
SPLITS = ("train", "valid", "test")


def read_store(manifest_path: str) -> tuple[dict, list[str]]:
    """The shard store's manifest and the paths of its shards.

    Parameters
    ----------
    manifest_path : str
        ``manifest.json`` of a feature index (see :mod:`krotos.shards.manifest`).

    Returns
    -------
    manifest : dict
    shard_paths : list of str
    """
    from krotos.shards.manifest import read_manifest

    manifest = read_manifest(manifest_path)
    return manifest, [s["path"] for s in manifest["shards"]]


def split_targets(tagdb_path: str, manifest: dict,
                  song_split: SongSplit) -> tuple[dict[str, list[str]], dict[str, np.ndarray], list[str]]:
    """Splits (every track), tag vectors of the tracks with features, and the vocabulary.

    Parameters
    ----------
    tagdb_path : str
        ``tags.sqlite`` of the tag database.
    manifest : dict
        The shard store's manifest: which tracks have features.
    song_split : krotos.splits.SongSplit

    Returns
    -------
    splits : dict
        ``{"train", "valid", "test": [track id, ...]}``, every track of each split.
    targets : dict
        ``{track id: tag vector}`` of the split tracks that have features.
    vocabulary : list of str
        The tag names in target order.
    """
    from krotos.tagdb import TagDB

    have = {tid for shard in manifest["shards"] for tid in shard["track_ids"]}
    splits = {name: song_split.tracks(name) for name in SPLITS}
    with TagDB(tagdb_path) as db:
        vocabulary = db.vocabulary()
        ids = [t for name in SPLITS for t in splits[name] if t in have]
        matrix = db.tag_matrix(ids) if ids else None
    targets = {t: matrix[i] for i, t in enumerate(ids)}
    return splits, targets, vocabulary


def window_frames(seconds: float, features: dict) -> int:
    """Frames of ``seconds`` at the features' frame rate (from the manifest's ``params``).

    Raises
    ------
    ValueError
        The parameters give no frame rate (no ``sample_rate`` and ``hop_length``).
    """
    try:
        rate = float(features["sample_rate"]) / float(features["hop_length"])
    except KeyError as exc:
        raise ValueError(f"the spectrogram manifest's params lack {exc}; cannot convert "
                         f"window_seconds to frames") from None
    return max(1, int(round(float(seconds) * rate)))


def _threads(threads: int) -> None:
    from krotos.model.train import configure_threads

    configure_threads(threads, 2 if threads else 0)


def _write_json(path: str, data: dict, indent: int = 1) -> None:
    # Written into a staging folder, which the caller renames whole.
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=indent, sort_keys=True, default=str)


def train_tag_stage(manifest_path: str, tagdb_path: str, song_split: SongSplit, out_dir: str,
                    work_dir: str, *, window_seconds: float, network: TagModelParams,
                    training: TrainingParams, threads: int = 0,
                    progress: Progress = no_progress) -> None:
    """Train the tag CNN on the split's train tracks (see :func:`krotos.model.train.train_tag_model`).

    The test tracks are refused (:func:`krotos.splits.check_no_test_tracks`);
    ``window_seconds`` is converted to frames at the features' frame rate.

    Parameters
    ----------
    manifest_path, tagdb_path : str
        The shard store's ``manifest.json`` and the tag database.
    song_split : krotos.splits.SongSplit
    out_dir, work_dir : str
        Where the model goes, and the resumable checkpoints.
    window_seconds : float
    network, training : TagModelParams, TrainingParams
    threads : int
        TensorFlow intra-op threads; 0: all cores.
    progress : callable
    """
    from krotos.model.train import train_tag_model

    _threads(threads)
    manifest, shard_paths = read_store(manifest_path)
    splits, targets, vocabulary = split_targets(tagdb_path, manifest, song_split)
    check_no_test_tracks(song_split, splits["train"] + splits["valid"], "tag model training")
    train_tag_model(
        shard_paths, {"train": splits["train"], "valid": splits["valid"]}, targets, vocabulary,
        out_dir=out_dir, work_dir=work_dir,
        window_frames=window_frames(window_seconds, manifest["params"]),
        network=network, training=training, n_mels=manifest["params"].get("n_mels"),
        features=manifest["params"], progress=progress)


def embed_stage(model_path: str, manifest_path: str, out_path: str, *, batch_size: int = 64,
                max_windows: int | None = None, threads: int = 0,
                progress: Progress = no_progress) -> dict:
    """Embed every track of the shard store with a tag model checked against its features.

    Parameters
    ----------
    model_path : str
        A tag model (file or folder), refused when trained on other features.
    manifest_path : str
        The shard store's ``manifest.json``.
    out_path : str
        ``embeddings.h5`` (see :func:`krotos.model.embed.embed_tracks`).
    batch_size, max_windows, threads : int
    progress : callable

    Returns
    -------
    dict
        :func:`krotos.model.embed.embed_tracks`'s summary (``n_tracks``, ``dim``, ``n_failed``).
    """
    from krotos.model.embed import check_same_features, embed_tracks

    _threads(threads)
    manifest, shard_paths = read_store(manifest_path)
    for warning in check_same_features(model_path, manifest["params"],
                                       "the pipeline's spectrograms"):
        log.warning(warning)
    return embed_tracks(model_path, shard_paths, out_path, batch_size=batch_size,
                        max_windows=max_windows, progress=progress)


def _rows_for(test_ids: Sequence[str], ids: Sequence[str], scores: np.ndarray) -> np.ndarray:
    """Scores in ``test_ids`` order; NaN rows for the tracks ``ids`` lacks."""
    out = np.full((len(test_ids), scores.shape[1]), np.nan, dtype=np.float64)
    row = {t: i for i, t in enumerate(ids)}
    for i, t in enumerate(test_ids):
        if t in row:
            out[i] = scores[row[t]]
    return out


def _baseline_scorer(shard_paths, splits, targets, info) -> Callable:
    """``test_ids -> scores`` of the bag-of-frames baseline fitted on ``splits``; fills ``info``."""
    def scores(test_ids):
        from krotos.model.tag_baseline import tag_baseline_scores

        ids, values, fitted = tag_baseline_scores(shard_paths, dict(splits, test=list(test_ids)),
                                                  targets)
        info.update(fitted)
        # A clip without clip statistics (non-finite frames) gets a NaN row;
        # evaluate_tags then drops it for every model and says so.
        return _rows_for(test_ids, ids, values)

    return scores


def _probe_scorer(embeddings_path, splits, targets, info) -> Callable:
    """``test_ids -> scores`` of a linear probe on the embeddings; fills ``info``."""
    def scores(test_ids):
        from krotos.model.embed import linear_probe_scores, read_embeddings

        ids, vectors, _ = read_embeddings(embeddings_path)
        test, values, fitted = linear_probe_scores(ids, vectors, dict(splits, test=list(test_ids)),
                                                   targets)
        info.update(fitted)
        return _rows_for(test_ids, test, values)

    return scores


def evaluate_tags_stage(model_dir: str, manifest_path: str, tagdb_path: str,
                        song_split: SongSplit, out_path: str, *, params: TagEvaluationParams,
                        embeddings: str | None = None, embeddings_model: str = "",
                        threads: int = 0, progress: Progress = no_progress) -> dict:
    """Score a tag model on the test tracks beside the bag of frames and a linear probe.

    Parameters
    ----------
    model_dir : str
        The tag model's folder (``model.keras``, ``training.json``).
    manifest_path, tagdb_path : str
        The shard store's ``manifest.json`` and the tag database.
    song_split : krotos.splits.SongSplit
    out_path : str
        ``metrics.json`` to write.
    params : TagEvaluationParams
    embeddings : str, optional
        ``embeddings.h5`` of the tag model; given, a linear probe on them is scored too.
    embeddings_model : str
        Which model made the embeddings (recorded with the probe's figures).
    threads : int
    progress : callable

    Returns
    -------
    dict
        The metrics written (see :func:`krotos.model.evaluate.evaluate_tags`), with
        ``bag_of_frames_baseline``, ``linear_probe`` (with ``embeddings``) and ``tag_model``.
    """
    from krotos.model.embed import model_file
    from krotos.model.evaluate import evaluate_tags
    from krotos.model.train import describe_tag_model

    _threads(threads)
    manifest, shard_paths = read_store(manifest_path)
    splits, targets, vocabulary = split_targets(tagdb_path, manifest, song_split)
    baseline, probe, others = {}, {}, {}
    if embeddings:
        others["linear_probe"] = _probe_scorer(embeddings, splits, targets, probe)
    metrics = evaluate_tags(
        model_file(model_dir), shard_paths, splits, targets, vocabulary,
        baseline_scores=_baseline_scorer(shard_paths, splits, targets, baseline),
        other_scores=others, params=params, progress=progress)
    metrics["bag_of_frames_baseline"] = baseline
    if embeddings:
        metrics["linear_probe"] = dict(probe, model=embeddings_model)
    metrics["tag_model"] = describe_tag_model(model_dir)
    _write_json(out_path, metrics)
    return metrics


def compare_tags_stage(runs: Sequence[dict], manifest_path: str, tagdb_path: str,
                       song_splits: Sequence[SongSplit], files: dict[str, str], *, grid: dict,
                       curve_config: str, params: TagEvaluationParams,
                       threads: int = 0, progress: Progress = no_progress) -> dict:
    """Score every grid point and replicate of a tag-model comparison, and write its table.

    Parameters
    ----------
    runs : sequence of dict
        ``{"config", "train_size", "replicate", "model_dir"}`` of every trained model.
    manifest_path, tagdb_path : str
        The shard store's ``manifest.json`` and the tag database.
    song_splits : sequence of krotos.splits.SongSplit
        The song split of each replicate (``song_splits[r]``).
    files : dict
        Where the table goes: ``{"json", "md", "png": path}``.
    grid : dict
        ``{point: {TrainTagModel setting: value}}``, recorded with the result.
    curve_config : str
        The grid point of the learning curve.
    params : TagEvaluationParams
    threads : int
    progress : callable

    Returns
    -------
    dict
        :func:`krotos.model.compare.compare_tag_models`'s result, with the grid and
        the machine (seconds per epoch mean something only with it).
    """
    from krotos.model import compare
    from krotos.replicates import machine_description

    _threads(threads)
    manifest, shard_paths = read_store(manifest_path)
    data, vocabulary = {}, []
    for r, song_split in enumerate(song_splits):
        splits, targets, vocabulary = split_targets(tagdb_path, manifest, song_split)
        data[r] = (splits, targets)
    specs = [dict(run, splits=data[run["replicate"]][0], targets=data[run["replicate"]][1])
             for run in runs]
    result = compare.compare_tag_models(specs, shard_paths, vocabulary, curve_config=curve_config,
                                        params=params, progress=progress)
    result["grid"] = {name: dict(grid[name]) for name in grid}
    result["machine"] = machine_description()
    _write_json(files["json"], result)
    with open(files["md"], "w", encoding="utf-8") as f:
        f.write(compare.markdown(result) + "\n")
    compare.plot(result, files["png"])
    return result


def finetune_stage(start_model: str, manifest_path: str, plays_path: str, factors_path: str,
                   song_split: SongSplit, out_dir: str, work_dir: str, predicted_path: str, *,
                   params: FinetuneParams, threads: int = 0,
                   progress: Progress = no_progress) -> None:
    """Fine-tune a tag model on ALS factors, then predict the factors of every song.

    Trains on the split's train songs that have factors, stops early on the
    valid ones; the test songs (the cold-start songs) are refused.

    Parameters
    ----------
    start_model : str
        The tag model fine-tuning starts from (``model.keras``).
    manifest_path, plays_path, factors_path : str
        The shard store's ``manifest.json``, ``plays.h5`` and ``factors.h5``.
    song_split : krotos.splits.SongSplit
    out_dir, work_dir : str
        Where the model goes, and the resumable checkpoints.
    predicted_path : str
        The predicted factors (``predicted_factors.h5``, see
        :func:`krotos.model.finetune.predict_latents`).
    params : FinetuneParams
    threads : int
    progress : callable
        The fine-tuning takes 95% of it, the prediction the rest.
    """
    from krotos.model.embed import model_file
    from krotos.model.finetune import finetune_latents, latent_training_set, predict_latents

    _threads(threads)
    manifest, shard_paths = read_store(manifest_path)
    splits, targets, n_factors = latent_training_set(
        plays_path, factors_path, song_split.split_of(),
        {t for shard in manifest["shards"] for t in shard["track_ids"]},
        objective=params.objective)
    check_no_test_tracks(song_split, splits["train"] + splits["valid"],
                         "latent-factor fine-tuning")
    finetune_latents(start_model, shard_paths, splits, targets, n_factors, out_dir, work_dir,
                     params=params, features=manifest["params"],
                     progress=lambda f, m=None: progress(0.95 * f, m))
    progress(0.96, "predicting factors for every song")
    predict_latents(model_file(out_dir), shard_paths, predicted_path)


def tag_ceiling_stage(n_songs: int, n_users: int, demo_seed: int, manifest_path: str,
                      tagdb_path: str, song_split: SongSplit, out_path: str, *,
                      n_resamples: int = 1000, seed: int = 0,
                      progress: Progress = no_progress) -> dict:
    """The demo's tag ceiling on the clips the tag evaluation scores (see
    :func:`krotos.demo.ceiling.tag_ceiling`), written to ``out_path``.

    Parameters
    ----------
    n_songs, n_users, demo_seed : int
        The demo dataset's settings: its world is drawn again from them.
    manifest_path, tagdb_path : str
        The shard store's ``manifest.json`` and the tag database.
    song_split : krotos.splits.SongSplit
    out_path : str
        ``metrics.json`` to write.
    n_resamples, seed : int
        Bootstrap resamples and their seed.
    progress : callable

    Returns
    -------
    dict
        The metrics written.
    """
    from krotos.demo.catalogue import generate_catalogue
    from krotos.demo.ceiling import tag_ceiling

    progress(0.0, "regenerating the demo world")
    catalogue = generate_catalogue(n_songs, n_users, demo_seed)
    manifest, _ = read_store(manifest_path)
    splits, targets, _ = split_targets(tagdb_path, manifest, song_split)
    metrics = tag_ceiling(catalogue, splits, targets, n_resamples=n_resamples, seed=seed)
    _write_json(out_path, metrics)
    return metrics
