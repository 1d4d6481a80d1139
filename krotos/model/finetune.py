"""From tags to taste: fine-tune the tag CNN to predict songs' ALS latent factors.

After van den Oord, Dieleman & Schrauwen (2013): the tag model's layers up to
its last hidden layer (``embedding``) are kept with their trained weights, the
sigmoid tag output is replaced by a linear layer of ``factors`` units, and the
network learns to map a song's spectrogram to the latent factors that weighted
ALS gave the song from its plays.

Objectives
----------
``mse``
    Mean squared error on unit-normalized factors (the default). A factor
    vector's norm mostly tracks the song's popularity, which audio cannot know;
    its direction is what places the song among users' tastes.
``wpe``
    The weighted prediction error of van den Oord et al.: the ALS objective
    itself, ``sum_u c_ui (p_ui - x_u . y)^2 + lambda |y|^2``, with the user
    factors ``x_u`` fixed. It is a quadratic in ``y`` whose minimum is the ALS
    factor ``y*``, so it equals ``(y - y*)^T A_i (y - y*)`` plus a constant,
    with ``A_i = X^T C_i X + lambda I``. Each song's target carries ``y*`` and a
    Cholesky factor of ``A_i`` (``f + f^2`` numbers), so popular songs, whose
    factors many plays pin down, weigh more.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import keras
import numpy as np
import scipy.sparse as sp
from keras import ops

from krotos.coldstart.vectors import unit_normalize, write_latents
from krotos.model.data import index_tracks, summarize_skips
from krotos.model.embed import check_same_features, model_file
from krotos.model.evaluate import predict_clips
from krotos.model.network import conv_layer_names, load_model, replace_output
from krotos.model.params import FinetuneParams
from krotos.model.train import (Objective, _write_json_atomic, make_deterministic, make_optimizer,
                                train)
from krotos.progress import Progress, no_progress
from krotos.signature import output_name
from krotos.splits import write_track_sets

log = logging.getLogger(__name__)

OBJECTIVES = ("mse", "wpe")


def wpe_targets(song_factors: np.ndarray, user_factors: np.ndarray, plays: sp.spmatrix,
                confidence: Callable, regularization: float) -> np.ndarray:
    """Per-song WPE targets ``[y*, vec(L^T)]`` with ``L L^T = X^T C_i X + lambda I``.

    Parameters
    ----------
    song_factors : np.ndarray (n_songs, f)
        The ALS song factors ``y*``.
    user_factors : np.ndarray (n_users, f)
    plays : scipy.sparse matrix (n_users, n_songs)
        Training play counts.
    confidence : callable
        Maps play counts to confidences ``c_ui`` (>= 1).
    regularization : float

    Returns
    -------
    np.ndarray float32 (n_songs, f + f * f)
        Scaled so that the mean trace of ``A_i`` is ``f`` (the loss stays near
        the MSE's scale; relative weights between songs are kept).
    """
    x = np.asarray(user_factors, dtype=np.float64)
    f = x.shape[1]
    gram = x.T @ x
    plays = sp.csc_matrix(plays)
    n_songs = plays.shape[1]
    a = np.broadcast_to(gram + regularization * np.eye(f), (n_songs, f, f)).copy()
    # A_i = X^T X + X^T (C_i - I) X + lambda I: only the played entries differ
    # from the shared Gram matrix.
    songs = np.repeat(np.arange(n_songs), np.diff(plays.indptr))
    extra = (confidence(plays.data) - 1.0)[:, None, None] * (
        x[plays.indices][:, :, None] * x[plays.indices][:, None, :])
    np.add.at(a, songs, extra)
    a *= f / np.mean(np.trace(a, axis1=1, axis2=2))
    chol = np.linalg.cholesky(a)
    return np.concatenate([np.asarray(song_factors, dtype=np.float32),
                           np.transpose(chol, (0, 2, 1)).reshape(n_songs, f * f)],
                          axis=1).astype(np.float32)


def wpe_loss(n_factors: int) -> Callable:
    """Keras loss ``|L^T (y_pred - y*)|^2`` for targets built by :func:`wpe_targets`."""
    f = int(n_factors)

    def loss(y_true, y_pred):
        target = y_true[:, :f]
        lt = ops.reshape(y_true[:, f:], (-1, f, f))
        diff = ops.expand_dims(y_pred - target, -1)
        return ops.sum(ops.square(ops.squeeze(ops.matmul(lt, diff), -1)), axis=-1)

    loss.__name__ = "wpe"
    return loss


def mean_cosine(n_factors: int) -> Callable[[np.ndarray, np.ndarray], float]:
    """Validation score: mean cosine similarity of predicted and true factors."""
    f = int(n_factors)

    def score(y_true, y_pred):
        a = unit_normalize(y_true[:, :f])
        b = unit_normalize(y_pred)
        return float(np.mean(np.sum(a * b, axis=1)))

    return score


def latent_training_set(plays_path: str, factors_path: str, split_of: dict, available: set[str], *,
                        objective: str = "mse") -> tuple[dict, dict, int]:
    """Training and validation songs with their targets; test (cold-start) songs never included.

    Parameters
    ----------
    plays_path, factors_path : str
        ``plays.h5`` and the ``factors.h5`` fitted without the cold songs.
        The WPE weights use the factorization's own settings (its attributes).
    split_of : dict
        ``track_id -> 'train' | 'valid' | 'test'`` (the song split,
        :meth:`krotos.splits.SongSplit.split_of`). Only ``train`` songs are
        trained on and only ``valid`` songs validate; tracks in no split are
        left out.
    available : set of str
        Tracks that have a spectrogram.
    objective : {'mse', 'wpe'}

    Returns
    -------
    splits : dict
        ``{"train": [track_id, ...], "valid": [...]}``.
    targets : dict
        ``track_id -> vector``.
    n_factors : int
    """
    from krotos.cf.als import read_factors
    from krotos.cf.confidence import confidence_values
    from krotos.cf.playmatrix import read_play_split

    split = read_play_split(plays_path)
    fit = read_factors(factors_path)
    attrs = fit["attrs"]
    warm = split.warm_song_index
    warm = warm[fit["song_trained"][warm]]
    if objective == "wpe":
        vectors = wpe_targets(
            fit["song_factors"][warm], fit["user_factors"], split.fit_plays[:, warm],
            lambda counts: confidence_values(counts, attrs["confidence"], attrs["alpha"],
                                             attrs["epsilon"]),
            attrs["regularization"])
    else:
        vectors = unit_normalize(fit["song_factors"][warm])
    targets = {t: v for t, v in zip(split.track_ids[warm], vectors)
               if t in available and split_of.get(t) in ("train", "valid")}
    splits = {name: sorted(t for t in targets if split_of[t] == name) for name in ("train", "valid")}
    return splits, targets, int(fit["song_factors"].shape[1])


def finetune_latents(tag_model_path: str, shard_paths: Sequence[str], splits: dict, targets: dict,
                     n_factors: int, out_dir: str, work_dir: str, *,
                     params: FinetuneParams | None = None, features: dict | None = None,
                     progress: Progress = no_progress) -> dict:
    """Fine-tune a trained tag model to predict latent factors; resumable.

    Any tag model works (either architecture), including one trained on
    another dataset: only its input features must be those of the shards.

    Parameters
    ----------
    tag_model_path : str
        ``model.keras`` written by :func:`krotos.model.train.train_tag_model`
        (or its folder), from this pipeline or another one.
    shard_paths : sequence of str
    splits : dict
        ``{"train": [track_id, ...], "valid": [...]}``: warm songs only; the
        caller keeps the cold-start songs out of both.
    targets : dict
        ``track_id -> vector``: unit-normalized factors for ``mse``, or the
        rows of :func:`wpe_targets` for ``wpe``.
    n_factors : int
    out_dir : str
        Receives ``model.keras``, ``training.json`` and ``tracks.json`` (the
        training and validation songs used).
    work_dir : str
        Checkpoints and TensorBoard logs; reusing it resumes.
    params : krotos.model.params.FinetuneParams, optional
        The objective (``mse`` or ``wpe``), the epochs with frozen
        convolutions, and the training loop (:func:`krotos.model.train.train`).
        Default: luigi.cfg's.
    features : dict, optional
        The shards' extraction parameters (a manifest's ``params``): a tag
        model that records other ones (``features.json``) is refused before
        any training (:func:`krotos.model.embed.check_same_features`).
    progress : callable(fraction, message)

    Returns
    -------
    dict
        What ``training.json`` holds (history, best epoch, best validation cosine).
    """
    params = params or FinetuneParams()
    objective, training = params.objective, params.training()
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    for split in ("train", "valid"):
        if not splits.get(split):
            raise ValueError(f"the {split!r} split of songs with factors is empty")
    tag_model_path = model_file(tag_model_path)
    if features is not None:
        for warning in check_same_features(tag_model_path, features, "the spectrograms"):
            log.warning(warning)
    base = load_model(tag_model_path)
    n_mels = int(base.inputs[0].shape[2])
    train_index = index_tracks(shard_paths, [t for t in splits["train"] if t in targets],
                               n_mels=n_mels)
    valid_index = index_tracks(shard_paths, [t for t in splits["valid"] if t in targets],
                               n_mels=n_mels)
    for name, index in (("training", train_index), ("validation", valid_index)):
        if len(index) == 0:
            raise ValueError(f"no {name} song has both a spectrogram and latent factors")

    keras.utils.set_random_seed(int(training.seed))
    model = replace_output(base, n_factors, activation="linear", name="latent_model")
    loss = "mean_squared_error" if objective == "mse" else wpe_loss(n_factors)
    steps = training.epochs * -(-len(train_index) * training.crops_per_track
                                // training.batch_size)
    opt = make_optimizer(training.optimizer, training.learning_rate, training.schedule,
                         total_steps=steps, weight_decay=training.weight_decay or None)
    result = train(model, train_index, valid_index, targets,
                   objective=Objective(loss, mean_cosine(n_factors), "val_cosine"),
                   work_dir=work_dir, params=training, optimizer=opt,
                   freeze_layers=conv_layer_names(model), progress=progress)
    os.makedirs(out_dir, exist_ok=True)
    model.save(os.path.join(out_dir, "model.keras"))
    summary = dict(
        result, objective=objective, n_factors=int(n_factors), n_train=len(train_index),
        n_valid=len(valid_index), freeze_epochs=params.freeze_epochs,
        tag_model=output_name(tag_model_path),
        config=dict({k: getattr(params, k) for k in (
            "epochs", "batch_size", "optimizer", "learning_rate", "schedule", "patience",
            "crops_per_track", "seed")}, weight_decay=params.weight_decay or None),
        skipped=dict(train=summarize_skips(train_index.skipped),
                     valid=summarize_skips(valid_index.skipped)))
    _write_json_atomic(os.path.join(out_dir, "training.json"), summary)
    write_track_sets(os.path.join(out_dir, "tracks.json"), train=train_index.track_ids,
                     valid=valid_index.track_ids)
    return summary


def predict_latents(model_path: str, shard_paths: Sequence[str], out_path: str, *, batch_size: int = 64,
                    eval_max_windows: int | None = None, progress: Progress = no_progress) -> dict:
    """Predicted factors of every track in the shards, written to an HDF5 file.

    Layout: ``/track_ids`` (str), ``/factors`` (n, f) float32. Tracks without a
    single finite window are left out (and logged).

    Returns
    -------
    dict
        ``n_tracks``, ``n_failed``.
    """
    # The factors the cold-start evaluation scores: the same on every run (GPU
    # convolutions otherwise pick their algorithm, and so their rounding, per run).
    make_deterministic()
    model = load_model(model_path)
    index = index_tracks(shard_paths, n_mels=int(model.inputs[0].shape[2]))
    scores, ok = predict_clips(model, index, batch_size=batch_size,
                               max_windows=eval_max_windows, progress=progress)
    write_latents(out_path, np.asarray(index.track_ids, dtype=object)[ok], scores[ok])
    return dict(n_tracks=int(ok.sum()), n_failed=int((~ok).sum()))
