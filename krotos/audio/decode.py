"""Decode an audio file to a mono float32 signal.

soundfile (libsndfile >= 1.1) reads WAV, FLAC, Ogg/Vorbis, Opus and MP3, which
covers 7digital previews and the usual local collections. What it cannot read
(AAC/M4A, odd containers) goes to audioread, which uses ffmpeg or GStreamer
when one of them is installed.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import soundfile as sf


class DecodeError(Exception):
    """The file could not be decoded; the message names the file and why."""


#: A file that decodes to less than this fraction of the length its header
#: announces (e.g. an mp3 Xing/Info frame count) was cut off.
MIN_DECODED_FRACTION = 0.95


def _read_soundfile(path):
    with sf.SoundFile(path) as f:
        announced = f.frames
        data = f.read(dtype="float32", always_2d=True)
        sr = f.samplerate
    if 0 < announced and data.shape[0] < MIN_DECODED_FRACTION * announced:
        raise DecodeError(
            f"{path}: truncated: decoded {data.shape[0] / sr:.2f} s of the "
            f"{announced / sr:.2f} s its header announces")
    return data, int(sr)


def _read_audioread(path):
    # Imported lazily: audioread probes its backends on first use. Its raw
    # backend imports stdlib modules deprecated in 3.11 (aifc, audioop, sunau),
    # on first open, hence the filter around the open as well.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioread

        with audioread.audio_open(path) as f:
            sr, channels = int(f.samplerate), int(f.channels)
            blocks = [np.frombuffer(buf, dtype="<i2") for buf in f]
    pcm = np.concatenate(blocks) if blocks else np.zeros(0, dtype="<i2")
    data = (pcm.astype(np.float32) / 32768.0).reshape(-1, channels)
    return data, sr


def _what_is(path):
    # libsndfile says "File does not exist or is not a regular file" for any
    # unknown format; the first bytes tell the user what the file really is.
    from krotos.sources.sniff import describe, sniff

    with open(path, "rb") as f:
        head = f.read(64)
    kind = sniff(head)
    return f"corrupt {kind} data" if kind else describe(head)


def to_mono(data: np.ndarray) -> np.ndarray:
    """Average the channels of a ``(samples, channels)`` array.

    An average rather than a sum keeps the level of a mono source played on
    both channels unchanged.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        return data
    if data.shape[1] == 1:
        return data[:, 0]
    # A matrix-vector product: numpy's mean() along a short inner axis takes
    # ~20 ms on a 30 s stereo clip (longer than decoding it), this ~0.3 ms.
    weights = np.full(data.shape[1], 1.0 / data.shape[1], dtype=np.float32)
    return data @ weights


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 samples in [-1, 1].

    Parameters
    ----------
    path : str or os.PathLike
        Any file soundfile reads (wav, flac, ogg, mp3, ...) or, failing that,
        one audioread reads.

    Returns
    -------
    samples : np.ndarray
        1-D float32, channels averaged.
    sample_rate : int
        The file's own sample rate (no resampling here).

    Raises
    ------
    DecodeError
        Empty file, or neither decoder could read it; the message names the
        file and both decoders' complaints.
    """
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise DecodeError(f"{path}: cannot open ({exc.strerror})") from exc
    if size == 0:
        raise DecodeError(f"{path}: empty file (0 bytes)")
    try:
        data, sr = _read_soundfile(path)
    except (sf.LibsndfileError, RuntimeError, ValueError) as sf_exc:
        try:
            data, sr = _read_audioread(path)
        except Exception as ar_exc:  # audioread raises many unrelated types
            raise DecodeError(
                f"{path}: not decodable: {_what_is(path)} (soundfile: {sf_exc}; "
                f"audioread: {type(ar_exc).__name__} {ar_exc})".rstrip()) from ar_exc
    if data.shape[0] == 0:
        raise DecodeError(f"{path}: decoded to 0 samples")
    samples = to_mono(data)
    if not np.all(np.isfinite(samples)):
        raise DecodeError(f"{path}: decoded samples contain NaN or inf")
    return samples, sr
