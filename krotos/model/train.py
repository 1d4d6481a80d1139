"""Training with per-epoch checkpoints, resume after a kill, and early stopping.

:func:`train` is generic: any Keras model, any targets (``track_id ->
vector``: tags, latent factors), any loss, and a validation ``metric_fn``
(higher is better) computed on clip-level predictions of the validation
split. :func:`train_tag_model` is the tag CNN on top of it.

Resume: after every epoch ``work_dir`` receives the weights, the optimizer's
state and ``state.json`` (written last, atomically, so it always names a
complete checkpoint). A new call with the same ``work_dir`` continues after
the last finished epoch. Each epoch's crops come from ``(seed, epoch)``, so a
resumed run reads the data an uninterrupted one would have.

Determinism: training runs with TensorFlow's op determinism on
(:func:`make_deterministic`) and every random draw seeded from ``seed``, so
the same seed and settings give the same history and weights on the same
machine with the same thread count (:func:`configure_threads`).
"""

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf
from keras import ops

from krotos.model.data import (ShardReaderPool, TrackIndex, band_statistics, index_tracks,
                               summarize_skips, training_dataset)
from krotos.model.evaluate import predict_clips, roc_auc_macro
from krotos.model.network import (build_tag_model, check_tag_model, count_parameters,
                                  model_input_shape)
from krotos.model.params import TagModelParams, TrainingParams
from krotos.progress import Progress, no_progress
from krotos.signature import output_name
from krotos.splits import write_track_sets
from krotos.staging import atomic_path, atomic_write

log = logging.getLogger(__name__)

STATE_FILE = "state.json"


def configure_threads(intra_op: int = 0, inter_op: int = 0, deterministic: bool = True) -> None:
    """Set TensorFlow's thread pools (0 = TensorFlow's choice: all cores); ops deterministic.

    Must run before TensorFlow executes anything; later calls keep the pools
    with a warning (TensorFlow cannot resize them), but still apply
    ``deterministic``.

    Parameters
    ----------
    intra_op : int
        Threads of one op (a convolution, a matrix product).
    inter_op : int
        Ops run concurrently.
    deterministic : bool
        Call :func:`make_deterministic`.

    Notes
    -----
    Determinism holds for a fixed ``intra_op``: the CPU kernels partition
    their work, sums included, by the number of threads, so another thread
    count rounds differently (the loss differs in its last bits after a few
    epochs of a tiny model, and the difference grows with training). ``0``
    means every core of the machine: fixed on a given machine, not across
    machines or containers given other CPU quotas. ``inter_op`` does not
    change results.
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
        tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))
    except RuntimeError as exc:
        log.warning("thread pools already initialized, keeping them (%s)", exc)
    if deterministic:
        make_deterministic()


def make_deterministic() -> None:
    """Make TensorFlow's ops give the same results on the same inputs, run after run.

    Enables ``tf.config.experimental.enable_op_determinism`` (idempotent, for
    the whole process): ops with a nondeterministic kernel (GPU atomics,
    cuDNN's nondeterministic convolution algorithms, XLA's GPU reductions)
    switch to a deterministic one, or raise ``UnimplementedError`` where
    TensorFlow has none, and tf.data keeps its elements in order. The input pipeline
    (:mod:`krotos.model.data`) stays parallel: its reading function is
    declared stateless, so tf.data does not serialize it.

    Seeds are the caller's business (:func:`train` seeds Python, NumPy, Keras
    and TensorFlow from its ``seed``); once this is on, a TensorFlow random op
    without any seed raises ``RuntimeError`` instead of drawing at random.

    Limits: the same results need the same machine, thread count (see
    :func:`configure_threads`), TensorFlow, CUDA/cuDNN and oneDNN versions;
    nothing is promised across them.
    """
    tf.config.experimental.enable_op_determinism()


@keras.saving.register_keras_serializable(package="krotos")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """A linear ramp from ``peak / warmup_steps`` to ``peak`` over ``warmup_steps``, then ``after``.

    ``after`` (a schedule, or a float for a constant rate) counts its steps
    from the end of the warm-up.
    """

    def __init__(self, peak, warmup_steps, after):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.after = after

    def __call__(self, step):
        step = ops.cast(step, "float32")
        ramp = self.peak * (step + 1.0) / float(max(self.warmup_steps, 1))
        if isinstance(self.after, keras.optimizers.schedules.LearningRateSchedule):
            rest = self.after(ops.maximum(step - self.warmup_steps, 0.0))
        else:
            rest = ops.cast(self.after, "float32")
        return ops.where(step < self.warmup_steps, ramp, rest)

    def get_config(self) -> dict:
        """The schedule's configuration, for saving."""
        after = self.after
        if isinstance(after, keras.optimizers.schedules.LearningRateSchedule):
            after = keras.optimizers.schedules.serialize(after)
        return dict(peak=self.peak, warmup_steps=self.warmup_steps, after=after)

    @classmethod
    def from_config(cls, config: dict) -> "LinearWarmup":
        """The schedule saved by :meth:`get_config`."""
        after = config["after"]
        if isinstance(after, dict):
            after = keras.optimizers.schedules.deserialize(after)
        return cls(config["peak"], config["warmup_steps"], after)


def make_optimizer(name: str = "adam", learning_rate: float = 1e-3, schedule: str = "constant",
                   total_steps: int | None = None, decay_rate: float = 0.1, warmup_steps: int = 0,
                   weight_decay: float | None = None, momentum: float = 0.9,
                   clipnorm: float | None = None) -> keras.optimizers.Optimizer:
    """A Keras optimizer with a learning-rate schedule and an optional linear warm-up.

    Parameters
    ----------
    name : {'adam', 'adamw', 'sgd', 'rmsprop'}
    learning_rate : float
        Peak learning rate.
    schedule : {'constant', 'cosine', 'exponential'}
        After the warm-up: ``constant`` keeps the peak; ``cosine`` decays to 0
        over the remaining ``total_steps - warmup_steps``; ``exponential``
        multiplies the rate by ``decay_rate`` over them.
    total_steps : int
        Optimizer steps of the whole run (needed by the decaying schedules).
    decay_rate : float
    warmup_steps : int
        Steps of linear warm-up from ``learning_rate / warmup_steps`` to the peak
        (0: none). Adam's first steps, with its moment estimates still poor,
        are the ones a warm-up protects (Goyal et al. 2017; Liu et al. 2020).
    weight_decay : float, optional
        Decoupled weight decay (Loshchilov & Hutter 2019): every optimizer
        applies it as ``w -= learning_rate * weight_decay * w``; ``adamw``
        defaults to 1e-4 when None.
    momentum : float
        For ``sgd`` (Nesterov) and ``rmsprop``.
    clipnorm : float, optional
    """
    warmup_steps = int(warmup_steps or 0)
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if schedule == "constant":
        lr = float(learning_rate)
    elif schedule in ("cosine", "exponential"):
        if not total_steps:
            raise ValueError(f"the {schedule!r} schedule needs total_steps")
        decay_steps = max(1, int(total_steps) - warmup_steps)
        if schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(float(learning_rate),
                                                        decay_steps=decay_steps)
        else:
            lr = keras.optimizers.schedules.ExponentialDecay(
                float(learning_rate), decay_steps=decay_steps, decay_rate=float(decay_rate))
    else:
        raise ValueError(f"unknown learning-rate schedule {schedule!r} "
                         f"(constant, cosine, exponential)")
    if warmup_steps:
        lr = LinearWarmup(float(learning_rate), warmup_steps, lr)
    common = dict(learning_rate=lr, clipnorm=clipnorm)
    if weight_decay and name != "adamw":
        common["weight_decay"] = float(weight_decay)
    if name == "adam":
        return keras.optimizers.Adam(**common)
    if name == "adamw":
        return keras.optimizers.AdamW(weight_decay=float(weight_decay or 1e-4), **common)
    if name == "sgd":
        return keras.optimizers.SGD(momentum=float(momentum), nesterov=True, **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(momentum=float(momentum), **common)
    raise ValueError(f"unknown optimizer {name!r} (adam, adamw, sgd, rmsprop)")


def tag_loss(label_smoothing: float = 0.0) -> keras.losses.Loss | str:
    """Binary cross-entropy of the tag outputs, with optional label smoothing.

    Label smoothing (Szegedy et al. 2016) trains towards ``y (1 - s) + s / 2``:
    Last.fm tags are noisy and missing ones are not negatives, so full
    confidence in a 0 or a 1 is not what the labels support.
    """
    s = float(label_smoothing or 0.0)
    if not 0.0 <= s < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if not s:
        return "binary_crossentropy"
    return keras.losses.BinaryCrossentropy(label_smoothing=s)


def _loss_key(loss):
    """A description of ``loss`` that is the same in every process (for the fingerprint)."""
    if isinstance(loss, str):
        return loss
    if hasattr(loss, "get_config"):
        return dict(loss.get_config(), cls=type(loss).__name__)
    return getattr(loss, "__name__", type(loss).__name__)


def _scalar(name, value):
    """A TensorBoard scalar summary at the default writer's step.

    Written with the low-level ``tf.summary.write`` and the scalars plugin's
    metadata, so that logging needs no ``tensorboard`` package (only viewing does).
    """
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    tf.summary.write(name, tf.constant(float(value), tf.float32),
                     metadata=metadata.SerializeToString())


def _current_lr(optimizer):
    lr = optimizer.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)


class _BatchProgress(keras.callbacks.Callback):
    """Forwards within-epoch progress to the ``progress`` callback."""

    def __init__(self, progress, epoch, epochs, steps):
        super().__init__()
        self.report, self.epoch, self.epochs, self.steps = progress, epoch, epochs, max(steps, 1)
        self.every = max(1, self.steps // 10)

    def on_train_batch_end(self, batch, logs=None):
        if batch % self.every == 0:
            loss = (logs or {}).get("loss")
            loss_txt = f", loss {float(loss):.4f}" if loss is not None else ""
            self.report((self.epoch + batch / self.steps) / self.epochs,
                        f"epoch {self.epoch + 1}/{self.epochs}, batch {batch}/{self.steps}"
                        f"{loss_txt}")


def _reseed_layers(model, seed, epoch):
    """Set every random layer's (dropout's) generator from ``(seed, epoch, layer)``.

    Their state is not part of the saved weights; reseeding at each epoch makes
    a resumed run draw the same dropout masks as an uninterrupted one.
    """
    for k, layer in enumerate(model.layers):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            value = np.random.default_rng([int(seed), int(epoch), k]).integers(0, 2 ** 31)
            generator.state.assign(np.array([value, 0], dtype=generator.state.dtype))


def _write_json_atomic(path, payload):
    with atomic_write(path) as f:
        json.dump(payload, f, indent=1, sort_keys=True)


#: Public name for other stages (fine-tuning) that write JSON beside a model.
write_json_atomic = _write_json_atomic


def _fingerprint(model, extra):
    shapes = [(w.path, tuple(w.shape)) for w in model.weights]
    blob = json.dumps([shapes, extra], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _save_checkpoint(work_dir, epoch, model, optimizer, state):
    """Weights and optimizer of ``epoch``, then ``state.json`` (the commit point)."""
    ckpt = os.path.join(work_dir, "checkpoints")
    os.makedirs(ckpt, exist_ok=True)
    stem = os.path.join(ckpt, f"epoch-{epoch:04d}")
    model.save_weights(stem + ".weights.h5")
    with atomic_path(stem + ".optimizer.npz") as opt_tmp:
        np.savez(opt_tmp, *[v.numpy() for v in optimizer.variables])
    _write_json_atomic(os.path.join(work_dir, STATE_FILE), dict(state, checkpoint=stem))
    # Older epochs are superseded; the best weights live in their own file. A
    # ``.tmp-*`` file here is a killed run's (this process holds the work folder).
    for name in os.listdir(ckpt):
        if name.startswith(".tmp-") or (name.startswith("epoch-")
                                        and not name.startswith(os.path.basename(stem))):
            os.remove(os.path.join(ckpt, name))


def _load_checkpoint(work_dir, model, optimizer, fingerprint):
    """The saved state (weights and optimizer restored), or None to start afresh."""
    path = os.path.join(work_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        state = json.load(f)
    if state.get("fingerprint") != fingerprint:
        log.warning("%s: checkpoint of another model/configuration, starting afresh", path)
        return None
    stem = state["checkpoint"]
    model.load_weights(stem + ".weights.h5")
    with np.load(stem + ".optimizer.npz") as arrays:
        values = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    if len(values) != len(optimizer.variables):
        raise ValueError(f"{stem}.optimizer.npz: {len(values)} optimizer variables, "
                         f"expected {len(optimizer.variables)}")
    for var, value in zip(optimizer.variables, values):
        var.assign(value)
    log.info("resuming after epoch %d from %s", state["epoch"], stem)
    return state


@dataclass(frozen=True)
class Objective:
    """What :func:`train` minimizes and what it stops early on.

    Parameters
    ----------
    loss : str or keras loss
    metric_fn : callable(y_true, y_pred) -> float
        Validation score on clip-level predictions; higher is better.
    metric_name : str
        Name of the validation metric in the history and TensorBoard.
    """

    loss: object
    metric_fn: object
    metric_name: str = "val_metric"


def train(model: keras.Model, train_index: TrackIndex, valid_index: TrackIndex, targets: dict, *,
          objective: Objective, work_dir: str, params: TrainingParams,
          optimizer: keras.optimizers.Optimizer | None = None, train_weights: dict | None = None,
          freeze_layers: Sequence[str] = (), augment_fill: npt.ArrayLike | None = None,
          progress: Progress = no_progress) -> dict:
    """Train ``model`` with early stopping on a validation metric; resumable.

    Parameters
    ----------
    model : keras.Model
        Built (weights initialized or pre-trained), not necessarily compiled.
        Its input length is the training window.
    train_index, valid_index : krotos.model.data.TrackIndex
    targets : dict
        ``track_id -> target vector`` (of both splits).
    objective : Objective
        Loss and validation metric.
    work_dir : str
        Checkpoints, ``state.json`` and TensorBoard summaries
        (``work_dir/tensorboard``); reusing it resumes.
    params : krotos.model.params.TrainingParams
        ``epochs`` (at most), ``batch_size``, ``patience`` (epochs without an
        improvement of more than ``min_delta`` before stopping),
        ``crops_per_track``, ``seed``, ``freeze_epochs``, ``eval_batch_size`` and
        ``eval_max_windows`` (validation prediction, see
        :func:`krotos.model.evaluate.predict_clips`; 0: every window),
        ``parallel_reads`` and ``shards_per_block`` (see
        :func:`krotos.model.data.training_dataset`), ``cache_mb`` (memory for
        caching each split's spectrograms after their first read, used only
        by a split that fits whole, see :class:`krotos.model.data.ShardReaderPool`;
        0 disables it), ``jit_compile`` and ``augmentation`` of the training
        batches. The optimizer settings are the caller's (``optimizer``).
    optimizer : keras.optimizers.Optimizer, optional
        Default Adam(1e-3). Must be fresh (its state is restored on resume).
    train_weights : dict, optional
        ``track_id -> sample weight``.
    freeze_layers : sequence of str
        Layers kept frozen during the first ``params.freeze_epochs`` epochs.
    augment_fill : array-like (n_mels,), optional
        Value of masked bins (the training split's band means).
    progress : callable(fraction, message)

    Returns
    -------
    dict
        ``history`` (per epoch: loss, metric, learning rate, seconds, samples/s),
        ``best_epoch`` (1-based), ``best_metric``, ``stopped_early``,
        ``bad_windows`` (training windows with NaN/inf, weighted 0).
        ``model`` holds the best epoch's weights on return.
    """
    if len(train_index) == 0:
        raise ValueError("the training split is empty")
    if len(valid_index) == 0:
        raise ValueError("the validation split is empty: early stopping needs it")
    window_frames, n_mels = model_input_shape(model)
    if window_frames is None:
        raise ValueError("the model must have a fixed input length (window_frames)")
    for name, index in (("training", train_index), ("validation", valid_index)):
        if index.n_mels != n_mels:
            raise ValueError(f"{name} spectrograms have {index.n_mels} mel bands, the model "
                             f"expects {n_mels} ({index.shard_paths[0]})")
    epochs, batch_size, seed = int(params.epochs), int(params.batch_size), int(params.seed)
    crops_per_track, patience, min_delta = params.crops_per_track, params.patience, params.min_delta
    loss, metric_fn, metric_name = objective.loss, objective.metric_fn, objective.metric_name
    augmentation = params.augmentation if params.augmentation.active else None
    os.makedirs(work_dir, exist_ok=True)
    make_deterministic()  # before the datasets are built: tf.data reads the setting then
    keras.utils.set_random_seed(seed)
    optimizer = optimizer or keras.optimizers.Adam(1e-3)
    # Built on every variable while all are trainable, so that freezing and
    # unfreezing later never meets a variable the optimizer does not know.
    frozen = set(freeze_layers)
    for layer in model.layers:
        if layer.name in frozen:
            layer.trainable = True
    optimizer.build(model.trainable_variables)
    optimizer_config = {k: v for k, v in optimizer.get_config().items() if k != "name"}
    if augmentation is not None:
        augmentation.check(window_frames, n_mels, batch_size)
    fingerprint = _fingerprint(model, dict(loss=_loss_key(loss), batch_size=batch_size, seed=seed,
                                           crops=crops_per_track, n_train=len(train_index),
                                           optimizer=optimizer_config,
                                           augmentation=(augmentation.as_dict()
                                                         if augmentation else None)))
    state = _load_checkpoint(work_dir, model, optimizer, fingerprint)
    if state:
        progress(state["epoch"] / epochs, f"resuming after epoch {state['epoch']} "
                 f"from the checkpoint in {work_dir}")
    else:
        state = dict(epoch=0, history=[], best_epoch=0, best_metric=None, wait=0,
                     stopped_early=False, fingerprint=fingerprint)
    best_path = os.path.join(work_dir, "checkpoints", "best.weights.h5")
    writer = tf.summary.create_file_writer(os.path.join(work_dir, "tensorboard"))
    valid_y = valid_index.target_matrix(targets)
    pool = ShardReaderPool(train_index, cache_bytes=int(params.cache_mb * 2 ** 20))
    valid_pool = ShardReaderPool(valid_index, cache_bytes=int(params.cache_mb * 2 ** 20))
    steps = -(-len(train_index) * int(crops_per_track) // int(batch_size))
    compiled_frozen = None
    try:
        while state["epoch"] < epochs and not state["stopped_early"]:
            epoch = state["epoch"]
            want_frozen = epoch < params.freeze_epochs and bool(frozen)
            if want_frozen != compiled_frozen:
                for layer in model.layers:
                    if layer.name in frozen:
                        layer.trainable = not want_frozen
                model.compile(optimizer=optimizer, loss=loss, jit_compile=params.jit_compile)
                compiled_frozen = want_frozen
            _reseed_layers(model, seed, epoch)
            ds = training_dataset(train_index, targets, window_frames, params, epoch=epoch,
                                  weights=train_weights, pool=pool, fill=augment_fill)
            t0 = time.perf_counter()
            fit = model.fit(ds, epochs=epoch + 1, initial_epoch=epoch, verbose=0, shuffle=False,
                            callbacks=[_BatchProgress(progress, epoch, epochs, steps)])
            seconds = time.perf_counter() - t0
            scores, ok = predict_clips(model, valid_index, batch_size=params.eval_batch_size,
                                       max_windows=params.eval_max_windows or None,
                                       parallel_reads=params.parallel_reads, pool=valid_pool)
            metric = float(metric_fn(valid_y[ok], scores[ok]))
            if not np.isfinite(metric):
                raise ValueError(f"validation {metric_name} is {metric} at epoch {epoch + 1}: "
                                 f"the validation split cannot score this model (e.g. no tag "
                                 f"has both positive and negative clips)")
            entry = dict(epoch=epoch + 1, loss=float(fit.history["loss"][-1]),
                         **{metric_name: metric}, learning_rate=_current_lr(optimizer),
                         seconds=round(seconds, 2),
                         samples_per_s=round(len(train_index) * crops_per_track / seconds, 1),
                         frozen=want_frozen)
            improved = state["best_metric"] is None or metric > state["best_metric"] + min_delta
            if improved:
                os.makedirs(os.path.dirname(best_path), exist_ok=True)
                with atomic_path(best_path) as tmp:
                    model.save_weights(tmp)
                state.update(best_epoch=epoch + 1, best_metric=metric, wait=0)
            else:
                state["wait"] += 1
            state["history"].append(entry)
            state["epoch"] = epoch + 1
            state["stopped_early"] = state["wait"] >= patience
            state["bad_windows"] = state.get("bad_windows", 0) + pool.bad_windows
            pool.bad_windows = 0
            _save_checkpoint(work_dir, epoch + 1, model, optimizer, state)
            with writer.as_default(step=epoch + 1):
                _scalar("train/loss", entry["loss"])
                _scalar(f"valid/{metric_name}", metric)
                _scalar("train/learning_rate", entry["learning_rate"])
                _scalar("train/samples_per_s", entry["samples_per_s"])
            writer.flush()
            log.info("epoch %d/%d: loss %.4f, %s %.4f%s", epoch + 1, epochs, entry["loss"],
                     metric_name, metric, " (best)" if improved else "")
            progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs}: loss {entry['loss']:.4f}, "
                     f"{metric_name} {metric:.4f} (best {state['best_metric']:.4f} "
                     f"at epoch {state['best_epoch']})")
    finally:
        pool.close()
        valid_pool.close()
        writer.close()
    if os.path.exists(best_path):
        model.load_weights(best_path)
    for layer in model.layers:
        if layer.name in frozen:
            layer.trainable = True
    return dict(history=state["history"], best_epoch=state["best_epoch"],
                best_metric=state["best_metric"], stopped_early=state["stopped_early"],
                bad_windows=state.get("bad_windows", 0),
                bad_tracks=sorted(pool.bad_tracks))


def _load_or_compute_stats(work_dir, index, max_tracks, seed, progress):
    """Band statistics of the training split, cached in ``work_dir`` for resumed runs."""
    path = os.path.join(work_dir, "normalization.json")
    if os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if cached.get("track_ids_hash") == _hash_ids(index.track_ids):
            return np.array(cached["mean"]), np.array(cached["std"]), cached["bad_tracks"]
    mean, std, bad = band_statistics(index, max_tracks=max_tracks, seed=seed, progress=progress)
    _write_json_atomic(path, dict(mean=mean.tolist(), std=std.tolist(), bad_tracks=bad,
                                  track_ids_hash=_hash_ids(index.track_ids)))
    return mean, std, bad


def _hash_ids(ids):
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def train_tag_model(shard_paths: Sequence[str], splits: dict, targets: dict, vocabulary: Sequence[str],
                    out_dir: str, work_dir: str, *, window_frames: int,
                    network: TagModelParams | None = None, training: TrainingParams | None = None,
                    n_mels: int | None = None, features: dict | None = None,
                    progress: Progress = no_progress) -> dict:
    """Train the tag CNN on the train split, early-stopped on the valid split's ROC-AUC.

    Parameters
    ----------
    shard_paths : sequence of str
        Spectrogram shards (every split's tracks).
    splits : dict
        ``{"train": [track_id, ...], "valid": [...]}``.
    targets : dict
        ``track_id -> 0/1 vector`` over ``vocabulary``.
    vocabulary : sequence of str
        Tag names in output order.
    out_dir : str
        Receives ``model.keras`` (takes raw log-mel windows of
        ``(window_frames, n_mels)``; standardization inside), ``normalization.json``,
        ``vocabulary.json``, ``features.json`` (the extraction parameters, when
        ``features`` is given), ``training.json`` (configuration, history,
        parameter count, seconds per epoch, skips) and ``tracks.json`` (the
        training and validation tracks used).
    work_dir : str
        Checkpoints and TensorBoard logs (``work_dir/tensorboard``); reuse resumes.
    window_frames : int
        Training window (130 frames = 3 s at 22.05 kHz, hop 512).
    network : krotos.model.params.TagModelParams, optional
        The network (:func:`krotos.model.network.build_tag_model`; default
        luigi.cfg's); checked against ``n_mels`` and the window before any
        data is read.
    training : krotos.model.params.TrainingParams, optional
        Training (:func:`train`; default luigi.cfg's): the optimizer
        (:func:`make_optimizer`; ``warmup_epochs`` in epochs, 0: none),
        ``label_smoothing`` (:func:`tag_loss`), the ``augmentation`` (checked
        before any data is read), ``stats_max_tracks`` (training tracks read
        for the normalization statistics, a random subset beyond) and
        ``max_train_tracks``: train on a random subset (drawn from ``seed``)
        of this many of the training tracks that have tags, the others
        recorded as skipped (learning curves: how the model fares with less
        data; 0: all).
    n_mels : int, optional
        Expected mel bands (default: that of the shards).
    features : dict, optional
        The spectrogram extraction parameters (the manifest's ``params``),
        recorded so that the model can be used on other data with the same
        input features (:mod:`krotos.model.embed`, fine-tuning).
    progress : callable(fraction, message)

    Returns
    -------
    dict
        What ``training.json`` holds.
    """
    network = network or TagModelParams()
    training = training or TrainingParams()
    seed, max_train_tracks = int(training.seed), int(training.max_train_tracks)
    vocabulary = list(vocabulary)
    for split in ("train", "valid"):
        if not splits.get(split):
            raise ValueError(f"the {split!r} split is empty")
    make_deterministic()
    train_index = index_tracks(shard_paths, splits["train"], n_mels=n_mels)
    n_mels = train_index.n_mels
    # Before any spectrogram is read: a network or an augmentation that does
    # not fit the input fails now, not after the statistics pass.
    field = check_tag_model(n_mels, window_frames, network, frame_rate=_frame_rate(features))
    training.augmentation.check(window_frames, n_mels, training.batch_size)
    valid_index = index_tracks(shard_paths, splits["valid"], n_mels=n_mels)
    train_index = train_index.subset([t for t in train_index.track_ids if t in targets], "no tags")
    valid_index = valid_index.subset([t for t in valid_index.track_ids if t in targets], "no tags")
    for name, index in (("training", train_index), ("validation", valid_index)):
        if len(index) == 0:
            reasons = {r: v["count"] for r, v in summarize_skips(index.skipped).items()}
            raise ValueError(f"no {name} track has both a spectrogram and a tag vector "
                             f"(skipped: {reasons})")
    if max_train_tracks and len(train_index) > max_train_tracks:
        rng = np.random.default_rng([seed, max_train_tracks])
        keep = rng.choice(len(train_index), max_train_tracks, replace=False)
        train_index = train_index.subset([train_index.track_ids[i] for i in sorted(keep)],
                                         f"not drawn (max_train_tracks={max_train_tracks})")
    os.makedirs(work_dir, exist_ok=True)
    progress(0.0, "normalization statistics")
    mean, std, bad = _load_or_compute_stats(work_dir, train_index, training.stats_max_tracks, seed,
                                            progress=lambda f, m=None: progress(0.02 * f, m))
    if bad:
        train_index = train_index.subset(set(train_index.track_ids) - set(bad),
                                         "NaN or inf in the spectrogram")
    train_y = train_index.target_matrix(targets)
    valid_y = valid_index.target_matrix(targets)
    if train_y.shape[1] != len(vocabulary):
        raise ValueError(f"tag vectors have {train_y.shape[1]} entries, the vocabulary "
                         f"{len(vocabulary)}")
    no_train_pos = [t for t, n in zip(vocabulary, train_y.sum(axis=0)) if n == 0]
    if no_train_pos:
        log.warning("%d tags have no positive training track (the model cannot learn "
                    "them): %s", len(no_train_pos), no_train_pos[:10])
    valid_pos = valid_y.sum(axis=0)
    if not np.any((valid_pos > 0) & (valid_pos < len(valid_y))):
        raise ValueError("no tag has both positive and negative validation tracks: "
                         "ROC-AUC early stopping is undefined")

    keras.utils.set_random_seed(seed)  # before the weights are initialized
    model = build_tag_model(n_mels, window_frames, len(vocabulary), network,
                            norm_mean=mean, norm_std=std)
    steps_per_epoch = -(-len(train_index) * training.crops_per_track // training.batch_size)
    opt = make_optimizer(training.optimizer, training.learning_rate, training.schedule,
                         total_steps=training.epochs * steps_per_epoch,
                         warmup_steps=int(round(float(training.warmup_epochs) * steps_per_epoch)),
                         weight_decay=training.weight_decay or None)
    result = train(model, train_index, valid_index, targets,
                   objective=Objective(tag_loss(training.label_smoothing), roc_auc_macro,
                                       "val_roc_auc"),
                   work_dir=work_dir, params=training, optimizer=opt, augment_fill=mean,
                   progress=lambda f, m=None: progress(0.02 + 0.97 * f, m))

    os.makedirs(out_dir, exist_ok=True)
    model.save(os.path.join(out_dir, "model.keras"))
    _write_json_atomic(os.path.join(out_dir, "normalization.json"),
                       dict(mean=mean.tolist(), std=std.tolist(), n_mels=n_mels,
                            window_frames=int(window_frames), applied_in_model=True))
    _write_json_atomic(os.path.join(out_dir, "vocabulary.json"), vocabulary)
    if features is not None:
        _write_json_atomic(os.path.join(out_dir, "features.json"), dict(features))
    write_track_sets(os.path.join(out_dir, "tracks.json"), train=train_index.track_ids,
                     valid=valid_index.track_ids)
    seconds = [h["seconds"] for h in result["history"]]
    summary = dict(
        result,
        config=_training_config(window_frames, n_mels, network, training),
        n_params=count_parameters(model), receptive_field_frames=field,
        seconds_per_epoch=round(float(np.mean(seconds)), 3) if seconds else None,
        n_train=len(train_index), n_valid=len(valid_index),
        tags_without_train_positives=no_train_pos,
        skipped=dict(train=summarize_skips(train_index.skipped),
                     valid=summarize_skips(valid_index.skipped)))
    _write_json_atomic(os.path.join(out_dir, "training.json"), summary)
    progress(1.0, f"best val ROC-AUC {result['best_metric']:.4f} at epoch {result['best_epoch']}")
    return summary


def _training_config(window_frames, n_mels, network, training):
    """The ``config`` of ``training.json``: what the model was built and trained with."""
    net = {k: v for k, v in network.as_dict().items() if k != "padding"}
    fit = {k: getattr(training, k) for k in (
        "epochs", "batch_size", "optimizer", "learning_rate", "schedule", "warmup_epochs",
        "label_smoothing", "patience", "crops_per_track", "seed")}
    # 0 is recorded as None ("none", "all"), as the settings have always been written.
    return dict(window_frames=int(window_frames), n_mels=n_mels, **net, **fit,
                weight_decay=training.weight_decay or None,
                augmentation=training.augmentation.as_dict(),
                max_train_tracks=training.max_train_tracks or None)


def _frame_rate(features):
    """Spectrogram frames per second from extraction parameters, or None."""
    try:
        return float(features["sample_rate"]) / float(features["hop_length"])
    except (TypeError, KeyError, ValueError, ZeroDivisionError):
        return None


def describe_tag_model(model_dir: str) -> dict:
    """Which tag model a folder holds, from its ``training.json``.

    Parameters
    ----------
    model_dir : str
        A ``TrainTagModel`` output folder (or the folder of a ``model.keras``
        written by :func:`train_tag_model`).

    Returns
    -------
    dict
        ``path``, ``architecture``, ``n_params``, ``best_valid_roc_auc``,
        ``best_epoch``, ``n_train`` (None where the file does not say, e.g. a
        model written before they were recorded).
    """
    path = os.path.join(model_dir, "training.json")
    training = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            training = json.load(f)
    config = training.get("config", {})
    return {"path": output_name(os.path.abspath(model_dir)),
            "architecture": config.get("architecture", "dieleman" if config else None),
            "n_params": training.get("n_params"),
            "best_valid_roc_auc": training.get("best_metric"),
            "best_epoch": training.get("best_epoch"), "n_train": training.get("n_train")}


def tag_model_line(description: dict) -> str:
    """One line naming a tag model for people: folder, architecture, size, validation score."""
    parts = [description.get("architecture") or "unknown architecture"]
    if description.get("n_params"):
        parts.append(f"{description['n_params']:,} parameters")
    if description.get("best_valid_roc_auc") is not None:
        parts.append(f"validation ROC-AUC {description['best_valid_roc_auc']:.3f}")
    return f"{description['path']} ({', '.join(parts)})"
