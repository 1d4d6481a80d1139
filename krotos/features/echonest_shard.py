"""Extraction of one shard of Echo Nest features from MSD HDF5 files.

The output goes into the shard store (:mod:`krotos.shards`) as the
spectrograms do (``shard.h5`` written by :class:`krotos.shards.writer.ShardWriter`
with 25 channels, and ``results.json``), so
:func:`krotos.shards.manifest.index_shards` builds the manifest and
everything downstream reads echonest shards like mel ones.

Where the files are (``msd_h5``):

* a folder tree as the MSD ships it, ``<root>/A/B/C/TRABC....h5`` (letters 3
  to 5 of the track id); a flat folder of ``TR....h5`` files works too;
* or one aggregate HDF5 file holding many tracks' rows and arrays (the MSD's
  ``create_aggregate_file`` output). ``msd_summary_file.h5`` has no segment
  arrays and is refused with a message saying so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from krotos.features import echonest as en
from krotos.progress import Progress, no_progress
from krotos.shards import status as st
from krotos.shards.manifest import SHARD_FILE, write_results
from krotos.shards.writer import ShardWriter


def msd_h5_path(root: str | os.PathLike, track_id: str) -> str:
    """Path of a track's file in the MSD folder tree: ``root/A/B/C/<track_id>.h5``."""
    track_id = str(track_id)
    return os.path.join(os.fspath(root), track_id[2], track_id[3], track_id[4],
                        f"{track_id}.h5")


class TrackFiles:
    """Finds the HDF5 file (and row) holding a track's analysis.

    Parameters
    ----------
    root : str
        The MSD ``data`` folder tree (``A/B/C/TR....h5``), a flat folder of
        ``TR....h5`` files, or an aggregate HDF5 file.
    listed : dict, optional
        ``{track_id: (path relative to root, row)}`` of the tracks whose file
        is not named after them (a file renamed, an aggregate file inside the
        folder): where the track list found them (see
        :func:`krotos.tagdb.builder.build_tag_database`), so that a track is
        looked up by the same key that listed it.

    Raises
    ------
    ValueError
        ``root`` does not exist, or is an HDF5 file without segment arrays or
        a ``analysis/songs`` track id column (the message names it).
    """

    def __init__(self, root, listed=None):
        self.root = os.path.abspath(os.fspath(root))
        self._rows = None
        self._listed = {tid: (str(rel), int(row)) for tid, (rel, row) in (listed or {}).items()}
        if os.path.isdir(self.root):
            return
        if not os.path.isfile(self.root):
            raise ValueError(f"msd_h5: {self.root} does not exist")
        import h5py

        try:
            with h5py.File(self.root, "r") as f:
                if "analysis/songs" not in f or "analysis/segments_start" not in f:
                    raise ValueError(
                        f"msd_h5: {self.root} has no analysis/segments_start arrays (the MSD "
                        f"summary file has none): give the folder of per-track TR*.h5 files "
                        f"or an aggregate file made with them")
                ids = f["analysis/songs"].fields("track_id")[()]
        except OSError as exc:
            raise ValueError(f"msd_h5: {self.root} is neither a folder nor a readable "
                             f"HDF5 file ({exc})") from exc
        self._rows = {tid.rstrip(b"\0").decode("ascii", "replace"): i
                      for i, tid in enumerate(ids)}

    @property
    def aggregate(self) -> bool:
        """True when the root is one aggregate file (tracks are rows in it)."""
        return self._rows is not None

    def relative(self, path: str) -> str:
        """How outputs name ``path``: relative to the folder, or the aggregate file's name."""
        if self.aggregate:
            return os.path.basename(self.root)
        # Paths come from locate(): under the root (a string cut, not os.path.relpath).
        return path[len(self.root) + 1:]

    def expected(self, track_id: str) -> str:
        """Where the track's file should be, relative to the root (for messages)."""
        if track_id in self._listed:
            return self._listed[track_id][0]
        if len(track_id) >= 5:
            return os.path.relpath(msd_h5_path(self.root, track_id), self.root)
        return f"{track_id}.h5"

    def locate(self, track_id: str) -> tuple[str, int] | None:
        """``(path, row)`` of the track, or None when there is no file for it."""
        if self._rows is not None:
            row = self._rows.get(track_id)
            return None if row is None else (self.root, row)
        if track_id in self._listed:
            rel, row = self._listed[track_id]
            path = os.path.join(self.root, rel)
            return (path, row) if os.path.isfile(path) else None
        candidates = [os.path.join(self.root, f"{track_id}.h5")]
        if len(track_id) >= 5:  # real ids always are; a short one has no A/B/C folder
            candidates.insert(0, msd_h5_path(self.root, track_id))
        for path in candidates:
            if os.path.isfile(path):
                return path, 0
        return None


def _track_id(item):
    return item if isinstance(item, str) else item.track_id


def extract_echonest_shard(tracks: Sequence, msd_h5: str | TrackFiles, out_path: str,
                           params: en.EchonestParams, progress: Progress | None = None,
                           compression: str = "none") -> dict:
    """Compute the echonest matrices of one shard and write them to ``out_path``.

    Parameters
    ----------
    tracks : list of str or of objects with ``track_id``
        The shard's tracks (e.g. :class:`krotos.tagdb.reader.Track`).
    msd_h5 : str or TrackFiles
        Where the MSD HDF5 files are (see :class:`TrackFiles`).
    out_path : str
        Shard file to create; it appears only once complete.
    params : krotos.features.echonest.EchonestParams
    progress : callable, optional
        ``progress(fraction, message)``, called every few tracks.
    compression : {'none', 'lzf', 'gzip'}
        Storage filter of the shard (see :class:`krotos.shards.writer.ShardWriter`):
        none by default, lzf costs a third of the extraction time more for a
        third less disk.

    Returns
    -------
    dict
        ``track_id -> {"status", "reason"}`` for every track, in input order;
        only ``ok`` tracks are in the shard. An ``ok`` track whose segment
        table was repaired, or whose file is not named after it, has that
        in ``reason``. Files are named relative to the ``msd_h5`` folder.
    """
    progress = progress or no_progress
    files = msd_h5 if isinstance(msd_h5, TrackFiles) else TrackFiles(msd_h5)
    results = {}
    n = len(tracks)
    # Reporting after every track costs as much as reading one at this speed.
    every = max(1, n // 100)
    with ShardWriter(out_path, n_channels=en.N_CHANNELS, dtype=params.dtype,
                     attrs=params.as_dict(), compression=compression) as writer:
        for i, item in enumerate(tracks):
            track_id = _track_id(item)
            where = files.locate(track_id)
            if where is None:
                results[track_id] = st.entry(
                    st.MISSING_H5, f"no file for {track_id} under [krotos] msd_h5 "
                                   f"(looked for {files.expected(track_id)})")
            else:
                path, row = where
                name = files.relative(path)
                try:
                    matrix, warnings = en.features_of_file(path, params, track_id=track_id,
                                                           row=row, where=name)
                except st.Rejected as rej:
                    results[track_id] = rej.entry()
                else:
                    writer.append(track_id, matrix)
                    notes = list(warnings)
                    stem = os.path.splitext(os.path.basename(path))[0]
                    if not files.aggregate and stem != track_id:
                        notes.insert(0, f"file named {stem} holds track {track_id} "
                                        f"(listed by its metadata)")
                    results[track_id] = st.entry(
                        st.OK, f"{name}: {'; '.join(notes)}" if notes else "")
            if (i + 1) % every == 0 or i + 1 == n:
                progress((i + 1) / max(n, 1), f"{i + 1}/{n} tracks, {len(writer)} ok "
                                              f"({os.path.basename(out_path)})")
    return results


def extract_echonest_shard_files(tracks: Sequence, msd_h5: str | TrackFiles, out_dir: str,
                                 params: en.EchonestParams, progress: Progress | None = None,
                                 compression: str = "none") -> dict:
    """The ``EchonestFeatures`` task's work: the shard's files in ``out_dir``.

    Writes ``shard.h5`` (:func:`extract_echonest_shard`) and ``results.json``
    (:func:`krotos.shards.manifest.write_results`), as the spectrogram shards
    do, so :func:`krotos.shards.manifest.index_shards` indexes either kind.

    Returns
    -------
    dict
        The per-track results.
    """
    results = extract_echonest_shard(tracks, msd_h5, os.path.join(out_dir, SHARD_FILE),
                                     params, progress=progress, compression=compression)
    write_results(out_dir, params.as_dict(), results)
    return results


def echonest_shard_stage(tagdb_path: str, shard: int, n_shards: int, msd_h5: str, out_dir: str,
                         params: en.EchonestParams, progress: Progress | None = None,
                         compression: str = "none") -> dict:
    """The ``EchonestFeatures`` task's work from its inputs: the tag database's tracks of
    one shard, found under ``msd_h5``, extracted into ``out_dir``
    (:func:`extract_echonest_shard_files`).

    Parameters
    ----------
    tagdb_path : str
        ``tags.sqlite``: the track list, and where the MSD file list found
        the tracks whose file is not named after them.
    shard, n_shards : int
        Which slice of the track list (see :func:`krotos.shards.sharding.shard_items`).
    msd_h5 : str
        The folder (or aggregate file) of MSD HDF5 files.
    out_dir : str
    params : krotos.features.echonest.EchonestParams
    progress : callable, optional
    compression : {'none', 'lzf', 'gzip'}

    Returns
    -------
    dict
        The per-track results.
    """
    from krotos.shards.sharding import shard_items
    from krotos.tagdb.reader import TagDB

    with TagDB(tagdb_path) as db:
        tracks = shard_items(db.tracks(), shard, n_shards)
        listed = db.summary().get("msd_h5_listed", {})
    return extract_echonest_shard_files(tracks, TrackFiles(msd_h5, listed=listed), out_dir,
                                        params, progress=progress, compression=compression)


def summarize_repairs(results: dict) -> int:
    """Number of ``ok`` tracks whose segment table was repaired (for logs)."""
    return sum(1 for r in results.values() if r["status"] == st.OK and r["reason"])
