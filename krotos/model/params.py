"""The settings of the tag model stages: one frozen dataclass per stage (issue 17).

A task builds the object from its Luigi parameters and hands it whole to the
library (:func:`krotos.model.train.train_tag_model`,
:func:`krotos.model.evaluate.evaluate_tags`, ...), instead of passing a long
list of keyword arguments through every layer.

The field defaults are the defaults of ``luigi.cfg`` (``[TrainTagModel]``,
``[EvaluateTags]``): the tasks' parameters take theirs from here, and
``tests/test_config_defaults.py`` checks that both say the same. Fields that
``luigi.cfg`` does not list are code-only settings (tests, benchmarks).

This module imports no TensorFlow, so that a task can build and check its
settings before anything heavy is loaded.
"""

import dataclasses
from dataclasses import dataclass

from krotos.model.augment import Augmentation


def _sequence(name, value, convert, example):
    """``value`` as a tuple of ``convert``-ed items; a single item is a 1-tuple."""
    if not isinstance(value, (list, tuple)):
        value = (value,)
    try:
        return tuple(convert(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a list such as {example}, got {value!r}") from None


def _pool(value):
    # ``"TIMExFREQ"`` (shortchunk) stays a string; ``N`` is an int.
    if isinstance(value, str) and "x" in value:
        return value
    return int(value)


@dataclass(frozen=True)
class TagModelParams:
    """The tag CNN's architecture (see :func:`krotos.model.network.build_tag_model`).

    Parameters
    ----------
    architecture : {'dieleman', 'shortchunk'}
        1-D convolutions over time, or the 2-D short-chunk CNN of Won et al. (2020).
    filters : tuple of int
        Filters (channels) of each convolution (of each block with ``residual``).
    kernel_size : int
        Width in frames (``dieleman``), or side of the square kernel (``shortchunk``).
    pool_sizes : tuple
        ``dieleman``: max-pooling after each convolution but the last (ints).
        ``shortchunk``: after every convolution, ``N`` or ``"TIMExFREQ"``.
    dense_units : tuple of int
        Hidden dense layers; the last is the embedding (may be empty).
    dropout : float
        Dropout after each hidden dense layer (0 disables it).
    batch_norm : bool
        Batch normalization after each convolution (shortchunk always has it).
    residual : bool
        ``shortchunk`` only: residual blocks of two convolutions.
    global_pooling : tuple of {'mean', 'max', 'l2'}
        Statistics over time, concatenated.
    padding : {'same', 'valid'}
        Convolution padding of ``dieleman`` (code-only).
    """

    architecture: str = "shortchunk"
    filters: tuple = (8, 16, 32, 32, 64)
    kernel_size: int = 3
    pool_sizes: tuple = (2, 2, 2, 2, 2)
    dense_units: tuple = (128,)
    dropout: float = 0.1
    batch_norm: bool = True
    residual: bool = False
    global_pooling: tuple = ("mean", "max", "l2")
    padding: str = "same"

    def __post_init__(self):
        # Lists (JSON, Luigi's ListParameter) and tuples must give equal objects.
        fix = {"filters": _sequence("filters", self.filters, int, "[8, 16, 32]"),
               "pool_sizes": _sequence("pool_sizes", self.pool_sizes, _pool, '[2, 2, "2x1"]'),
               "dense_units": _sequence("dense_units", self.dense_units, int, "[128]"),
               "global_pooling": _sequence("global_pooling", self.global_pooling, str,
                                           '["mean", "max"]')}
        for name, value in fix.items():
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict:
        """The fields as JSON-ready values (lists for the tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


#: Dieleman's sizes (Dieleman & Schrauwen 2014): the 1-D network at full size,
#: far too big for the demo (whose default is :class:`TagModelParams`).
DIELEMAN = TagModelParams(architecture="dieleman", filters=(256, 256, 512, 512), kernel_size=4,
                          pool_sizes=(4, 2, 2), dense_units=(2048, 2048), dropout=0.5,
                          batch_norm=False)


@dataclass(frozen=True)
class TrainingParams:
    """How a model is trained (:func:`krotos.model.train.train` and the stages on it).

    Parameters
    ----------
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Windows per optimizer step.
    crops_per_track : int
        Random windows per training track per epoch.
    optimizer : {'adam', 'adamw', 'sgd', 'rmsprop'}
    learning_rate : float
        (Peak) learning rate.
    schedule : {'constant', 'cosine', 'exponential'}
        See :func:`krotos.model.train.make_optimizer`.
    warmup_epochs : float
        Linear learning-rate warm-up, epochs (0: none).
    weight_decay : float
        Decoupled weight decay; 0: none (``adamw``: its own 1e-4).
    label_smoothing : float
        Of the tag targets (see :func:`krotos.model.train.tag_loss`).
    augmentation : krotos.model.augment.Augmentation
        Of the training windows (a dict of its fields is accepted).
    patience : int
        Epochs without an improvement of more than ``min_delta`` before stopping.
    stats_max_tracks : int
        Training tracks read for the normalization statistics.
    max_train_tracks : int
        Train on a seeded subset of this many training tracks; 0: all.
    eval_max_windows : int
        Validation windows per clip; 0: all.
    seed : int
        Weights, crops, dropout, augmentation.
    cache_mb : float
        Memory to cache a split's spectrograms when it fits whole (0: none).
    freeze_epochs : int
        Epochs during which the layers the caller names stay frozen (fine-tuning).
    min_delta, eval_batch_size, parallel_reads, shards_per_block, jit_compile
        Code-only: see :func:`krotos.model.train.train` and
        :func:`krotos.model.data.training_dataset`.
    """

    epochs: int = 60
    batch_size: int = 32
    crops_per_track: int = 4
    optimizer: str = "adam"
    learning_rate: float = 0.001
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augmentation: Augmentation = Augmentation()
    patience: int = 10
    stats_max_tracks: int = 5000
    max_train_tracks: int = 0
    eval_max_windows: int = 0
    seed: int = 0
    cache_mb: float = 1024.0
    freeze_epochs: int = 0
    min_delta: float = 0.0
    eval_batch_size: int = 64
    parallel_reads: int = 2
    shards_per_block: int = 8
    jit_compile: object = "auto"

    def __post_init__(self):
        if not isinstance(self.augmentation, Augmentation):
            object.__setattr__(self, "augmentation", Augmentation.from_dict(self.augmentation))
        for name in ("epochs", "batch_size", "crops_per_track"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing={self.label_smoothing}: must be in [0, 1)")
        if self.warmup_epochs < 0 or self.max_train_tracks < 0 or self.freeze_epochs < 0:
            raise ValueError("warmup_epochs, max_train_tracks and freeze_epochs must be >= 0")


@dataclass(frozen=True)
class TagEvaluationParams:
    """How the tag model is scored (:func:`krotos.model.evaluate.evaluate_tags`).

    Parameters
    ----------
    n_resamples : int
        Bootstrap resamples of the test clips (95% intervals).
    seed : int
        Of the bootstrap.
    batch_size : int
        Windows per inference batch.
    max_windows : int
        Windows per test clip; 0: all.
    hop_frames : int, optional
        Hop between a clip's windows (default: the window; code-only).
    max_interval_width : float
        Intervals wider than this are listed under ``warnings`` (code-only).
    """

    n_resamples: int = 1000
    seed: int = 0
    batch_size: int = 64
    max_windows: int = 0
    hop_frames: int = None
    max_interval_width: float = 0.1


@dataclass(frozen=True)
class FinetuneParams:
    """How a tag model is fine-tuned to predict latent factors
    (:func:`krotos.model.finetune.finetune_latents`; defaults: luigi.cfg's
    ``[FinetuneModel]``).

    Parameters
    ----------
    objective : {'mse', 'wpe'}
        MSE on unit-normalized factors, or the weighted prediction error (the
        ALS objective).
    freeze_epochs : int
        Epochs during which the convolutional layers stay frozen, so that the
        fresh output layer does not wreck them with large early gradients.
    epochs, batch_size, crops_per_track, optimizer, learning_rate, schedule, weight_decay,
    patience, eval_max_windows, seed, cache_mb, jit_compile
        As in :class:`TrainingParams`.
    """

    objective: str = "mse"
    freeze_epochs: int = 2
    epochs: int = 100
    batch_size: int = 32
    crops_per_track: int = 4
    optimizer: str = "adam"
    learning_rate: float = 0.003
    schedule: str = "constant"
    weight_decay: float = 0.0
    patience: int = 10
    eval_max_windows: int = 0
    seed: int = 0
    cache_mb: float = 1024.0
    jit_compile: object = "auto"

    def training(self) -> "TrainingParams":
        """The :class:`TrainingParams` of the training loop."""
        names = {f.name for f in dataclasses.fields(TrainingParams)}
        return TrainingParams(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                                 if f.name in names})
