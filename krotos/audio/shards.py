"""Sharded HDF5 storage of per-track feature matrices (time x channels).

One file per shard. Tracks have different lengths, so the frames of all
tracks are stored end to end in one two-dimensional dataset and an offsets
table says where each track starts::

    /frames     (total_frames, n_channels)  float16 or float32, chunked, compressed
    /offsets    (n_tracks + 1,)             int64; track i is frames[offsets[i]:offsets[i+1]]
    /track_id   (n_tracks,)                 UTF-8 strings
    attrs                                   the extraction parameters (n_mels, hop_length, ...)

The same layout holds log-mel spectrograms (channels = mel bands) and Echo
Nest segment features (channels = timbre + pitches + loudness), so that
everything downstream reads both alike.

A shard is written to a temporary file beside its final path and renamed when
complete, so a reader never sees a half-written shard and a killed writer
leaves nothing that looks finished.
"""

import json
import os
import tempfile

import h5py
import numpy as np

FORMAT_VERSION = 1

#: Frames per HDF5 chunk: small enough that reading one window of one track
#: touches few chunks, large enough that compression has something to work on.
CHUNK_FRAMES = 256


#: Frames are gathered in memory up to this many bytes, then written in one
#: go: one HDF5 resize and write per block instead of per track.
BUFFER_BYTES = 8 << 20

#: Storage filters. On Echo Nest features (25 float32 channels; measured on
#: 2 cores): gzip (level 1, with shuffle) stores 112 KB a 3-minute track for
#: 1.5 ms of CPU, lzf (built into h5py) 122 KB for 0.7 ms, none 185 KB for 0.15 ms.
COMPRESSIONS = {"gzip": dict(compression="gzip", compression_opts=1, shuffle=True),
                "lzf": dict(compression="lzf"),
                "none": {}}


class ShardWriter:
    """Append tracks to a new shard file; the file appears only on success.

    Parameters
    ----------
    path : str
        Final path of the shard.
    n_channels : int
        Width of every track's matrix (mel bands, or feature channels).
    dtype : {'float16', 'float32'}
        Storage type of the frames.
    attrs : dict, optional
        Extraction parameters stored as file attributes (JSON-able values).
    compression : {'gzip', 'lzf', 'none'}
        Storage filter of the frames (see :data:`COMPRESSIONS`); readers
        need not know it.

    Examples
    --------
    >>> with ShardWriter("shard-00000.h5", n_channels=128, attrs={"n_mels": 128}) as w:
    ...     w.append("TRAAAAW128F429D538", spectrogram)   # (frames, 128)
    """

    def __init__(self, path, n_channels, dtype="float16", attrs=None, compression="gzip"):
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}, "
                             f"got {compression!r}")
        self.path = os.fspath(path)
        self.n_channels = int(n_channels)
        self.dtype = np.dtype(dtype)
        self.attrs = dict(attrs or {})
        self._track_ids = []
        self._offsets = [0]
        self._pending = []
        self._pending_frames = 0
        self._written = 0
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, self._tmp_path = tempfile.mkstemp(
            prefix=".tmp-", suffix=".h5", dir=directory)
        os.close(fd)
        self._file = h5py.File(self._tmp_path, "w")
        self._frames = self._file.create_dataset(
            "frames", shape=(0, self.n_channels), maxshape=(None, self.n_channels),
            dtype=self.dtype, chunks=(CHUNK_FRAMES, self.n_channels),
            **COMPRESSIONS[compression])

    def append(self, track_id, matrix):
        """Add one track's ``(frames, n_channels)`` matrix."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_channels:
            raise ValueError(
                f"{track_id}: expected a (frames, {self.n_channels}) matrix, "
                f"got shape {matrix.shape}")
        if not np.all(np.isfinite(matrix)):
            raise ValueError(f"{track_id}: matrix contains NaN or inf")
        self._pending.append(matrix.astype(self.dtype, copy=False))
        self._pending_frames += matrix.shape[0]
        self._track_ids.append(str(track_id))
        self._offsets.append(self._offsets[-1] + matrix.shape[0])
        if self._pending_frames * self.n_channels * self.dtype.itemsize >= BUFFER_BYTES:
            self._flush()

    def _flush(self):
        if not self._pending:
            return
        block = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        start, stop = self._written, self._written + block.shape[0]
        self._frames.resize(stop, axis=0)
        self._frames[start:stop] = block
        self._written = stop
        self._pending, self._pending_frames = [], 0

    def __len__(self):
        return len(self._track_ids)

    def close(self):
        """Write the index and attributes, then move the file into place."""
        self._flush()
        f = self._file
        f.create_dataset("offsets", data=np.asarray(self._offsets, dtype=np.int64))
        f.create_dataset("track_id", data=np.asarray(self._track_ids, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["n_channels"] = self.n_channels
        f.attrs["params_json"] = json.dumps(self.attrs, sort_keys=True)
        for key, value in self.attrs.items():
            if isinstance(value, (int, float, str, bool, np.number)):
                f.attrs[key] = value
        f.close()
        os.replace(self._tmp_path, self.path)

    def abort(self):
        """Drop the partial file."""
        try:
            self._file.close()
        finally:
            if os.path.exists(self._tmp_path):
                os.remove(self._tmp_path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


class ShardReader:
    """Read tracks from a shard by position or by track id.

    Parameters
    ----------
    path : str
        A shard written by :class:`ShardWriter`.

    Attributes
    ----------
    track_ids : list of str
    offsets : np.ndarray
    params : dict
        The extraction parameters the shard was written with.
    n_channels : int
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise OSError(f"{self.path}: not a readable HDF5 shard ({exc})") from exc
        f = self._file
        missing = [k for k in ("frames", "offsets", "track_id") if k not in f]
        if missing:
            f.close()
            raise ValueError(f"{self.path}: not a krotos shard (missing {missing})")
        self.offsets = f["offsets"][()]
        self.track_ids = [t.decode("utf-8") if isinstance(t, bytes) else str(t)
                          for t in f["track_id"][()]]
        self._index = {tid: i for i, tid in enumerate(self.track_ids)}
        self.params = json.loads(f.attrs.get("params_json", "{}"))
        self.n_channels = int(f["frames"].shape[1])
        self._frames = f["frames"]

    def __len__(self):
        return len(self.track_ids)

    def __contains__(self, track_id):
        return track_id in self._index

    def index_of(self, track_id):
        """Position of ``track_id`` in the shard (KeyError naming the file if absent)."""
        try:
            return self._index[track_id]
        except KeyError:
            raise KeyError(f"{track_id} is not in shard {self.path}") from None

    def n_frames(self, i):
        """Number of frames of the track at position ``i``."""
        return int(self.offsets[i + 1] - self.offsets[i])

    def read(self, i, start=0, length=None):
        """Frames ``[start, start + length)`` of the track at position ``i``.

        Only the chunks that hold those frames are read from disk.
        """
        begin, end = int(self.offsets[i]), int(self.offsets[i + 1])
        lo = begin + int(start)
        hi = end if length is None else min(end, lo + int(length))
        if lo > end:
            raise IndexError(f"start {start} beyond the {end - begin} frames of "
                             f"{self.track_ids[i]} in {self.path}")
        return self._frames[lo:hi]

    def __getitem__(self, track_id):
        return self.read(self.index_of(track_id))

    def __iter__(self):
        for i, tid in enumerate(self.track_ids):
            yield tid, self.read(i)

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
