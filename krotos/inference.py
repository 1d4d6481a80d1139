"""Embed new audio with the trained models: tags and latent factors of one clip.

An :class:`Embedder` loads the tag model, the latent-factor model and the
spectrogram extraction parameters once, then turns any audio file (or its
bytes) into ``{"tags": {tag: probability}, "vector": [...], "duration": s}``.

**One feature path.** :func:`clip_spectrogram` computes the spectrogram
with the pipeline's own extraction function
(:func:`krotos.audio.extract.spectrogram_of_samples`, the second half of what
the ``Spectrograms`` task runs on every file, rounding included) with the
parameters recorded in the spectrogram manifest, so that a file seen here
gets exactly the input the models were trained and evaluated on. A clip's prediction is the mean over
its windows, planned by :func:`krotos.model.data.window_plan` as in the
pipeline's evaluation.

**Decoding with limits.** Audio from strangers is decoded by
:func:`decode_limited`, which reads the header first and refuses sample
rates outside :class:`DecodeLimits` and more channels than it allows, then
reads block by block, mixing each block to mono at once, and stops after
``max_seconds``: a 4 KB WAV whose header claims a 1 Hz rate, or one that
claims hours of audio, costs nothing. Bytes must be a container libsndfile
reads (WAV, FLAC, Ogg, MP3, AIFF: :func:`audio_container`); playlists and
containers that can name other URLs are refused, and no external decoder
(ffmpeg) ever sees them. Per job, the decoded audio then takes at most
``max_seconds * max_sample_rate * 4`` bytes (mono float32), and the
spectrogram work is proportional to ``max_seconds``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
import types
from typing import TYPE_CHECKING

import numpy as np

from krotos.audio.decode import MIN_DECODED_FRACTION, DecodeError, load_audio, to_mono
from krotos.audio.extract import ExtractParams, spectrogram_of_samples
from krotos.shards.status import Rejected

if TYPE_CHECKING:
    from krotos.locate import ModelFiles

#: What inference reads audio from: a file, or the file's content.
AudioSource = bytes | str | os.PathLike

#: Stable codes of :class:`AudioError` (also the service's error codes).
EMPTY = "empty"
UNDECODABLE = "undecodable"
TOO_SHORT = "too_short"
SILENT = "silent"
NOT_AUDIO = "not_audio"
BAD_SAMPLE_RATE = "unsupported_sample_rate"
TOO_MANY_CHANNELS = "too_many_channels"

#: Containers accepted in bytes (all read by libsndfile, none can name a URL).
CONTAINERS = ("wav", "flac", "ogg", "mp3", "aiff")
#: Markers of playlists (HLS, ffmpeg concat, PLS). Looked for in the whole
#: body: a playlist may hide behind an ID3 tag, which decoders skip.
PLAYLIST_MARKERS = (b"#EXTM3U", b"#EXT-X-", b"#EXTINF:", b"ffconcat version", b"[playlist]")
_BLOCK_FRAMES = 1 << 16


class AudioError(ValueError):
    """Audio that cannot be embedded; ``code`` says why, the message names the input."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class DecodeLimits:
    """What :func:`decode_limited` accepts.

    Parameters
    ----------
    max_seconds : float
        Audio past this point is not decoded (the clip is cut there, and the
        result says so); ``None``: no cut.
    min_sample_rate, max_sample_rate : int
        Accepted sample rates, Hz, read from the header before decoding.
    max_channels : int
        More channels are refused before decoding.
    """

    max_seconds: float = 300.0
    min_sample_rate: int = 8000
    max_sample_rate: int = 96000
    max_channels: int = 8


def audio_container(data: bytes, name: str = "audio") -> str:
    """The container of audio bytes, refusing anything the service must not decode.

    Parameters
    ----------
    data : bytes
    name : str
        How the message calls the input.

    Returns
    -------
    str
        One of :data:`CONTAINERS`.

    Raises
    ------
    AudioError
        ``empty``, or ``not_audio`` for text, pages, playlists (HLS ``.m3u8``,
        PLS, ffmpeg concat lists, also behind an ID3 tag) and any container
        libsndfile does not read (MP4/M4A, video, unknown bytes).
    """
    from krotos.sources.sniff import describe, sniff

    if not data:
        raise AudioError(EMPTY, f"{name}: empty (0 bytes)")
    head = bytes(data[:64])
    for marker in PLAYLIST_MARKERS:
        if marker in data:
            raise AudioError(NOT_AUDIO, f"{name}: a playlist ({marker.decode()!r} found), "
                                        f"not audio; playlists are refused")
    kind = sniff(head)
    if kind not in CONTAINERS:
        what = ("an MP4/M4A container (convert it to mp3, ogg, flac or wav)"
                if head[4:8] == b"ftyp" else describe(head))
        raise AudioError(NOT_AUDIO, f"{name}: not audio the service reads ({what})")
    return kind


def _check_header(f, name, limits):
    sr, channels = int(f.samplerate), int(f.channels)
    if not limits.min_sample_rate <= sr <= limits.max_sample_rate:
        raise AudioError(BAD_SAMPLE_RATE, f"{name}: sample rate {sr} Hz is outside the "
                                          f"accepted {limits.min_sample_rate}-"
                                          f"{limits.max_sample_rate} Hz")
    if not 1 <= channels <= limits.max_channels:
        raise AudioError(TOO_MANY_CHANNELS, f"{name}: {channels} channels (at most "
                                            f"{limits.max_channels} are accepted)")
    return sr, channels


def decode_limited(source: AudioSource, name: str | None = None,
                   limits: DecodeLimits = DecodeLimits()) -> tuple[np.ndarray, int, bool]:
    """Decode audio bytes or a file to mono float32, within ``limits``.

    Parameters
    ----------
    source : bytes or str or os.PathLike
        Bytes must pass :func:`audio_container`. A file libsndfile cannot
        read falls back to :func:`krotos.audio.decode.load_audio` (audioread:
        ffmpeg or GStreamer) without the limits: local files are the user's own.
    name : str, optional
        How messages call the input (default: the path, or "audio").
    limits : DecodeLimits

    Returns
    -------
    samples : np.ndarray
        1-D float32 (channels averaged as the pipeline does).
    sample_rate : int
    cut : bool
        Whether decoding stopped at ``limits.max_seconds``.

    Raises
    ------
    AudioError
        ``empty``, ``not_audio``, ``undecodable``, ``unsupported_sample_rate``
        or ``too_many_channels``; messages name the input, never a temporary path.
    """
    import soundfile as sf

    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "audio"
        data = bytes(source)
        kind = audio_container(data, name)
        opener = io.BytesIO(data)
    else:
        path = os.fspath(source)
        name = name or path
        if not os.path.exists(path):
            raise AudioError(UNDECODABLE, f"{name}: no such file")
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            raise AudioError(EMPTY, f"{name}: empty file (0 bytes)")
        kind, opener = None, path
    try:
        f = sf.SoundFile(opener)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        if kind is not None:
            raise AudioError(UNDECODABLE, f"{name}: not decodable: corrupt {kind} data "
                                          f"({exc})") from None
        return (*_load_fallback(opener, name), False)
    with f:
        sr, channels = _check_header(f, name, limits)
        announced = f.frames if f.frames > 0 else None
        cap = None if limits.max_seconds is None else int(limits.max_seconds * sr)
        blocks, read, cut = [], 0, False
        try:
            while True:
                want = _BLOCK_FRAMES if cap is None else min(_BLOCK_FRAMES, cap - read)
                if want <= 0:
                    # Cut only if there is more to read.
                    cut = len(f.read(1, dtype="float32", always_2d=True)) > 0
                    break
                block = f.read(want, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                blocks.append(to_mono(block))
                read += len(block)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioError(UNDECODABLE, f"{name}: not decodable: corrupt {kind or 'audio'} "
                                          f"data ({exc})") from None
    if read == 0:
        raise AudioError(EMPTY, f"{name}: decoded to 0 samples")
    if not cut and announced and read < MIN_DECODED_FRACTION * announced:
        raise AudioError(UNDECODABLE, f"{name}: truncated: decoded {read / sr:.2f} s of the "
                                      f"{announced / sr:.2f} s its header announces")
    samples = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    if not np.all(np.isfinite(samples)):
        raise AudioError(UNDECODABLE, f"{name}: decoded samples contain NaN or inf")
    return samples, sr, cut


def _load_fallback(path, name):
    try:
        return load_audio(path)
    except DecodeError as exc:
        message = str(exc).replace(path, name)
        code = EMPTY if "0 samples" in message else UNDECODABLE
        raise AudioError(code, message) from exc


def extract_params_from_manifest(params: dict) -> ExtractParams:
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


def window_starts(n_frames: int, window_frames: int, hop_frames: int | None = None,
                  max_windows: int | None = None) -> np.ndarray:
    """Start frames of the windows of one clip, as the pipeline's evaluation plans them."""
    from krotos.model.data import window_plan

    clip = types.SimpleNamespace(n_frames=[int(n_frames)])
    return window_plan(clip, window_frames, hop_frames=hop_frames, max_windows=max_windows)[1]


def clip_spectrogram(source: AudioSource, params: ExtractParams, window_frames: int,
                     name: str | None = None,
                     limits: DecodeLimits = DecodeLimits()) -> tuple[np.ndarray, dict]:
    """Log-mel frames of a file or its bytes, as the ``Spectrograms`` task makes them.

    The one feature path of inference (the service, ``krotos predict`` and
    ``krotos similar``): decoded by :func:`decode_limited`, then computed by
    the pipeline's own :func:`~krotos.audio.extract.spectrogram_of_samples`,
    which also rounds the frames to the shards' storage type; only the
    shortest accepted clip differs: one model window instead of
    ``params.min_seconds``.

    Parameters
    ----------
    source : bytes or str or os.PathLike
    params : ExtractParams
    window_frames : int
        Frames of one model window: fewer are ``too_short``.
    name : str, optional
        How messages call the input (default: the path, or "audio").
    limits : DecodeLimits

    Returns
    -------
    mel : np.ndarray
        ``(frames, n_mels)`` float32.
    info : dict
        ``duration`` (seconds decoded) and ``cut`` (decoding stopped at
        ``limits.max_seconds``).

    Raises
    ------
    AudioError
        ``empty``, ``not_audio``, ``undecodable``, ``unsupported_sample_rate``,
        ``too_many_channels``, ``too_short`` or ``silent``.
    """
    if name is None and not isinstance(source, (bytes, bytearray, memoryview)):
        name = os.fspath(source)
    samples, sr, cut = decode_limited(source, name, limits)
    name = name or "audio"
    duration = len(samples) / sr
    # Centred frames: 1 + n // hop of them, so (w - 1) hops fill one window.
    min_seconds = (window_frames - 1) * params.hop_length / params.sample_rate
    try:
        mel = spectrogram_of_samples(samples, sr, params, name, min_seconds=min_seconds)
    except Rejected as rej:
        if rej.status == TOO_SHORT:
            raise AudioError(TOO_SHORT, f"{name}: {duration:.2f} s of audio is shorter than "
                                        f"the model window ({min_seconds:.2f} s)") from None
        raise AudioError(rej.status, rej.reason) from None
    if mel.shape[0] < window_frames:
        raise AudioError(TOO_SHORT, f"{name}: {mel.shape[0]} spectrogram frames, the model "
                                    f"window needs {window_frames}")
    return mel, {"duration": duration, "cut": cut}


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
        ``model.keras`` of the latent-factor model (``FinetuneModel``).
    extract_params : dict or ExtractParams
        The spectrogram manifest's ``params``.
    hop_frames, max_windows : int, optional
        Window plan of a clip (default: non-overlapping windows, all of them).
    batch_size : int
        Windows per forward pass.
    limits : DecodeLimits, optional
        What audio is decoded (default :class:`DecodeLimits`'s defaults).

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
                 hop_frames=None, max_windows=None, batch_size=64, limits=None):
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
        self.limits = limits or DecodeLimits()
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
        tone = 0.5 * np.sin(np.arange(4 * self.params.n_fft, dtype=np.float32) / 3)
        spectrogram_of_samples(tone, self.params.sample_rate, self.params, "warm-up",
                               min_seconds=0)

    @classmethod
    def from_files(cls, files: ModelFiles, **kwargs: object) -> Embedder:
        """An Embedder from a :class:`krotos.locate.ModelFiles`."""
        from krotos.shards.manifest import read_manifest

        return cls(files.tag_model, files.vocabulary, files.latent_model,
                   read_manifest(files.manifest)["params"], **kwargs)

    def describe(self) -> dict:
        """JSON-able summary of the loaded models."""
        return {"model_id": self.model_id, "n_tags": len(self.vocabulary),
                "n_factors": self.n_factors, "window_frames": self.window_frames,
                "min_seconds": round(self.min_seconds, 3), "n_mels": self.n_mels,
                "sample_rate": self.params.sample_rate, "hop_length": self.params.hop_length}

    def spectrogram(self, source: AudioSource, name: str | None = None) -> tuple[np.ndarray, dict]:
        """Log-mel frames ``(frames, n_mels)`` of a file or its bytes, and the decoding.

        :func:`clip_spectrogram` with this embedder's parameters, limits and
        window: the frames a shard would hold for the same file.

        Returns
        -------
        mel : np.ndarray
        info : dict
            ``duration`` (seconds decoded) and ``cut`` (decoding stopped at
            ``limits.max_seconds``).

        Raises
        ------
        AudioError
            ``empty``, ``not_audio``, ``undecodable``, ``unsupported_sample_rate``,
            ``too_many_channels``, ``too_short`` or ``silent``.
        """
        return clip_spectrogram(source, self.params, self.window_frames, name=name,
                                limits=self.limits)

    def predict_spectrogram(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Window-averaged ``(tag probabilities, latent vector, windows averaged)`` of one spectrogram."""
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

    def embed(self, source: AudioSource, name: str | None = None) -> dict:
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
            ``windows`` (model windows averaged), ``cut`` (the audio was
            longer than ``limits.max_seconds`` and cut there), ``seconds``
            (time taken), ``model_id``.

        Raises
        ------
        AudioError
        """
        started = time.perf_counter()
        mel, info = self.spectrogram(source, name)
        tags, vector, n_windows = self.predict_spectrogram(mel)
        order = np.argsort(-tags, kind="stable")
        return {
            "tags": {self.vocabulary[j]: round(float(tags[j]), 6) for j in order},
            "vector": [float(v) for v in vector],
            "duration": round(float(info["duration"]), 3),
            "windows": int(n_windows),
            "cut": bool(info["cut"]),
            "seconds": round(time.perf_counter() - started, 4),
            "model_id": self.model_id,
        }


