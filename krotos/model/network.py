"""The tag CNNs: Dieleman's 1-D network and the short-chunk 2-D CNN of Won et al.

``dieleman`` (Dieleman & Schrauwen 2014; Dieleman 2014): 1-D convolutions over
time, mel bands as channels::

    raw log-mel window (window_frames, n_mels)
      -> standardize            per-band (x - mean) / std, statistics of the training split
      -> conv1 .. convN         Conv1D(filters[i], kernel_size) + optional BatchNorm + ReLU,
                                MaxPool1D(pool_sizes[i]) after every conv but the last
      -> global_pool            concatenation of mean, max and L2 over time
      -> dense1 .. denseM       Dense + ReLU + Dropout (dropout only while training)
      -> output                 Dense(n_outputs), sigmoid for tags

``shortchunk`` (Won, Ferraro, Bogdanov & Serra 2020, "Evaluation of CNN-based
automatic music tagging models", the best of their comparison on MSD and
MTAT): 2-D 3x3 convolutions over (time, frequency) on short chunks (3.7 s in
the paper)::

    raw log-mel window -> standardize -> (time, n_mels, 1)
      -> conv1 .. convN         Conv2D(filters[i], k x k) + BatchNorm + ReLU, or with
                                ``residual`` a block of two such convolutions and a
                                (1x1 projected) shortcut; MaxPool2D(pool_sizes[i]) after each
      -> freq_pool              max over the remaining frequency bins
      -> global_pool, dense, output as above

Every size is a parameter. The model is checked when it is built, before any
data is read: the receptive field of the convolutional front end (in frames)
must fit in the window, and the 2-D network's frequency poolings must leave
at least one of the ``n_mels`` bands.

The standardization is the model's first layer, so that a saved model takes
the raw log-mel frames that the spectrogram shards hold and carries its
statistics with it. Layer names are stable (``conv1``, ``dense1``,
``embedding`` = the last hidden layer, ``output``) so that fine-tuning can
freeze the convolutions or replace the output layer by name, and so that
:mod:`krotos.model.embed` can read the penultimate layer of any tag model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any  # a backend tensor: tf.Tensor, or KerasTensor while building

import keras
import numpy.typing as npt
import numpy as np
from keras import layers, ops

from krotos.model.params import TagModelParams

#: The architectures :func:`build_tag_model` builds.
ARCHITECTURES = ("dieleman", "shortchunk")


@keras.saving.register_keras_serializable(package="krotos")
class GlobalTemporalPooling(layers.Layer):
    """Pool ``(batch, time, channels)`` over time with several statistics, concatenated.

    Parameters
    ----------
    statistics : sequence of {'mean', 'max', 'l2'}
        ``'l2'`` is the root mean square over time.
    """

    KNOWN = ("mean", "max", "l2")

    def __init__(self, statistics=("mean", "max", "l2"), **kwargs):
        super().__init__(**kwargs)
        statistics = tuple(statistics)
        unknown = [s for s in statistics if s not in self.KNOWN]
        if not statistics or unknown:
            raise ValueError(f"global pooling statistics must be a non-empty subset of "
                             f"{self.KNOWN}, got {statistics}")
        self.statistics = statistics

    def call(self, x: Any) -> Any:
        """Pool the time axis of ``(batch, time, channels)`` into ``(batch, channels * statistics)``."""
        parts = []
        for stat in self.statistics:
            if stat == "mean":
                parts.append(ops.mean(x, axis=1))
            elif stat == "max":
                parts.append(ops.max(x, axis=1))
            else:
                parts.append(ops.sqrt(ops.mean(ops.square(x), axis=1) + 1e-12))
        return ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for ``input_shape``."""
        return (input_shape[0], input_shape[-1] * len(self.statistics))

    def get_config(self) -> dict:
        """The layer's configuration, for saving."""
        return dict(super().get_config(), statistics=list(self.statistics))


@keras.saving.register_keras_serializable(package="krotos")
class FrequencyMaxPooling(layers.Layer):
    """Max of ``(batch, time, freq, channels)`` over frequency: ``(batch, time, channels)``."""

    def call(self, x: Any) -> Any:
        """Max over the frequency axis: ``(batch, time, freq, channels)`` to ``(batch, time, channels)``."""
        return ops.max(x, axis=2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for ``input_shape``."""
        return (input_shape[0], input_shape[1], input_shape[3])


def _time_after(window_frames, n_convs, kernel_size, pool_sizes, padding):
    """Frames left after the conv/pool stack, or None for a variable-length input."""
    if window_frames is None:
        return None
    t = int(window_frames)
    for i in range(n_convs):
        if padding == "valid":
            t = t - kernel_size + 1
        if t < 1:
            return t
        if i < len(pool_sizes):
            t = t // pool_sizes[i]
    return t


def receptive_field(layers_: Sequence[tuple[str, int]]) -> int:
    """Receptive field, in input frames, of a stack of convolutions and poolings.

    Parameters
    ----------
    layers_ : sequence of (kind, size)
        ``("conv", kernel)`` or ``("pool", pool)`` along one axis, in order
        (stride 1 convolutions, pools with stride = size).

    Returns
    -------
    int
        Frames of the input that one unit of the last layer depends on.
    """
    field, jump = 1, 1
    for kind, size in layers_:
        field += (int(size) - 1) * jump
        if kind == "pool":
            jump *= int(size)
    return field


def parse_pool(value: int | str | Sequence[int]) -> tuple[int, int]:
    """A pooling size as ``(time, freq)``: ``2`` or ``"2"`` is 2x2, ``"2x1"`` is (2, 1)."""
    if isinstance(value, (tuple, list)):
        t, f = value
    elif isinstance(value, str) and "x" in value:
        t, f = value.split("x", 1)
    else:
        t = f = value
    try:
        t, f = int(t), int(f)
    except (TypeError, ValueError):
        raise ValueError(f"pool size {value!r}: expected N or TIMExFREQ (e.g. 2 or 2x1)") from None
    if t < 1 or f < 1:
        raise ValueError(f"pool size {value!r} must be positive")
    return t, f


def check_tag_model(n_mels: int, window_frames: int | None, params: TagModelParams | None = None, *,
                    frame_rate: float | None = None) -> int:
    """Check that an architecture fits its input; return its receptive field in frames.

    Called by :func:`build_tag_model`, and by training before any data is read.

    Parameters
    ----------
    n_mels : int
    window_frames : int or None
        None (any length) skips the receptive-field check.
    params : krotos.model.params.TagModelParams, optional
        The architecture (default: ``TagModelParams()``, luigi.cfg's).
    frame_rate : float, optional
        Frames per second, to name lengths in seconds too in the messages.

    Returns
    -------
    int
        Receptive field of the convolutional front end, in frames.

    Raises
    ------
    ValueError
        Unknown architecture; pooling sizes that do not match the
        convolutions; a receptive field longer than the window (naming
        both); a 2-D network whose frequency poolings leave no band of
        ``n_mels`` (naming the poolings and the bands they need).
    """
    params = params or TagModelParams()
    architecture, pool_sizes, padding = params.architecture, params.pool_sizes, params.padding
    filters, kernel_size, residual = params.filters, params.kernel_size, params.residual
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r} (one of {ARCHITECTURES})")
    filters = [int(f) for f in filters]
    kernel_size = int(kernel_size)
    if not filters:
        raise ValueError("at least one convolution is needed (filters is empty)")
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
    if padding not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")

    def seconds(frames):
        return f" ({frames / frame_rate:.2f} s)" if frame_rate else ""

    if architecture == "dieleman":
        pools = [int(p) for p in pool_sizes]
        if len(pools) != len(filters) - 1:
            raise ValueError(f"pool_sizes needs len(filters) - 1 = {len(filters) - 1} values, "
                             f"got {len(pools)}")
        left = _time_after(window_frames, len(filters), kernel_size, pools, padding)
        if left is not None and left < 1:
            raise ValueError(
                f"window_frames={window_frames} is too short for the convolution/pooling stack "
                f"(kernel {kernel_size}, pools {pools}, padding {padding!r}): "
                f"no frame is left before the global pooling")
        stack = []
        for i in range(len(filters)):
            stack.append(("conv", kernel_size))
            if i < len(pools):
                stack.append(("pool", pools[i]))
    else:
        pools = [parse_pool(p) for p in pool_sizes]
        if len(pools) != len(filters):
            raise ValueError(f"the shortchunk network pools after every convolution: pool_sizes "
                             f"needs len(filters) = {len(filters)} values, got {len(pools)}")
        freq_factor = int(np.prod([f for _, f in pools]))
        if int(n_mels) // freq_factor < 1:
            raise ValueError(
                f"the shortchunk network does not fit n_mels={n_mels}: its {len(pools)} "
                f"poolings divide the frequency axis by {freq_factor} (pool_sizes "
                f"{list(pool_sizes)}), which needs at least {freq_factor} mel bands; use fewer "
                f"or smaller poolings (e.g. TIMEx1 for the last ones)")
        time_factor = int(np.prod([t for t, _ in pools]))
        if window_frames is not None and int(window_frames) // time_factor < 1:
            raise ValueError(
                f"window_frames={window_frames}{seconds(int(window_frames))} is too short for "
                f"the shortchunk network's time poolings (total factor {time_factor})")
        stack = []
        for t, _ in pools:
            stack += [("conv", kernel_size)] * (2 if residual else 1) + [("pool", t)]
    field = receptive_field(stack)
    if window_frames is not None and field > int(window_frames):
        raise ValueError(
            f"the receptive field of the {architecture} network ({field} frames{seconds(field)}) "
            f"is longer than the window ({window_frames} frames{seconds(int(window_frames))}): "
            f"use a longer window_seconds, or fewer/smaller convolutions or poolings")
    return field


def build_tag_model(n_mels: int, window_frames: int | None, n_outputs: int,
                    params: TagModelParams | None = None, *, output_activation: str = "sigmoid",
                    norm_mean: npt.ArrayLike | None = None, norm_std: npt.ArrayLike | None = None,
                    name: str = "krotos_tag_cnn") -> keras.Model:
    """Build the (uncompiled) tag CNN as a Keras functional model.

    Parameters
    ----------
    n_mels : int
        Mel bands of the input.
    window_frames : int or None
        Frames per input window; None accepts any length.
    n_outputs : int
        Size of the output layer (tag vocabulary, or latent factors).
    params : krotos.model.params.TagModelParams, optional
        The architecture (default: ``TagModelParams()``, luigi.cfg's):
        ``dieleman`` is 1-D convolutions over time (mel bands as channels),
        ``shortchunk`` 2-D ``kernel_size`` x ``kernel_size`` convolutions over
        time and frequency; see the class for every size.
    output_activation : str
        ``'sigmoid'`` for tags, ``'linear'`` for latent factors.
    norm_mean, norm_std : array-like of shape (n_mels,), optional
        Per-band standardization statistics (default: identity).
    name : str

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        See :func:`check_tag_model`.
    """
    p = params or TagModelParams()
    check_tag_model(n_mels, window_frames, p)
    if p.residual and p.architecture != "shortchunk":
        raise ValueError("residual blocks exist only in the shortchunk architecture")
    inputs = keras.Input(shape=(window_frames, int(n_mels)), name="log_mel")
    x = standardization_layer(n_mels, norm_mean, norm_std)(inputs)
    if p.architecture == "dieleman":
        x = _dieleman_front(x, p.filters, p.kernel_size, p.pool_sizes, p.batch_norm, p.padding)
    else:
        x = _shortchunk_front(x, p.filters, p.kernel_size, p.pool_sizes, p.residual)
    x = GlobalTemporalPooling(p.global_pooling, name="global_pool")(x)
    for j, units in enumerate(p.dense_units, start=1):
        x = layers.Dense(int(units), activation="relu", name=f"dense{j}")(x)
        if p.dropout:
            x = layers.Dropout(float(p.dropout), name=f"dropout{j}")(x)
    x = layers.Identity(name="embedding")(x)
    outputs = layers.Dense(int(n_outputs), activation=output_activation, name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def _dieleman_front(x, filters, kernel_size, pool_sizes, batch_norm, padding):
    pool_sizes = [int(p) for p in pool_sizes]
    for i, n_filters in enumerate(filters, start=1):
        x = layers.Conv1D(int(n_filters), int(kernel_size), padding=padding,
                          use_bias=not batch_norm, name=f"conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = layers.Activation("relu", name=f"conv{i}_relu")(x)
        if i <= len(pool_sizes):
            x = layers.MaxPooling1D(pool_sizes[i - 1], name=f"pool{i}")(x)
    return x


def _conv_bn(x, n_filters, kernel_size, name, relu=True):
    x = layers.Conv2D(int(n_filters), int(kernel_size), padding="same", use_bias=False,
                      name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _shortchunk_front(x, filters, kernel_size, pool_sizes, residual):
    # (time, mels) -> (time, mels, 1): frequency becomes a spatial axis.
    x = layers.Reshape((-1, int(x.shape[-1]), 1), name="to_image")(x)
    for i, (n_filters, pool) in enumerate(zip(filters, pool_sizes), start=1):
        if residual:
            shortcut = x
            y = _conv_bn(x, n_filters, kernel_size, f"conv{i}a")
            y = _conv_bn(y, n_filters, kernel_size, f"conv{i}b", relu=False)
            if int(shortcut.shape[-1]) != int(n_filters):
                shortcut = layers.Conv2D(int(n_filters), 1, use_bias=False,
                                         name=f"conv{i}_skip")(shortcut)
                shortcut = layers.BatchNormalization(name=f"conv{i}_skip_bn")(shortcut)
            x = layers.Activation("relu", name=f"conv{i}_relu")(layers.Add(name=f"conv{i}_add")(
                [y, shortcut]))
        else:
            x = _conv_bn(x, n_filters, kernel_size, f"conv{i}")
        x = layers.MaxPooling2D(parse_pool(pool), name=f"pool{i}")(x)
    # Won et al. max-pool what is left of the frequency axis; time keeps its
    # statistics for the global pooling.
    return FrequencyMaxPooling(name="freq_pool")(x)


def standardization_layer(n_mels: int, mean: npt.ArrayLike | None = None,
                          std: npt.ArrayLike | None = None) -> layers.Normalization:
    """A frozen per-band ``(x - mean) / std`` layer named ``standardize``."""
    n_mels = int(n_mels)
    mean = np.zeros(n_mels) if mean is None else np.asarray(mean, dtype=np.float64)
    std = np.ones(n_mels) if std is None else np.asarray(std, dtype=np.float64)
    if mean.shape != (n_mels,) or std.shape != (n_mels,):
        raise ValueError(f"normalization statistics must have shape ({n_mels},), "
                         f"got mean {mean.shape} and std {std.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
        raise ValueError("normalization statistics must be finite with std > 0")
    return layers.Normalization(axis=-1, mean=mean.tolist(), variance=(std ** 2).tolist(),
                                name="standardize")


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of the layers of the convolutional front end (convs and their batch norms)."""
    return [layer.name for layer in model.layers
            if layer.name.startswith("conv") and layer.weights]


def replace_output(model: keras.Model, n_outputs: int, activation: str = "linear",
                   name: str | None = None) -> keras.Model:
    """A new model sharing every layer up to ``embedding`` with a fresh output layer.

    The shared layers keep their (trained) weights; this is how a tag model
    becomes a latent-factor model.

    Parameters
    ----------
    model : keras.Model
        A model built by :func:`build_tag_model` (has an ``embedding`` layer).
    n_outputs : int
    activation : str
    name : str, optional
    """
    embedding = model.get_layer("embedding").output
    # A zero-initialized head: fine-tuning starts as a linear probe of the
    # embedding. A random head's first large errors push every hidden ReLU
    # below zero within an epoch when the targets carry a weak signal (the
    # demo's factors: issue 14), and the model then predicts one constant.
    outputs = layers.Dense(int(n_outputs), activation=activation, kernel_initializer="zeros",
                           name="output")(embedding)
    return keras.Model(model.inputs, outputs, name=name or model.name)


def count_parameters(model: keras.Model) -> int:
    """Trainable and non-trainable parameters of a model (weights, not optimizer state)."""
    return int(model.count_params())


def model_input_shape(model: keras.Model) -> tuple[int | None, int]:
    """``(window_frames or None, n_mels)`` that the model expects."""
    shape = model.inputs[0].shape
    return shape[1], int(shape[2])


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a saved krotos model (registers the custom layers first)."""
    return keras.models.load_model(path, compile=False)
