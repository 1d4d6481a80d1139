"""The tag CNN after Dieleman (2014): 1-D convolutions over time, mel bands as channels.

::

    raw log-mel window (window_frames, n_mels)
      -> standardize            per-band (x - mean) / std, statistics of the training split
      -> conv1 .. convN         Conv1D(filters[i], kernel_size) + optional BatchNorm + ReLU,
                                MaxPool1D(pool_sizes[i]) after every conv but the last
      -> global_pool            concatenation of mean, max and L2 over time
      -> dense1 .. denseM       Dense + ReLU + Dropout (dropout only while training)
      -> output                 Dense(n_outputs), sigmoid for tags

The standardization is the model's first layer, so that a saved model takes
the raw log-mel frames that the spectrogram shards hold and carries its
statistics with it. Layer names are stable (``conv1``, ``dense1``,
``embedding`` = the last hidden layer, ``output``) so that fine-tuning can
freeze the convolutions or replace the output layer by name.
"""

import keras
import numpy as np
from keras import layers, ops

#: Dieleman's sizes, the code defaults; the demo uses smaller ones (luigi.cfg).
DEFAULT_FILTERS = (256, 256, 512, 512)
DEFAULT_POOL_SIZES = (4, 2, 2)
DEFAULT_DENSE_UNITS = (2048, 2048)


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

    def call(self, x):
        parts = []
        for stat in self.statistics:
            if stat == "mean":
                parts.append(ops.mean(x, axis=1))
            elif stat == "max":
                parts.append(ops.max(x, axis=1))
            else:
                parts.append(ops.sqrt(ops.mean(ops.square(x), axis=1) + 1e-12))
        return ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1] * len(self.statistics))

    def get_config(self):
        return dict(super().get_config(), statistics=list(self.statistics))


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


def build_tag_model(n_mels, window_frames, n_outputs, *,
                    filters=DEFAULT_FILTERS, kernel_size=4, pool_sizes=DEFAULT_POOL_SIZES,
                    dense_units=DEFAULT_DENSE_UNITS, dropout=0.5, batch_norm=False,
                    padding="same", global_pooling=("mean", "max", "l2"),
                    output_activation="sigmoid", norm_mean=None, norm_std=None,
                    name="krotos_tag_cnn"):
    """Build the (uncompiled) Dieleman-style CNN as a Keras functional model.

    Parameters
    ----------
    n_mels : int
        Mel bands of the input (the convolutions' input channels).
    window_frames : int or None
        Frames per input window; None accepts any length.
    n_outputs : int
        Size of the output layer (tag vocabulary, or latent factors).
    filters : sequence of int
        Filters of each 1-D convolution over time.
    kernel_size : int
        Width (in frames) of every convolution.
    pool_sizes : sequence of int
        Max-pooling after each convolution but the last; ``len(filters) - 1`` values.
    dense_units : sequence of int
        Hidden dense layers after the global pooling (may be empty).
    dropout : float
        Dropout rate after each hidden dense layer (0 disables it).
    batch_norm : bool
        Batch normalization between each convolution and its ReLU.
    padding : {'same', 'valid'}
        Convolution padding.
    global_pooling : sequence of {'mean', 'max', 'l2'}
        Statistics over time concatenated after the last convolution.
    output_activation : str
        ``'sigmoid'`` for tags, ``'linear'`` for latent factors.
    norm_mean, norm_std : array-like of shape (n_mels,), optional
        Per-band standardization statistics (default: identity).
    name : str

    Returns
    -------
    keras.Model
    """
    filters = [int(f) for f in filters]
    pool_sizes = [int(p) for p in pool_sizes]
    if not filters:
        raise ValueError("at least one convolution is needed (filters is empty)")
    if len(pool_sizes) != len(filters) - 1:
        raise ValueError(f"pool_sizes needs len(filters) - 1 = {len(filters) - 1} values, "
                         f"got {len(pool_sizes)}")
    if padding not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    left = _time_after(window_frames, len(filters), int(kernel_size), pool_sizes, padding)
    if left is not None and left < 1:
        raise ValueError(
            f"window_frames={window_frames} is too short for the convolution/pooling stack "
            f"(kernel {kernel_size}, pools {pool_sizes}, padding {padding!r}): "
            f"no frame is left before the global pooling")

    inputs = keras.Input(shape=(window_frames, int(n_mels)), name="log_mel")
    x = standardization_layer(n_mels, norm_mean, norm_std)(inputs)
    for i, n_filters in enumerate(filters, start=1):
        x = layers.Conv1D(n_filters, int(kernel_size), padding=padding,
                          use_bias=not batch_norm, name=f"conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = layers.Activation("relu", name=f"conv{i}_relu")(x)
        if i <= len(pool_sizes):
            x = layers.MaxPooling1D(pool_sizes[i - 1], name=f"pool{i}")(x)
    x = GlobalTemporalPooling(global_pooling, name="global_pool")(x)
    for j, units in enumerate(dense_units, start=1):
        x = layers.Dense(int(units), activation="relu", name=f"dense{j}")(x)
        if dropout:
            x = layers.Dropout(float(dropout), name=f"dropout{j}")(x)
    x = layers.Identity(name="embedding")(x)
    outputs = layers.Dense(int(n_outputs), activation=output_activation, name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def standardization_layer(n_mels, mean=None, std=None):
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


def conv_layer_names(model):
    """Names of the layers of the convolutional front end (convs and their batch norms)."""
    return [layer.name for layer in model.layers
            if layer.name.startswith("conv") and layer.weights]


def replace_output(model, n_outputs, activation="linear", name=None):
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
    outputs = layers.Dense(int(n_outputs), activation=activation, name="output")(embedding)
    return keras.Model(model.inputs, outputs, name=name or model.name)


def model_input_shape(model):
    """``(window_frames or None, n_mels)`` that the model expects."""
    shape = model.inputs[0].shape
    return shape[1], int(shape[2])


def load_model(path):
    """Load a saved krotos model (registers the custom layers first)."""
    return keras.models.load_model(path, compile=False)
