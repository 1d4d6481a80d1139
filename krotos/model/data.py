"""tf.data input pipeline over the HDF5 spectrogram shards (:mod:`krotos.shards`).

Nothing is loaded into memory ahead of time: an epoch is a *plan* of
``(track, start frame)`` pairs drawn with numpy, and a parallel ``map`` reads
each batch's windows from the shards (only the HDF5 chunks a window touches).

Shuffling: each epoch permutes the shards, groups them into blocks of
``shards_per_block`` and permutes every crop of every track of a block
together, so a batch mixes tracks of several shards while at most one block
of shard files is open at a time (the full MSD has hundreds of shards). This
is a shuffle buffer as large as a block, without the memory a buffer costs.

Windows are raw log-mel frames; the per-band standardization, with
statistics from :func:`band_statistics` on the training split, is the model's
first layer (see :mod:`krotos.model.network`), so the saved model carries it.

Augmentation (:class:`krotos.model.augment.Augmentation`, off by default)
happens in the same tf.data pipeline, on whole batches, after the windows are read: random gain,
circular time shift, SpecAugment-style time and frequency masks, and mixup.
Every draw is a stateless random op seeded from ``(seed, epoch, batch)``, so
an epoch is the same whether it runs in one go or after a resume, and training
stays deterministic per seed. The random *crop* is the epoch plan itself: each
window starts at a uniformly drawn frame of its clip (:func:`epoch_plan`).

Bad input: a shard whose band count differs from the expected ``n_mels``
raises; tracks absent from every shard, duplicated, or holding NaN/inf are
skipped and recorded (``TrackIndex.skipped``); a window holding NaN/inf met
during training gets sample weight 0 and is counted (:class:`ShardReaderPool`).
"""

import collections
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import h5py
import numpy as np
import numpy.typing as npt
import tensorflow as tf

from krotos.shards.reader import ShardReader
from krotos.model.augment import Augmentation, augment_batch  # noqa: F401 - re-exported
from krotos.progress import Progress, no_progress

if TYPE_CHECKING:
    from krotos.model.params import TrainingParams

log = logging.getLogger(__name__)


@dataclass
class TrackIndex:
    """Where each track of a split lives: shard, position in the shard, length.

    Attributes
    ----------
    shard_paths : list of str
    track_ids : list of str
    shard : np.ndarray of int64
        Index into ``shard_paths`` per track.
    position : np.ndarray of int64
        Position of the track inside its shard.
    n_frames : np.ndarray of int64
    n_mels : int
    skipped : dict
        ``track_id -> reason`` for requested tracks that are not usable.
    """

    shard_paths: list
    track_ids: list
    shard: np.ndarray
    position: np.ndarray
    n_frames: np.ndarray
    n_mels: int
    skipped: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.track_ids)

    def subset(self, keep: Iterable[str], reason: str = "excluded") -> "TrackIndex":
        """A new index with only the tracks in ``keep`` (the others recorded as skipped)."""
        keep = set(keep)
        mask = np.array([t in keep for t in self.track_ids], dtype=bool)
        skipped = dict(self.skipped)
        skipped.update({t: reason for t, m in zip(self.track_ids, mask) if not m})
        return TrackIndex(self.shard_paths, [t for t, m in zip(self.track_ids, mask) if m],
                          self.shard[mask], self.position[mask], self.n_frames[mask],
                          self.n_mels, skipped)

    def target_matrix(self, targets: dict) -> np.ndarray:
        """Stack ``targets[track_id]`` in index order as float32 ``(n_tracks, dim)``."""
        missing = [t for t in self.track_ids if t not in targets]
        if missing:
            raise KeyError(f"{len(missing)} tracks have no target, e.g. {missing[:3]}")
        if not self.track_ids:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([np.asarray(targets[t], dtype=np.float32).reshape(-1)
                         for t in self.track_ids])


def index_tracks(shard_paths: Sequence[str], track_ids: Iterable[str] | None = None,
                 n_mels: int | None = None) -> TrackIndex:
    """Locate tracks in shards, checking that every shard has the expected bands.

    Parameters
    ----------
    shard_paths : sequence of str
        Shard files (e.g. ``[s["path"] for s in manifest["shards"]]``).
    track_ids : iterable of str, optional
        The tracks wanted (a split); None takes every track of the shards.
        Returned in the given order (sorted when None).
    n_mels : int, optional
        Expected band count; default: that of the first shard.

    Returns
    -------
    TrackIndex

    Raises
    ------
    ValueError
        A shard whose band count differs from ``n_mels`` (naming the file), or
        no shard at all.
    """
    shard_paths = [str(p) for p in shard_paths]
    if not shard_paths:
        raise ValueError("no spectrogram shard given")
    where = {}
    skipped = {}
    for s, path in enumerate(shard_paths):
        with ShardReader(path) as reader:
            if n_mels is None:
                n_mels = reader.n_channels
            if reader.n_channels != n_mels:
                raise ValueError(f"{path}: spectrograms have {reader.n_channels} mel bands, "
                                 f"expected {n_mels} (shards from different extraction "
                                 f"settings, or a model built for other inputs)")
            for pos, tid in enumerate(reader.track_ids):
                if tid in where:
                    log.warning("%s: duplicate of %s in %s, ignored",
                                path, tid, shard_paths[where[tid][0]])
                    skipped[f"{tid} ({path})"] = "duplicate track"
                    continue
                where[tid] = (s, pos, reader.n_frames(pos))
    wanted = sorted(where) if track_ids is None else list(dict.fromkeys(track_ids))
    rows = []
    for tid in wanted:
        if tid not in where:
            skipped[tid] = "not in any spectrogram shard"
        elif where[tid][2] == 0:
            skipped[tid] = "no frames"
        else:
            rows.append((tid,) + where[tid])
    return TrackIndex(
        shard_paths=shard_paths,
        track_ids=[r[0] for r in rows],
        shard=np.array([r[1] for r in rows], dtype=np.int64),
        position=np.array([r[2] for r in rows], dtype=np.int64),
        n_frames=np.array([r[3] for r in rows], dtype=np.int64),
        n_mels=int(n_mels),
        skipped=skipped)


def all_finite(a: np.ndarray) -> bool:
    """True when ``a`` holds no NaN or inf (fast for float16, which numpy checks slowly)."""
    a = np.asarray(a)
    if a.dtype == np.float16:
        # float16 is non-finite exactly when its five exponent bits are all set.
        return not np.any((a.view(np.uint16) & 0x7C00) == 0x7C00)
    return bool(np.all(np.isfinite(a)))


def summarize_skips(skipped: dict, examples: int = 10) -> dict:
    """``{reason: {"count": n, "examples": [track_id, ...]}}`` of a ``skipped`` dict.

    A real dataset can skip hundreds of thousands of tracks (no preview); the
    summary keeps reports small while still naming some of them.
    """
    out = {}
    for tid, reason in skipped.items():
        entry = out.setdefault(reason, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < examples:
            entry["examples"].append(tid)
    return out


class ShardReaderPool:
    """Open shard readers, at most ``max_open`` at a time, shared by tf.data's threads.

    When the whole split fits in ``cache_bytes`` (as stored, e.g. float16),
    each track is read from disk once, whole, and later windows are cut from
    memory; otherwise every window is read from its HDF5 chunks. Decompressing
    chunks costs about as much CPU per window as a small model's training
    step, so on a CPU-only machine the cache is what keeps reading at a
    fraction of the training cost from the second epoch on (measured in
    ``bench/bench_model.py``).

    Also counts the windows found to hold NaN or inf.

    Parameters
    ----------
    index : TrackIndex
    max_open : int
        Shard files kept open.
    cache_bytes : int
        Memory budget of the track cache (0 disables it).
    """

    def __init__(self, index, max_open=16, cache_bytes=0):
        self.index = index
        self.max_open = int(max_open)
        self._open = collections.OrderedDict()
        self._lock = threading.Lock()
        self.bad_windows = 0
        self.bad_tracks = set()
        #: Windows travel in the shards' storage type (float16 as a rule) and
        #: become float32 inside TensorFlow, whose cast is vectorized (numpy's
        #: float16 conversion costs more than the rest of a cached read).
        self.dtype = self._storage_dtype(index)
        size = int(index.n_frames.sum()) * index.n_mels * self.dtype.itemsize
        self.cached = bool(cache_bytes) and size <= cache_bytes
        self._cache = {}

    @staticmethod
    def _storage_dtype(index):
        if len(index) == 0:
            return np.dtype(np.float32)
        with h5py.File(index.shard_paths[int(index.shard[0])], "r") as f:
            dtype = f["frames"].dtype
        return dtype if dtype in (np.float16, np.float32) else np.dtype(np.float32)

    def reader(self, s: int) -> ShardReader:
        """The open reader of shard ``s`` (opened, and the least recently used closed, as needed)."""
        with self._lock:
            r = self._open.get(s)
            if r is None:
                r = ShardReader(self.index.shard_paths[s])
                self._open[s] = r
                while len(self._open) > self.max_open:
                    self._open.popitem(last=False)[1].close()
            else:
                self._open.move_to_end(s)
            return r

    def _frames(self, row, start, length):
        """The frames, and whether they are known to be finite (else: check them)."""
        idx = self.index
        if not self.cached:
            return self.reader(int(idx.shard[row])).read(int(idx.position[row]), int(start),
                                                         int(length)), False
        entry = self._cache.get(row)
        if entry is None:
            track = np.asarray(self.reader(int(idx.shard[row])).read(int(idx.position[row])),
                               dtype=self.dtype)
            entry = self._cache[row] = (track, all_finite(track))
        track, finite = entry
        return track[int(start):int(start) + int(length)], finite

    def read_window(self, row: int, start: int, length: int) -> tuple[np.ndarray, bool]:
        """``(length, n_mels)`` frames (of ``self.dtype``) of track ``row`` from ``start``.

        A track shorter than ``length`` is repeated (wrapped) to fill the window.
        Returns ``(frames, ok)``; ``ok`` is False (and the frames zero) when the
        window holds NaN or inf.
        """
        idx = self.index
        frames, finite = self._frames(row, start, length)
        frames = np.asarray(frames, dtype=self.dtype)
        if frames.shape[0] < length:
            frames = np.resize(frames, (length, frames.shape[1])) if len(frames) else \
                np.zeros((length, idx.n_mels), self.dtype)
        if not (finite or all_finite(frames)):
            self.bad_windows += 1
            self.bad_tracks.add(idx.track_ids[row])
            return np.zeros_like(frames), False
        return frames, True

    def read_batch(self, rows: Sequence[int], starts: Sequence[int],
                   length: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows of a batch as ``(x (B, length, n_mels) self.dtype, ok (B,) float32)``."""
        x = np.empty((len(rows), int(length), self.index.n_mels), dtype=self.dtype)
        ok = np.empty(len(rows), dtype=np.float32)
        for k, (row, start) in enumerate(zip(rows, starts)):
            x[k], ok[k] = self.read_window(row, start, length)
        return x, ok

    def close(self) -> None:
        """Close every open shard."""
        with self._lock:
            for r in self._open.values():
                r.close()
            self._open.clear()
            self._cache.clear()


def band_statistics(index: TrackIndex, max_tracks: int | None = None, seed: int = 0,
                    progress: Progress = no_progress) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-band mean and standard deviation of the frames of a (training) split.

    Tracks holding NaN or inf are left out of the statistics and returned, so
    that the caller can drop them from training.

    Parameters
    ----------
    index : TrackIndex
    max_tracks : int, optional
        Use a random subset of this many tracks (for very large splits).
    seed : int
    progress : callable(fraction, message)

    Returns
    -------
    mean, std : np.ndarray float64 of shape (n_mels,)
    bad_tracks : list of str
        Tracks with non-finite frames.
    """
    if len(index) == 0:
        raise ValueError("cannot compute normalization statistics on an empty split")
    rows = np.arange(len(index))
    if max_tracks is not None and len(rows) > max_tracks:
        rows = np.sort(np.random.default_rng(seed).choice(rows, int(max_tracks), replace=False))
    total = np.zeros(index.n_mels)
    total_sq = np.zeros(index.n_mels)
    count = 0
    bad = []
    pool = ShardReaderPool(index, max_open=4)
    try:
        # Shard order keeps each file's chunks together on disk.
        order = rows[np.lexsort((index.position[rows], index.shard[rows]))]
        for k, row in enumerate(order):
            frames = pool.reader(int(index.shard[row])).read(int(index.position[row]))
            frames = np.asarray(frames, dtype=np.float64)
            if not np.all(np.isfinite(frames)):
                bad.append(index.track_ids[row])
                log.warning("%s (%s): NaN or inf in the spectrogram; track skipped",
                            index.track_ids[row], index.shard_paths[index.shard[row]])
                continue
            # float64 sums: dB values over 1e8 frames keep ample precision.
            total += frames.sum(axis=0)
            total_sq += np.square(frames).sum(axis=0)
            count += frames.shape[0]
            if k % 64 == 0:
                progress(k / len(order), f"normalization statistics: {k}/{len(order)} tracks")
    finally:
        pool.close()
    if count == 0:
        raise ValueError("no finite spectrogram frame in the split: cannot normalize")
    mean = total / count
    var = np.maximum(total_sq / count - mean ** 2, 0.0)
    # A silent band (constant value) must not divide by zero.
    std = np.maximum(np.sqrt(var), 1e-3)
    return mean, std, bad


def epoch_plan(index: TrackIndex, window_frames: int, seed: int = 0, epoch: int = 0,
               crops_per_track: int = 1, shards_per_block: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled ``(rows, starts)`` of one training epoch: random crops of every track.

    The same ``(seed, epoch)`` gives the same plan, so a resumed run sees the
    data an uninterrupted one would have.
    """
    rng = np.random.default_rng([int(seed), int(epoch)])
    shards = rng.permutation(len(index.shard_paths))
    rows_out = []
    for b in range(0, len(shards), max(1, int(shards_per_block))):
        block = np.isin(index.shard, shards[b:b + shards_per_block])
        rows = np.repeat(np.flatnonzero(block), int(crops_per_track))
        rows_out.append(rng.permutation(rows))
    rows = np.concatenate(rows_out) if rows_out else np.zeros(0, np.int64)
    room = np.maximum(index.n_frames[rows] - int(window_frames), 0)
    starts = (rng.random(len(rows)) * (room + 1)).astype(np.int64)
    return rows.astype(np.int64), starts


def window_plan(index: TrackIndex, window_frames: int, hop_frames: int | None = None,
                max_windows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, starts)`` of the evaluation windows of every track, in track order.

    Windows every ``hop_frames`` (default: ``window_frames``, i.e. no overlap),
    plus one ending at the last frame so the whole clip is covered; a track
    shorter than a window gives one (wrapped) window. ``max_windows`` keeps
    that many evenly spaced windows per track.
    """
    w = int(window_frames)
    hop = int(hop_frames or w)
    rows, starts = [], []
    for row, n in enumerate(index.n_frames):
        n = int(n)
        s = list(range(0, max(n - w, 0) + 1, hop))
        if n > w and s[-1] != n - w:
            s.append(n - w)
        if max_windows and len(s) > max_windows:
            s = [s[i] for i in np.linspace(0, len(s) - 1, int(max_windows)).round().astype(int)]
        rows.extend([row] * len(s))
        starts.extend(s)
    return np.asarray(rows, dtype=np.int64), np.asarray(starts, dtype=np.int64)


def _window_dataset(pool, rows, starts, window_frames, batch_size, parallel_reads):
    """Batches of ``(x, ok, rows)`` read in parallel from a plan, in plan order."""
    n_mels = pool.index.n_mels
    w = int(window_frames)

    def read(rows_b, starts_b):
        return pool.read_batch(rows_b, starts_b, w)

    def read_tf(rows_b, starts_b):
        x, ok = tf.numpy_function(read, [rows_b, starts_b],
                                  [tf.as_dtype(pool.dtype), tf.float32], stateful=False)
        x = tf.cast(x, tf.float32)
        x.set_shape([None, w, n_mels])
        ok.set_shape([None])
        return x, ok, rows_b

    ds = tf.data.Dataset.from_tensor_slices((rows, starts)).batch(int(batch_size))
    return ds.map(read_tf, num_parallel_calls=parallel_reads, deterministic=True)


def training_dataset(index: TrackIndex, targets: dict, window_frames: int, params: "TrainingParams", *,
                     epoch: int = 0, weights: dict | None = None, pool: "ShardReaderPool | None" = None,
                     fill: npt.ArrayLike | None = None) -> tf.data.Dataset:
    """One epoch of ``(x, y, sample_weight)`` batches of random crops.

    Parameters
    ----------
    index : TrackIndex
        The training split.
    targets : dict
        ``track_id -> target vector`` (tag 0/1 vector, latent factors, ...).
    window_frames : int
    params : krotos.model.params.TrainingParams
        ``batch_size``; ``seed`` (with ``epoch`` it fixes the plan, see
        :func:`epoch_plan`); ``crops_per_track`` (random windows of each
        track per epoch); ``shards_per_block`` (shards shuffled together, see
        the module docstring); ``parallel_reads`` (batches read
        concurrently); ``augmentation``, applied to every batch (checked
        against the window, the bands and ``batch_size`` first); and
        ``cache_mb`` when no ``pool`` is given.
    epoch : int
    weights : dict, optional
        ``track_id -> sample weight`` (default 1).
    pool : ShardReaderPool, optional
        Reuse open readers and cached tracks across epochs (and see its
        ``bad_windows`` count).
    fill : array-like (n_mels,), optional
        Value of masked bins (default 0); the training split's band means.

    Returns
    -------
    tf.data.Dataset
        ``x`` float32 ``(B, window_frames, n_mels)``, ``y`` float32 ``(B, dim)``,
        ``sample_weight`` float32 ``(B,)`` (0 for a window holding NaN/inf).
    """
    if len(index) == 0:
        raise ValueError("the training split is empty")
    y_all = tf.constant(index.target_matrix(targets))
    w_all = tf.constant(np.array([float(weights.get(t, 1.0)) for t in index.track_ids]
                                 if weights else np.ones(len(index)), dtype=np.float32))
    seed, batch_size, augmentation = params.seed, params.batch_size, params.augmentation
    pool = pool or ShardReaderPool(index, cache_bytes=int(params.cache_mb * 2 ** 20))
    rows, starts = epoch_plan(index, window_frames, seed, epoch, params.crops_per_track,
                              params.shards_per_block)
    ds = _window_dataset(pool, rows, starts, window_frames, batch_size, params.parallel_reads)

    def attach(x, ok, rows_b):
        return x, tf.gather(y_all, rows_b), ok * tf.gather(w_all, rows_b)

    ds = ds.map(attach)
    if augmentation is not None and augmentation.active:
        augmentation.check(window_frames, index.n_mels, batch_size)
        fill = np.zeros(index.n_mels) if fill is None else np.asarray(fill, dtype=np.float64)
        base = np.random.default_rng([int(seed), int(epoch), 0xA06]).integers(0, 2 ** 31)
        augmenter = _augmenter(augmentation, fill, int(y_all.shape[1]))

        def augment(b, batch):
            x, y, w = batch
            return augmenter(x, y, w, tf.stack([tf.constant(base, tf.int64), b]))

        ds = ds.enumerate().map(augment, num_parallel_calls=tf.data.AUTOTUNE,
                                deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


#: Traced augmentation functions by (settings, fill, label width): built once,
#: not once per epoch (each epoch is a new dataset, and tracing the masks'
#: graph cost more than augmenting a small epoch).
_AUGMENTERS = {}


def _augmenter(augmentation, fill, n_labels):
    key = (augmentation, tuple(np.round(fill, 6).tolist()), n_labels)
    fn = _AUGMENTERS.get(key)
    if fn is None:
        n_mels = len(fill)
        spec = [tf.TensorSpec([None, None, n_mels], tf.float32),
                tf.TensorSpec([None, n_labels], tf.float32), tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([2], tf.int64)]
        fn = _AUGMENTERS[key] = tf.function(
            lambda x, y, w, seed: augment_batch(x, y, w, seed, augmentation, fill),
            input_signature=spec)
    return fn


def evaluation_dataset(index: TrackIndex, window_frames: int, batch_size: int, *,
                       hop_frames: int | None = None, max_windows: int | None = None,
                       parallel_reads: int = 2,
                       pool: "ShardReaderPool | None" = None) -> tf.data.Dataset:
    """Every evaluation window of every track (see :func:`window_plan`), in order.

    Returns
    -------
    tf.data.Dataset
        Batches of ``(x, ok, rows)``: windows, 1/0 finiteness flags, and the
        index row (track) each window belongs to.
    """
    if len(index) == 0:
        raise ValueError("the evaluation split is empty")
    pool = pool or ShardReaderPool(index)
    rows, starts = window_plan(index, window_frames, hop_frames, max_windows)
    ds = _window_dataset(pool, rows, starts, window_frames, batch_size, parallel_reads)
    return ds.prefetch(tf.data.AUTOTUNE)
