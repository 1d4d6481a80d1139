"""Reader of MSD HDF5 files: per-track ``TR*.h5`` and ``msd_summary_file.h5``.

Both have the groups ``metadata``, ``analysis`` and ``musicbrainz``, each with
a compound table ``songs`` (one row per song; fixed-width byte strings) and,
in per-track and aggregate files, variable-length arrays such as
``analysis/segments_timbre`` stored end to end: row ``i`` owns
``array[idx_<name>[i]:idx_<name>[i + 1]]`` (the last row runs to the end).
The summary file has the ``songs`` tables only.
"""

import os

import h5py
import numpy as np

from .errors import InputFileError, ensure_log

GROUPS = ("metadata", "analysis", "musicbrainz")

#: The segment arrays most callers want (Echo Nest timbre, chroma, onsets).
SEGMENT_ARRAYS = ("segments_start", "segments_timbre", "segments_pitches",
                  "segments_loudness_max", "segments_loudness_start")


def _python(value):
    if isinstance(value, bytes):
        # Fixed-width fields are NUL-padded; MSD text is UTF-8, except where not.
        return value.rstrip(b"\0").decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


class MSDFile:
    """An open MSD HDF5 file (per-track, aggregate or summary).

    Parameters
    ----------
    path : str or os.PathLike

    Raises
    ------
    InputFileError
        The file is missing, truncated, not HDF5, or lacks ``metadata/songs``.

    Examples
    --------
    >>> with MSDFile("TRABFDT12903CADD73.h5") as f:
    ...     song = f.song(0)                      # dict: track_id, title, year, ...
    ...     timbre = f.array("segments_timbre")   # (n_segments, 12) float64
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            self._file = h5py.File(self.path, "r")
        except (OSError, ValueError) as exc:
            raise InputFileError(f"{self.path}: cannot open as HDF5 ({exc})") from exc
        try:
            self._tables = {}
            for group in GROUPS:
                if f"{group}/songs" in self._file:
                    self._tables[group] = self._file[f"{group}/songs"]
            if "metadata" not in self._tables:
                raise InputFileError(f"{self.path}: no metadata/songs table (not an MSD file?)")
            self.n_songs = len(self._tables["metadata"])
            for group, table in self._tables.items():
                if len(table) != self.n_songs:
                    raise InputFileError(
                        f"{self.path}: {group}/songs has {len(table)} rows, "
                        f"metadata/songs has {self.n_songs}")
        except BaseException:
            self._file.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the file."""
        self._file.close()

    def __len__(self):
        return self.n_songs

    def _read(self, what, func):
        try:
            return func()
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            raise InputFileError(f"{self.path}: cannot read {what} ({exc})") from exc

    def song(self, i):
        """Return row ``i`` of the three ``songs`` tables merged into one dict.

        Byte strings are decoded; numpy scalars become Python numbers. Where a
        field name appears in two groups the ``metadata`` one wins.
        """
        if not 0 <= i < self.n_songs:
            raise IndexError(f"{self.path}: song {i} out of range (0..{self.n_songs - 1})")
        record = {}
        for group in reversed(GROUPS):
            if group in self._tables:
                row = self._read(f"{group}/songs row {i}", lambda: self._tables[group][i])
                record.update({name: _python(row[name]) for name in row.dtype.names})
        return record

    def songs(self, batch=4096):
        """Iterate over all songs (dicts, as :meth:`song`), reading in batches."""
        for start in range(0, self.n_songs, batch):
            stop = min(start + batch, self.n_songs)
            columns = {}
            for group in reversed(GROUPS):
                if group in self._tables:
                    rows = self._read(f"{group}/songs rows {start}..{stop - 1}",
                                      lambda: self._tables[group][start:stop])
                    for name in rows.dtype.names:
                        columns[name] = rows[name]
            for k in range(stop - start):
                yield {name: _python(values[k]) for name, values in columns.items()}

    def array_names(self):
        """Names of the per-song arrays present, e.g. ``segments_timbre``."""
        names = []
        for group in GROUPS:
            if group in self._file:
                names += [name for name, obj in self._file[group].items()
                          if name != "songs" and isinstance(obj, h5py.Dataset)]
        return sorted(names)

    def _locate(self, name):
        for group in GROUPS:
            if group in self._file and name in self._file[group]:
                return group, self._file[group][name]
        raise KeyError(f"{self.path}: no array {name!r} (have: {', '.join(self.array_names())})")

    def array(self, name, i=0):
        """Return song ``i``'s slice of the array ``name`` (e.g. ``segments_timbre``).

        Parameters
        ----------
        name : str
            Any per-song array: ``segments_timbre`` (n, 12), ``segments_pitches``
            (n, 12), ``segments_start`` (n,), ``beats_start``, ``artist_terms``
            (decoded to str), ...
        i : int
            Row in the ``songs`` tables; 0 for per-track files.
        """
        group, data = self._locate(name)
        table = self._tables.get(group)
        index_field = f"idx_{name}"
        if table is None or index_field not in (table.dtype.names or ()):
            if self.n_songs != 1:
                raise KeyError(f"{self.path}: array {name!r} has no index column {index_field}")
            start, stop = 0, len(data)
        else:
            if not 0 <= i < self.n_songs:
                raise IndexError(f"{self.path}: song {i} out of range (0..{self.n_songs - 1})")
            start = int(self._read(f"{group}/songs row {i}", lambda: table[i][index_field]))
            stop = (int(self._read(f"{group}/songs row {i + 1}", lambda: table[i + 1][index_field]))
                    if i + 1 < self.n_songs else len(data))
            if not 0 <= start <= stop <= len(data):
                raise InputFileError(
                    f"{self.path}: {group}/songs row {i}: {index_field} slice "
                    f"{start}..{stop} outside {name} (length {len(data)})")
        values = self._read(f"{group}/{name}[{start}:{stop}]", lambda: data[start:stop])
        if values.dtype.kind == "S":
            return np.array([v.rstrip(b"\0").decode("utf-8", "replace") for v in values],
                            dtype=object)
        return values

    def segments(self, i=0):
        """Return ``{name: array}`` for the segment arrays of song ``i``.

        ``segments_start`` (n,) seconds, ``segments_timbre`` (n, 12),
        ``segments_pitches`` (n, 12), ``segments_loudness_max`` (n,),
        ``segments_loudness_start`` (n,). Missing arrays are left out.
        """
        present = set(self.array_names())
        return {name: self.array(name, i) for name in SEGMENT_ARRAYS if name in present}


def read_msd_h5(path):
    """Return the songs of one MSD HDF5 file as a list of dicts.

    Raises
    ------
    InputFileError
        The file cannot be read (missing, truncated, not MSD).
    """
    with MSDFile(path) as f:
        return list(f.songs())


def find_msd_h5(root):
    """Return the sorted paths of ``*.h5`` files under ``root`` (nested ``A/B/C/`` layout)."""
    found = []
    for folder, dirs, files in os.walk(os.fspath(root)):
        dirs.sort()
        found += [os.path.join(folder, name) for name in sorted(files) if name.endswith(".h5")]
    return found


def iter_msd_h5_folder(root, errors=None, with_segments=False):
    """Stream the songs of every MSD HDF5 file under ``root``.

    A file that cannot be read is recorded in ``errors`` (reason
    ``"unreadable HDF5"``) and skipped; the others are read.

    Parameters
    ----------
    root : str or os.PathLike
    errors : BadInputLog, optional
    with_segments : bool
        Add the segment arrays (see :meth:`MSDFile.segments`) to each dict
        under the key ``"segments"``.

    Yields
    ------
    dict
        One song, with ``"path"`` (the file) and ``"row"`` added.
    """
    errors = ensure_log(errors)
    for path in find_msd_h5(root):
        try:
            with MSDFile(path) as f:
                for row, song in enumerate(f.songs()):
                    if with_segments:
                        song["segments"] = f.segments(row)
                    song["path"], song["row"] = path, row
                    yield song
        except InputFileError as exc:
            errors.add(path, None, "unreadable HDF5", str(exc).replace(f"{path}: ", "", 1))
