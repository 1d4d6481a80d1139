"""Embeddings as a product: the penultimate layer of a tag model, and a linear probe on it.

A track's embedding is the mean, over its evaluation windows (the plan of
:func:`krotos.model.data.window_plan`, as for predictions), of the tag
model's last hidden layer (the layer named ``embedding`` by
:func:`krotos.model.network.build_tag_model`, for every architecture). A user
with a few hundred labelled clips trains a small classifier on these vectors
instead of a network: :func:`linear_probe_scores` is that classifier (one
logistic regression per tag on the standardized embeddings, its
regularization chosen on the validation split), and ``EvaluateTags`` reports
it beside the CNN and the bag-of-frames baseline.

Any tag model works, including one trained on another dataset, as long as
its input features are the same (mel bands, frame rate, ...): a model folder
written by :func:`krotos.model.train.train_tag_model` carries its
``features.json`` and :func:`check_same_features` compares it with the
spectrograms at hand.

Files: ``embeddings.h5`` holds ``/track_ids`` (str), ``/embeddings``
``(n_tracks, dim)`` float32 and attributes ``model`` (the model file),
``layer``, ``dim``, ``n_failed``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import h5py
import numpy as np
import numpy.typing as npt

from krotos.progress import Progress, no_progress
from krotos.signature import output_name

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

EMBEDDING_LAYER = "embedding"

#: Extraction parameters that change what a model sees; they must agree
#: between the data a model was trained on and the data it embeds.
FEATURE_KEYS = ("feature", "sample_rate", "n_fft", "hop_length", "n_mels", "fmin", "fmax", "amin",
                "frame_rate", "grid", "loudness")


#: Inverse regularizations the probe chooses from on the validation split: an
#: embedding has more dimensions than the bag of frames' statistics, so the
#: grid reaches further towards strong regularization.
PROBE_CS = (0.001, 0.01, 0.1, 1.0, 10.0)


def model_file(path: str | os.PathLike) -> str:
    """The ``model.keras`` of a tag model folder (a ``TrainTagModel`` output) or the file itself.

    Raises
    ------
    FileNotFoundError
        Naming what was looked for.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    candidate = os.path.join(path, "model.keras") if os.path.isdir(path) else path
    if not os.path.isfile(candidate):
        raise FileNotFoundError(f"{candidate}: no such tag model (give a model.keras file or a "
                                f"TrainTagModel output folder)")
    return candidate


def model_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a tag model's file: what a signature needs from a model given by path."""
    import hashlib

    h = hashlib.sha256()
    with open(model_file(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_features(path: str | os.PathLike) -> dict | None:
    """The extraction parameters recorded beside a tag model (``features.json``), or None."""
    folder = os.path.dirname(model_file(path))
    f = os.path.join(folder, "features.json")
    if not os.path.isfile(f):
        return None
    with open(f, encoding="utf-8") as fh:
        return json.load(fh)


def check_same_features(model_path: str, params: dict, what: str = "these spectrograms") -> list[str]:
    """Refuse a tag model trained on other input features than ``params``.

    Parameters
    ----------
    model_path : str
        A tag model file or folder.
    params : dict
        The extraction parameters of the data at hand (a manifest's ``params``).
    what : str
        How the message calls that data.

    Returns
    -------
    list of str
        Warnings (e.g. the model records no features; only its band count was checked).

    Raises
    ------
    ValueError
        Naming every parameter that differs, with both values.
    """
    from krotos.model.network import load_model, model_input_shape

    recorded = model_features(model_path)
    n_mels = int(params.get("n_mels") or params.get("n_channels") or 0)
    if recorded is None:
        _, model_mels = model_input_shape(load_model(model_file(model_path)))
        if n_mels and model_mels != n_mels:
            raise ValueError(f"{model_file(model_path)} takes {model_mels} mel bands, "
                             f"{what} have {n_mels}")
        return [f"{model_file(model_path)} records no features.json: only its band count "
                f"({model_mels}) was checked against {what}"]
    differ = {k: (recorded.get(k), params.get(k)) for k in FEATURE_KEYS
              if (k in recorded or k in params) and _norm(recorded.get(k)) != _norm(params.get(k))}
    if differ:
        text = ", ".join(f"{k}: model {a!r}, data {b!r}" for k, (a, b) in sorted(differ.items()))
        raise ValueError(f"{model_file(model_path)} was trained on other input features than "
                         f"{what} ({text}); it needs spectrograms extracted with its settings")
    return []


def _norm(value):
    if value is None:
        return None
    try:
        return round(float(value), 6)
    except (TypeError, ValueError):
        return str(value)


def embedding_model(model: keras.Model) -> keras.Model:
    """The sub-model from a tag model's input to its ``embedding`` layer.

    Raises
    ------
    ValueError
        A model without such a layer (not built by krotos).
    """
    import keras

    try:
        layer = model.get_layer(EMBEDDING_LAYER)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no layer named {EMBEDDING_LAYER!r}: not a "
                         f"krotos tag model") from None
    return keras.Model(model.inputs, layer.output, name=f"{model.name}_embedding")


def embed_tracks(model_path: str, shard_paths: Sequence[str], out_path: str, *,
                 track_ids: Iterable[str] | None = None, batch_size: int = 64,
                 max_windows: int | None = None, progress: Progress = no_progress) -> dict:
    """Write the embedding of every track of the shards (or of ``track_ids``) to HDF5.

    Parameters
    ----------
    model_path : str
        A tag model file or ``TrainTagModel`` folder.
    shard_paths : sequence of str
    out_path : str
        The ``embeddings.h5`` to write (see the module docstring).
    track_ids : iterable of str, optional
        Default: every track of the shards.
    batch_size, max_windows : int
        See :func:`krotos.model.evaluate.predict_clips`.
    progress : callable(fraction, message)

    Returns
    -------
    dict
        ``n_tracks``, ``n_failed`` (no finite window), ``dim``.
    """
    from krotos.model.data import index_tracks
    from krotos.model.evaluate import predict_clips
    from krotos.model.network import load_model, model_input_shape
    from krotos.model.train import make_deterministic

    make_deterministic()
    path = model_file(model_path)
    model = embedding_model(load_model(path))
    _, n_mels = model_input_shape(model)
    index = index_tracks(shard_paths, track_ids, n_mels=n_mels)
    if len(index) == 0:
        raise ValueError(f"no track to embed in {len(shard_paths)} shards")
    vectors, ok = predict_clips(model, index, batch_size=batch_size, max_windows=max_windows,
                                progress=progress)
    write_embeddings(out_path, np.asarray(index.track_ids, dtype=object)[ok], vectors[ok],
                     model=output_name(path), n_failed=int((~ok).sum()))
    return dict(n_tracks=int(ok.sum()), n_failed=int((~ok).sum()), dim=int(vectors.shape[1]))


def write_embeddings(path: str | os.PathLike, track_ids: Sequence[str], vectors: np.ndarray, *,
                     model: str = "", n_failed: int = 0) -> None:
    """Write ``embeddings.h5`` atomically (a temporary file, then a rename)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    tmp = f"{path}.part{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("track_ids", data=np.asarray(list(track_ids), dtype=object),
                             dtype=h5py.string_dtype())
            f.create_dataset("embeddings", data=vectors)
            f.attrs.update(model=str(model), layer=EMBEDDING_LAYER,
                           dim=int(vectors.shape[1]) if vectors.ndim == 2 else 0,
                           n_failed=int(n_failed))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_embeddings(path: str | os.PathLike) -> tuple[list[str], np.ndarray, dict]:
    """``(track_ids list, embeddings (n, dim) float32, attrs dict)`` of an ``embeddings.h5``."""
    with h5py.File(path, "r") as f:
        ids = [t.decode() if isinstance(t, bytes) else str(t) for t in f["track_ids"][()]]
        return ids, np.asarray(f["embeddings"][()], dtype=np.float32), dict(f.attrs)


def linear_probe_scores(track_ids: Sequence[str], embeddings: npt.ArrayLike, splits: dict, targets: dict,
                        Cs: Sequence[float] | None = None,
                        seed: int = 0) -> tuple[list[str], np.ndarray, dict]:
    """A linear probe: per-tag logistic regression on embeddings, C chosen on valid.

    Trained on the ``train`` tracks, its regularization chosen on the
    ``valid`` tracks' macro ROC-AUC, then scoring the ``test`` tracks (the
    same estimator as the bag-of-frames baseline,
    :func:`krotos.model.tag_baseline.fit_tag_baseline`, on other features).

    Parameters
    ----------
    track_ids : sequence of str
    embeddings : array-like (n, dim)
    splits : dict
        ``{"train": [...], "valid": [...], "test": [...]}``.
    targets : dict
        ``track_id -> 0/1 tag vector``.
    Cs : sequence of float, optional
        Default :data:`PROBE_CS`.
    seed : int

    Returns
    -------
    test_ids : list of str
        Test tracks with an embedding and a tag vector, in split order.
    scores : np.ndarray float64 (len(test_ids), n_tags)
    info : dict
        ``C``, ``valid_roc_auc_by_C``, ``n_train``, ``n_valid``, ``n_test``, ``dim``.

    Raises
    ------
    ValueError
        No training or validation track with an embedding and tags, or no tag
        with both positive and negative validation tracks.
    """
    from krotos.model.tag_baseline import fit_tag_baseline

    embeddings = np.asarray(embeddings, dtype=np.float64)
    row = {}
    for r, tid in enumerate(track_ids):
        row.setdefault(tid, r)
    found = {name: [t for t in dict.fromkeys(splits.get(name) or [])
                    if t in row and t in targets and np.all(np.isfinite(embeddings[row[t]]))]
             for name in ("train", "valid", "test")}
    for name in ("train", "valid"):
        if not found[name]:
            raise ValueError(f"the linear probe needs {name} tracks with an embedding and a tag "
                             f"vector (found none of {len(splits.get(name) or [])})")

    def part(name):
        x = embeddings[[row[t] for t in found[name]]] if found[name] else \
            np.zeros((0, embeddings.shape[1]))
        y = np.stack([np.asarray(targets[t], dtype=np.float64).reshape(-1)
                      for t in found[name]]) if found[name] else None
        return x, y

    (train_x, train_y), (valid_x, valid_y) = part("train"), part("valid")
    probe = fit_tag_baseline(train_x, train_y, valid_x, valid_y,
                             Cs=PROBE_CS if Cs is None else Cs, seed=seed)
    test_x, _ = part("test")
    scores = probe.predict_scores(test_x) if len(test_x) else np.zeros((0, probe.n_tags))
    info = {"C": probe.C_, "valid_roc_auc_by_C": dict(probe.valid_scores_),
            "n_train": len(found["train"]), "n_valid": len(found["valid"]),
            "n_test": len(found["test"]), "dim": int(embeddings.shape[1])}
    return found["test"], scores, info


class AudioEmbedder:
    """Embeddings of audio files with a tag model: the pipeline's features, then the model.

    The spectrogram is the service's, computed exactly as the ``Spectrograms``
    task does (:func:`krotos.inference.clip_spectrogram`); the embedding is the mean over
    the clip's windows (:func:`krotos.inference.window_starts`).

    Parameters
    ----------
    model_path : str
        A tag model file or ``TrainTagModel`` folder.
    extract_params : dict, optional
        The extraction parameters (a manifest's ``params``); default: the
        model's ``features.json``. Given both, they must agree.
    hop_frames, max_windows : int, optional
    batch_size : int

    Attributes
    ----------
    dim, window_frames, n_mels : int
    model_path : str
    """

    def __init__(self, model_path, extract_params=None, *, hop_frames=None, max_windows=None,
                 batch_size=64):
        import tensorflow as tf

        from krotos.inference import extract_params_from_manifest
        from krotos.model.network import load_model, model_input_shape

        self.model_path = model_file(model_path)
        recorded = model_features(self.model_path)
        if extract_params is None:
            if recorded is None:
                raise ValueError(f"{self.model_path} records no features.json: give the "
                                 f"extraction parameters (a spectrogram manifest)")
            extract_params = recorded
        else:
            check_same_features(self.model_path, extract_params, "the extraction parameters")
        self.params = extract_params_from_manifest(extract_params)
        self.model = embedding_model(load_model(self.model_path))
        frames, n_mels = model_input_shape(self.model)
        if n_mels != self.params.n_mels:
            raise ValueError(f"{self.model_path} takes {n_mels} mel bands, the extraction "
                             f"parameters give {self.params.n_mels}")
        self.window_frames, self.n_mels = int(frames), int(n_mels)
        self.dim = int(self.model.outputs[0].shape[-1])
        self.hop_frames, self.max_windows, self.batch_size = hop_frames, max_windows, batch_size
        self.min_seconds = (self.window_frames - 1) * self.params.hop_length / \
            self.params.sample_rate
        spec = tf.TensorSpec([None, self.window_frames, self.n_mels], tf.float32)
        self._forward = tf.function(lambda x: self.model(x, training=False),
                                    input_signature=[spec])

    def spectrogram(self, path: str | os.PathLike) -> np.ndarray:
        """Log-mel frames of an audio file, as a shard would hold them.

        Raises
        ------
        krotos.inference.AudioError
        """
        from krotos.inference import clip_spectrogram

        return clip_spectrogram(path, self.params, self.window_frames, name=str(path))[0]

    def embed_spectrogram(self, mel: np.ndarray) -> tuple[np.ndarray, int]:
        """Window-averaged embedding ``(dim,)`` float32 of one spectrogram, and its windows."""
        from krotos.inference import window_starts

        mel = np.ascontiguousarray(mel, dtype=np.float32)
        starts = window_starts(len(mel), self.window_frames, self.hop_frames, self.max_windows)
        windows = np.lib.stride_tricks.sliding_window_view(
            mel, self.window_frames, axis=0)[starts].transpose(0, 2, 1)
        total = np.zeros(self.dim, dtype=np.float64)
        for i in range(0, len(windows), self.batch_size):
            total += self._forward(np.ascontiguousarray(windows[i:i + self.batch_size])
                                   ).numpy().sum(axis=0)
        return (total / len(windows)).astype(np.float32), len(windows)

    def embed(self, path: str | os.PathLike) -> dict:
        """``{"vector": [...], "windows": n}`` of an audio file (AudioError if unusable)."""
        vector, n = self.embed_spectrogram(self.spectrogram(path))
        return {"vector": [float(v) for v in vector], "windows": int(n)}
