"""Extraction of one shard: preview files in, one HDF5 shard of log-mels out.

The shard goes into the shard store (:mod:`krotos.shards`) as the Echo Nest
features do; a refused clip raises :class:`krotos.shards.status.Rejected`.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from krotos.audio.decode import DecodeError, load_audio
from krotos.audio.features import log_mel
from krotos.audio.resample import check_resampler, resample
from krotos.progress import Progress, no_progress
from krotos.shards import status as st
from krotos.shards.manifest import SHARD_FILE, write_results
from krotos.shards.writer import ShardWriter


@dataclasses.dataclass(frozen=True)
class ExtractParams:
    """Everything that determines the spectrogram of a clip.

    Stored as the shard's attributes and in the manifest, so that a reader can
    tell how the frames were made.

    Parameters
    ----------
    sample_rate : int
        Rate the audio is resampled to before the STFT.
    n_fft, hop_length, n_mels, fmin, fmax, amin
        See :func:`krotos.audio.features.log_mel`.
    resampler, resample_quality : str
        See :func:`krotos.audio.resample.resample`.
    dtype : {'float16', 'float32'}
        Storage type in the shard.
    min_seconds : float
        Clips shorter than this are recorded as ``too_short``.
    silence_db : float
        Clips whose peak is below this level (dBFS) are recorded as ``silent``.
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = None
    amin: float = 1e-10
    resampler: str = "soxr"
    resample_quality: str = None
    dtype: str = "float16"
    min_seconds: float = 5.0
    silence_db: float = -60.0

    def __post_init__(self):
        resampler, quality = check_resampler(self.resampler, self.resample_quality)
        object.__setattr__(self, "resample_quality", quality)
        if self.dtype not in ("float16", "float32"):
            raise ValueError(f"dtype must be float16 or float32, got {self.dtype!r}")
        fmax = self.sample_rate / 2 if self.fmax in (None, 0, 0.0) else self.fmax
        if not 0 <= self.fmin < fmax <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin="
                             f"{self.fmin}, fmax={self.fmax}, sample_rate={self.sample_rate}")
        object.__setattr__(self, "fmax", float(fmax))

    def as_dict(self) -> dict:
        """JSON-able dict of the parameters (plus the log compression used)."""
        d = dataclasses.asdict(self)
        d["log_compression"] = "10*log10(max(mel_power, amin)), ref=1.0"
        d["frame_axis"] = 0
        return d


def spectrogram_of_file(path: str | os.PathLike, params: ExtractParams,
                        name: str | None = None) -> np.ndarray:
    """Decode, check, resample and compute the log-mel of one file.

    Parameters
    ----------
    path : str or os.PathLike
        Audio file.

    params : ExtractParams
    name : str, optional
        How reasons name the file (default: ``path``).

    Returns
    -------
    np.ndarray
        ``(frames, n_mels)`` float32.

    Raises
    ------
    krotos.shards.status.Rejected
        ``undecodable``, ``too_short`` or ``silent``, with a reason naming the file.
    """
    path = os.fspath(path)
    name = path if name is None else name
    try:
        samples, sr = load_audio(path)
    except DecodeError as exc:
        raise st.Rejected(st.UNDECODABLE, str(exc).replace(path, name)) from exc
    return spectrogram_of_samples(samples, sr, params, name)


def spectrogram_of_samples(samples: np.ndarray, sr: int, params: ExtractParams, name: str,
                           min_seconds: float | None = None) -> np.ndarray:
    """Check, resample and compute the log-mel of decoded mono samples.

    The second half of :func:`spectrogram_of_file`, for callers that decode
    themselves (the web service decodes uploads with limits of its own). The
    frames come back rounded to the shards' storage type (``params.dtype``),
    so that every caller gets the very values a shard holds and a model reads.

    Parameters
    ----------
    samples : np.ndarray
        1-D float32 mono signal, as :func:`krotos.audio.decode.load_audio` returns.
    sr : int
        Its sample rate.
    params : ExtractParams
    name : str
        How reasons call the input.
    min_seconds : float, optional
        Shortest accepted clip (default ``params.min_seconds``).

    Returns
    -------
    np.ndarray
        ``(frames, n_mels)`` float32, holding ``params.dtype`` values.

    Raises
    ------
    krotos.shards.status.Rejected
        ``undecodable``, ``too_short`` or ``silent``.
    """
    min_seconds = params.min_seconds if min_seconds is None else min_seconds
    seconds = len(samples) / sr
    if seconds < min_seconds:
        raise st.Rejected(st.TOO_SHORT, f"{name}: {seconds:.2f} s < min_seconds="
                                     f"{min_seconds:g}")
    peak = float(np.max(np.abs(samples)))
    peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_db < params.silence_db:
        raise st.Rejected(st.SILENT, f"{name}: peak {peak_db:.1f} dBFS < silence_db="
                                  f"{params.silence_db:g}")
    samples = resample(samples, sr, params.sample_rate, params.resampler,
                       params.resample_quality)
    mel = log_mel(samples, sample_rate=params.sample_rate, n_fft=params.n_fft,
                  hop_length=params.hop_length, n_mels=params.n_mels,
                  fmin=params.fmin, fmax=params.fmax, amin=params.amin)
    # The one rounding to the storage type: the shard writer's cast is then exact.
    mel = mel.astype(params.dtype).astype(np.float32)
    if not np.all(np.isfinite(mel)):
        raise st.Rejected(st.UNDECODABLE, f"{name}: spectrogram has NaN or inf")
    return mel


def extract_shard(previews: list[dict], out_path: str, params: ExtractParams,
                  progress: Progress | None = None) -> dict[str, dict]:
    """Compute the spectrograms of one shard and write them to ``out_path``.

    Parameters
    ----------
    previews : list of dict
        One ``{"track_id", "path", "status", "reason"}`` per track, as written
        by :func:`krotos.sources.fetch.fetch_previews`; tracks whose status is
        not ``ok`` are passed through with their status.
    out_path : str
        Shard file to create (HDF5, :class:`krotos.shards.writer.ShardWriter`);
        it appears only once complete.
    params : ExtractParams
    progress : callable, optional
        ``progress(fraction, message)``, called after each track.

    Returns
    -------
    dict
        ``track_id -> {"status", "reason"}`` for every input track, in input
        order; only ``ok`` tracks are in the shard.
    """
    from threadpoolctl import threadpool_limits

    progress = progress or no_progress
    results = {}
    n = len(previews)
    # One shard is one core's work; parallelism comes from running shards in
    # several processes (Luigi --workers). OpenBLAS threads in each of them
    # would oversubscribe the cores and spin: measured on 2 cores, 2 workers
    # ran at 1.2x the naive baseline with them and 2.8x without.
    with threadpool_limits(limits=1, user_api="blas"), \
            ShardWriter(out_path, n_channels=params.n_mels, dtype=params.dtype,
                        attrs=params.as_dict()) as writer:
        for i, item in enumerate(previews):
            track_id = item["track_id"]
            if item.get("status", st.OK) != st.OK:
                results[track_id] = st.entry(item["status"], item.get("reason", ""))
            else:
                try:
                    mel = spectrogram_of_file(item["path"], params, item.get("name"))
                except st.Rejected as rej:
                    results[track_id] = rej.entry()
                else:
                    writer.append(track_id, mel)
                    results[track_id] = st.entry(st.OK)
            progress((i + 1) / n, f"{i + 1}/{n} tracks, {len(writer)} ok "
                                  f"({os.path.basename(out_path)})")
    return results


def extract_shard_files(previews_json: str, out_dir: str, params: ExtractParams,
                        progress: Progress | None = None,
                        previews_folder: str | None = None) -> dict[str, dict]:
    """The ``Spectrograms`` task's work: ``previews.json`` in, shard files out.

    Writes ``out_dir/shard.h5`` (:func:`extract_shard`) and
    ``out_dir/results.json`` (:func:`krotos.shards.manifest.write_results`).
    ``previews_folder`` is the dataset's folder
    that ``previews.json`` names local previews relative to (see
    :func:`krotos.sources.fetch.read_previews_json`); reasons name files as
    ``previews.json`` does.

    Returns
    -------
    dict
        The per-track results.
    """
    from krotos.sources.fetch import read_previews_json

    previews = read_previews_json(previews_json, previews_folder)
    results = extract_shard(previews, os.path.join(out_dir, SHARD_FILE), params,
                            progress=progress)
    write_results(out_dir, params.as_dict(), results)
    return results


_warmed = False


def warm_up() -> None:
    """Import and initialise everything extraction uses, once per process.

    librosa loads scipy.signal and numba-cached kernels lazily on first use,
    about 1.5 s. A process that forks workers (Luigi with ``--workers N``)
    calls this first so that every forked shard task inherits the loaded
    modules instead of paying for them again. librosa, scipy and soxr are
    safe to fork once loaded (no threads are started by importing them).
    """
    global _warmed
    if _warmed:
        return
    tone = np.sin(np.linspace(0, 2000, 8820, dtype=np.float32))
    y = resample(tone, 44100, 22050)
    log_mel(y, 22050)
    _warmed = True
