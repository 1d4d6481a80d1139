"""Reading HDF5 shards: a track's frames by position or by track id.

The layout is the one :class:`krotos.shards.writer.ShardWriter` writes; the
same reader serves every feature kind (mel bands or Echo Nest channels).
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from krotos.shards.status import OK


class ShardReader:
    """Read tracks from a shard by position or by track id.

    Parameters
    ----------
    path : str
        A shard written by :class:`krotos.shards.writer.ShardWriter`.

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

    def index_of(self, track_id: str) -> int:
        """Position of ``track_id`` in the shard (KeyError naming the file if absent)."""
        try:
            return self._index[track_id]
        except KeyError:
            raise KeyError(f"{track_id} is not in shard {self.path}") from None

    def n_frames(self, i: int) -> int:
        """Number of frames of the track at position ``i``."""
        return int(self.offsets[i + 1] - self.offsets[i])

    def read(self, i: int, start: int = 0, length: int | None = None) -> np.ndarray:
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

    def close(self) -> None:
        """Close the shard file."""
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def read_track(manifest: dict, track_id: str) -> np.ndarray:
    """The stored ``(frames, n_channels)`` matrix of one track, found through the manifest.

    Parameters
    ----------
    manifest : dict
        As returned by :func:`krotos.shards.manifest.read_manifest`.
    track_id : str

    Returns
    -------
    np.ndarray
        The frames as stored (float16 or float32).

    Raises
    ------
    KeyError
        The track is not in the manifest, or it was rejected (the message
        gives its status and reason), or its shard does not hold it.
    """
    record = manifest["tracks"].get(track_id)
    if record is None:
        raise KeyError(f"{track_id} is not in the manifest (no shard handled it)")
    if record["status"] != OK:
        raise KeyError(f"{track_id} has no frames: {record['status']}"
                       + (f" ({record['reason']})" if record.get("reason") else ""))
    with ShardReader(manifest["shards"][record["shard"]]["path"]) as reader:
        return reader[track_id]
