"""Embed new audio with the trained models: tags and latent factors of one clip.

An :class:`Embedder` loads the tag model, the latent-factor model and the
spectrogram extraction parameters once, then turns any audio file (or its
bytes) into ``{"tags": {tag: probability}, "vector": [...], "duration": s}``.

The spectrogram is computed by the very functions the pipeline's
``Spectrograms`` task uses (:mod:`krotos.audio.decode`, ``resample``,
``features``) with the parameters recorded in the spectrogram manifest, and
rounded to the shards' storage type, so that a file seen here gets exactly
the input the models were trained and evaluated on. A clip's prediction is
the mean over its windows, planned by :func:`krotos.model.data.window_plan`
as in the pipeline's evaluation.
"""

import dataclasses
import hashlib
import json
import os
import tempfile
import time
import types

import numpy as np

from krotos.audio.decode import DecodeError, load_audio
from krotos.audio.extract import ExtractParams
from krotos.audio.features import log_mel
from krotos.audio.resample import resample

#: Stable codes of :class:`AudioError` (also the service's error codes).
EMPTY = "empty"
UNDECODABLE = "undecodable"
TOO_SHORT = "too_short"
SILENT = "silent"


class AudioError(ValueError):
    """Audio that cannot be embedded; ``code`` says why, the message names the input."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def extract_params_from_manifest(params):
    """:class:`~krotos.audio.extract.ExtractParams` from a manifest's ``params`` dict.

    Keys that are not extraction parameters (``log_compression``,
    ``frame_axis``) are descriptive and ignored.
    """
    if dict(params).get("feature") == "echonest":
        raise ValueError("this model was trained on Echo Nest segment features of MSD files "
                         "([krotos] features = echonest), not on audio: it cannot embed "
                         "audio files; use a model trained with features = mel")
    names = {f.name for f in dataclasses.fields(ExtractParams)}
    return ExtractParams(**{k: v for k, v in dict(params).items() if k in names})


def window_starts(n_frames, window_frames, hop_frames=None, max_windows=None):
    """Start frames of the windows of one clip, as the pipeline's evaluation plans them."""
    from krotos.model.data import window_plan

    clip = types.SimpleNamespace(n_frames=[int(n_frames)])
    return window_plan(clip, window_frames, hop_frames=hop_frames, max_windows=max_windows)[1]


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Embedder:
    """Tag probabilities and latent vector of audio clips, models loaded once.

    Parameters
    ----------
    tag_model : str
        ``model.keras`` of the tag model (``TrainTagModel``).
    vocabulary : sequence of str or str
        Tag names in output order, or the path of ``vocabulary.json``.
    latent_model : str
        ``model.keras`` of the latent-factor model (``FinetuneLatents``).
    extract_params : dict or ExtractParams
        The spectrogram manifest's ``params``.
    hop_frames, max_windows : int, optional
        Window plan of a clip (default: non-overlapping windows, all of them).
    batch_size : int
        Windows per forward pass.

    Attributes
    ----------
    window_frames, n_mels, n_factors : int
    min_seconds : float
        Shortest audio that fills one model window.
    model_id : str
        Hash of both models' files and the extraction parameters: a cache key
        that changes whenever a model is retrained.
    """

    def __init__(self, tag_model, vocabulary, latent_model, extract_params, *,
                 hop_frames=None, max_windows=None, batch_size=64):
        import tensorflow as tf

        from krotos.model.network import load_model, model_input_shape

        if isinstance(vocabulary, (str, os.PathLike)):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = json.load(f)
        self.vocabulary = [str(t) for t in vocabulary]
        self.params = (extract_params if isinstance(extract_params, ExtractParams)
                       else extract_params_from_manifest(extract_params))
        self.tag_model = load_model(tag_model)
        self.latent_model = load_model(latent_model)
        frames, n_mels = model_input_shape(self.tag_model)
        latent_frames, latent_mels = model_input_shape(self.latent_model)
        if (frames, n_mels) != (latent_frames, latent_mels):
            raise ValueError(f"{tag_model} takes windows of {(frames, n_mels)} but "
                             f"{latent_model} takes {(latent_frames, latent_mels)}")
        if n_mels != self.params.n_mels:
            raise ValueError(f"the models take {n_mels} mel bands, the extraction parameters "
                             f"give {self.params.n_mels}")
        n_tags = int(self.tag_model.outputs[0].shape[-1])
        if n_tags != len(self.vocabulary):
            raise ValueError(f"{tag_model} has {n_tags} outputs but the vocabulary has "
                             f"{len(self.vocabulary)} tags")
        self.window_frames = int(frames or 130)
        self.n_mels = int(n_mels)
        self.n_factors = int(self.latent_model.outputs[0].shape[-1])
        self.hop_frames = hop_frames
        self.max_windows = max_windows
        self.batch_size = int(batch_size)
        # Centred frames: 1 + n // hop of them, so (w - 1) hops fill one window.
        self.min_seconds = ((self.window_frames - 1) * self.params.hop_length
                            / self.params.sample_rate)
        digest = hashlib.sha256()
        for path in (tag_model, latent_model):
            digest.update(_file_digest(path).encode())
        digest.update(json.dumps(dataclasses.asdict(self.params), sort_keys=True).encode())
        digest.update(json.dumps(self.vocabulary).encode())
        self.model_id = digest.hexdigest()[:16]
        spec = tf.TensorSpec([None, self.window_frames, self.n_mels], tf.float32)
        # One traced function for both models: one dispatch per batch.
        self._forward = tf.function(
            lambda x: (self.tag_model(x, training=False), self.latent_model(x, training=False)),
            input_signature=[spec])
        # Trace the model and warm up librosa (numba compiles on first use) now,
        # so that the first request does not pay for it.
        self._forward(np.zeros((1, self.window_frames, self.n_mels), dtype=np.float32))
        p = self.params
        log_mel(np.zeros(p.n_fft * 2, dtype=np.float32), sample_rate=p.sample_rate,
                n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels, fmin=p.fmin,
                fmax=p.fmax, amin=p.amin)

    @classmethod
    def from_files(cls, files, **kwargs):
        """An Embedder from a :class:`krotos.locate.ModelFiles`."""
        from krotos.audio.manifest import read_manifest

        return cls(files.tag_model, files.vocabulary, files.latent_model,
                   read_manifest(files.manifest)["params"], **kwargs)

    def describe(self):
        """JSON-able summary of the loaded models."""
        return {"model_id": self.model_id, "n_tags": len(self.vocabulary),
                "n_factors": self.n_factors, "window_frames": self.window_frames,
                "min_seconds": round(self.min_seconds, 3), "n_mels": self.n_mels,
                "sample_rate": self.params.sample_rate, "hop_length": self.params.hop_length}

    def spectrogram(self, source, name=None):
        """Log-mel frames ``(frames, n_mels)`` of a file or its bytes, and its duration.

        Raises
        ------
        AudioError
            ``empty``, ``undecodable``, ``too_short`` or ``silent``.
        """
        samples, sr, name = _decode(source, name)
        duration = len(samples) / sr
        if duration < self.min_seconds:
            raise AudioError(TOO_SHORT, f"{name}: {duration:.2f} s of audio is shorter than "
                                        f"the model window ({self.min_seconds:.2f} s)")
        peak = float(np.max(np.abs(samples)))
        peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
        if peak_db < self.params.silence_db:
            raise AudioError(SILENT, f"{name}: silent (peak {peak_db:.1f} dBFS < "
                                     f"{self.params.silence_db:g} dBFS)")
        p = self.params
        samples = resample(samples, sr, p.sample_rate, p.resampler, p.resample_quality)
        mel = log_mel(samples, sample_rate=p.sample_rate, n_fft=p.n_fft,
                      hop_length=p.hop_length, n_mels=p.n_mels, fmin=p.fmin, fmax=p.fmax,
                      amin=p.amin)
        # The shards store this dtype: round the same way.
        mel = mel.astype(p.dtype).astype(np.float32)
        if not np.all(np.isfinite(mel)):
            raise AudioError(UNDECODABLE, f"{name}: spectrogram has NaN or inf")
        if mel.shape[0] < self.window_frames:
            raise AudioError(TOO_SHORT, f"{name}: {mel.shape[0]} spectrogram frames, the "
                                        f"model window needs {self.window_frames}")
        return mel, duration

    def predict_spectrogram(self, mel):
        """Window-averaged ``(tag probabilities, latent vector)`` of one spectrogram."""
        mel = np.ascontiguousarray(mel, dtype=np.float32)
        starts = window_starts(len(mel), self.window_frames, self.hop_frames, self.max_windows)
        windows = np.lib.stride_tricks.sliding_window_view(
            mel, self.window_frames, axis=0)[starts].transpose(0, 2, 1)
        tags = np.zeros(len(self.vocabulary), dtype=np.float64)
        vector = np.zeros(self.n_factors, dtype=np.float64)
        for i in range(0, len(windows), self.batch_size):
            batch = np.ascontiguousarray(windows[i:i + self.batch_size])
            t, v = self._forward(batch)
            tags += t.numpy().sum(axis=0)
            vector += v.numpy().sum(axis=0)
        return (tags / len(windows)).astype(np.float32), (vector / len(windows)).astype(
            np.float32), len(windows)

    def embed(self, source, name=None):
        """Tags and latent vector of one clip.

        Parameters
        ----------
        source : str, os.PathLike or bytes
            An audio file that soundfile or audioread reads, or its content.
        name : str, optional
            How error messages call the input (default: the path, or "audio").

        Returns
        -------
        dict
            ``tags`` (``{tag: probability}``, most probable first), ``vector``
            (the predicted latent factors, a list), ``duration`` (seconds),
            ``windows`` (model windows averaged), ``seconds`` (time taken),
            ``model_id``.

        Raises
        ------
        AudioError
        """
        started = time.perf_counter()
        mel, duration = self.spectrogram(source, name)
        tags, vector, n_windows = self.predict_spectrogram(mel)
        order = np.argsort(-tags, kind="stable")
        return {
            "tags": {self.vocabulary[j]: round(float(tags[j]), 6) for j in order},
            "vector": [float(v) for v in vector],
            "duration": round(float(duration), 3),
            "windows": int(n_windows),
            "seconds": round(time.perf_counter() - started, 4),
            "model_id": self.model_id,
        }


def _decode(source, name):
    """``(mono samples, sample rate, name)`` of a path or of bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "audio"
        data = bytes(source)
        if not data:
            raise AudioError(EMPTY, f"{name}: empty (0 bytes)")
        # audioread (the fallback decoder) needs a real file.
        fd, tmp = tempfile.mkstemp(prefix="krotos-audio-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            samples, sr = _load(tmp, name)
        finally:
            os.remove(tmp)
        return samples, sr, name
    path = os.fspath(source)
    name = name or path
    if not os.path.exists(path):
        raise AudioError(UNDECODABLE, f"{name}: no such file")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise AudioError(EMPTY, f"{name}: empty file (0 bytes)")
    return (*_load(path, name), name)


def _load(path, name):
    try:
        return load_audio(path)
    except DecodeError as exc:
        message = str(exc)
        if message.startswith(path):
            message = name + message[len(path):]
        code = EMPTY if "0 samples" in message else UNDECODABLE
        raise AudioError(code, message) from exc
