"""Reader of MSD HDF5 files: per-track ``TR*.h5`` and ``msd_summary_file.h5``.

Both have the groups ``metadata``, ``analysis`` and ``musicbrainz``, each with
a compound table ``songs`` (one row per song; fixed-width byte strings) and,
in per-track and aggregate files, variable-length arrays such as
``analysis/segments_timbre`` stored end to end: row ``i`` owns
``array[idx_<name>[i]:idx_<name>[i + 1]]`` (the last row runs to the end).
The summary file has the ``songs`` tables only.

Speed matters here: the full MSD is a million files, read once to list the
tracks and once to extract their features. So a file is opened once, a
``songs`` table is read only in the fields asked for, and nothing is read
that the caller did not ask for (see :class:`_SongsTable` for why the
compound tables go through h5py's low-level API).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import h5py
import numpy as np

from .errors import BadInputLog, InputFileError, ensure_log

GROUPS = ("metadata", "analysis", "musicbrainz")

#: The segment arrays most callers want (Echo Nest timbre, chroma, onsets).
SEGMENT_ARRAYS = ("segments_start", "segments_timbre", "segments_pitches",
                  "segments_loudness_max", "segments_loudness_start")

#: The ``songs`` fields that make a track list (what ``TagDatabase`` keeps).
TRACK_FIELDS = ("track_id", "song_id", "title", "release", "artist_id", "artist_name",
                "duration", "year", "track_7digitalid")


class UnreadableFile(InputFileError):
    """The file is missing, empty, truncated, damaged or not HDF5 at all."""


def _python(value):
    if isinstance(value, bytes):
        # Fixed-width fields are NUL-padded; MSD text is UTF-8, except where not.
        return value.rstrip(b"\0").decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _rows_space(dsid, start, stop):
    """(memory space, file space) selecting rows ``start:stop`` of a dataset's first axis."""
    fspace = dsid.get_space()
    shape = fspace.shape
    count = (stop - start,) + tuple(shape[1:])
    if start != 0 or stop != shape[0]:
        fspace.select_hyperslab((start,) + (0,) * (len(shape) - 1), count)
    return h5py.h5s.create_simple(count), fspace


#: Member classes read straight from the file's bytes (fixed size, no conversion).
_RAW_CLASSES = (h5py.h5t.INTEGER, h5py.h5t.FLOAT, h5py.h5t.STRING)


class _SongsTable:
    """One group's ``songs`` compound table, read only in the fields asked for.

    h5py's high-level ``Dataset`` turns the whole compound type (31 members in
    ``analysis/songs``) into a numpy dtype on every open: 0.2 ms a file, a
    fifth of reading a track's four segment arrays. Here rows are read as
    the file stores them, without any type conversion, and only the wanted
    fields are looked at, in place (a field of another kind, such as a
    variable-length string, goes through HDF5's conversion instead).
    """

    def __init__(self, dsid, where):
        self.id = dsid
        self.where = where
        if dsid.rank != 1:
            raise InputFileError(f"{where} is not a table of songs (rank {dsid.rank})")
        self.n_rows = dsid.shape[0]
        self._type = None
        self._members = None
        self._index = {}

    def _compound(self):
        if self._type is None:
            ftype = self.id.get_type()
            if ftype.get_class() != h5py.h5t.COMPOUND:
                raise InputFileError(f"{self.where} is not a table of songs (no fields)")
            self._type = ftype
        return self._type

    @property
    def members(self):
        """``{field name: member index}`` of the table."""
        if self._members is None:
            ftype = self._compound()
            self._members = {ftype.get_member_name(i).decode("utf-8", "replace"): i
                             for i in range(ftype.get_nmembers())}
        return self._members

    def member(self, name):
        """Index of the field ``name``, or None (looked up alone: listing 31 names costs more)."""
        if name not in self._index:
            try:
                self._index[name] = self._compound().get_member_index(name.encode("utf-8"))
            except (RuntimeError, ValueError, KeyError):
                self._index[name] = None
        return self._index[name]

    def _raw_view(self, fields):
        """A dtype viewing the file's own row layout, or None if a field needs conversion."""
        formats, offsets = [], []
        for name in fields:
            i = self.member(name)
            member = self._type.get_member_type(i)
            if member.get_class() not in _RAW_CLASSES or (
                    member.get_class() == h5py.h5t.STRING and member.is_variable_str()):
                return None
            formats.append(member.dtype)
            offsets.append(self._type.get_member_offset(i))
        return np.dtype({"names": list(fields), "formats": formats, "offsets": offsets,
                         "itemsize": self._type.get_size()})

    def _layout(self, fields):
        """``(fields the table has, raw view or None)``, worked out once per row type.

        Every per-track file of a dataset has the same ``songs`` type: a
        million files need not each look up their fields' indices, types and
        offsets (tens of microseconds a file); comparing the type with the
        last ones seen costs a few.
        """
        ftype = self._compound()
        known = _LAYOUTS.setdefault(tuple(fields), [])
        for seen, layout in known:
            if seen == ftype:
                return layout
        present = [name for name in fields if self.member(name) is not None]
        layout = (present, self._raw_view(present))
        if len(known) < _MAX_LAYOUTS:
            # A transient copy: it outlives the file (and a committed type's id).
            known.append((ftype.copy(), layout))
        return layout

    def read(self, fields, start, stop):
        """Structured array of rows ``start:stop``, with those of ``fields`` the table has."""
        fields, view = self._layout(fields)
        if view is None:
            dtype = np.dtype([(name, self._type.get_member_type(self.member(name)).dtype)
                              for name in fields])
            out, mtype = np.empty(stop - start, dtype), _memory_type(dtype)
        else:
            out, mtype = np.empty(stop - start, view), self._type
        if fields and stop > start:
            mspace, fspace = _rows_space(self.id, start, stop)
            try:
                self.id.read(mspace, fspace, out, mtype=mtype)
            except (OSError, RuntimeError) as exc:
                raise UnreadableFile(f"{self.where}: cannot read rows {start}..{stop - 1}, "
                                     f"damaged file ({exc})") from exc
            except (ValueError, TypeError) as exc:
                raise InputFileError(f"{self.where}: cannot read rows {start}..{stop - 1} "
                                     f"({exc})") from exc
        return out


#: ``{fields: [(songs row type, (fields present, raw view))]}`` (see ``_SongsTable._layout``).
_LAYOUTS = {}
_MAX_LAYOUTS = 16

_FILE_ACCESS = []


def _file_access():
    """File access properties: closing the file closes everything opened in it."""
    if not _FILE_ACCESS:
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
        _FILE_ACCESS.append(fapl)
    return _FILE_ACCESS[0]


_MEMORY_TYPES = {}


def _memory_type(dtype):
    # Every per-track file has the same few field layouts: translate each once.
    if dtype not in _MEMORY_TYPES:
        _MEMORY_TYPES[dtype] = h5py.h5t.py_create(dtype)
    return _MEMORY_TYPES[dtype]


class MSDFile:
    """An open MSD HDF5 file (per-track, aggregate or summary).

    Parameters
    ----------
    path : str or os.PathLike

    Raises
    ------
    UnreadableFile
        The file is missing, empty, truncated or not HDF5.
    InputFileError
        It lacks ``metadata/songs``, or its tables disagree in length.

    Examples
    --------
    >>> with MSDFile("TRABFDT12903CADD73.h5") as f:
    ...     song = f.song(0)                      # dict: track_id, title, year, ...
    ...     timbre = f.array("segments_timbre")   # (n_segments, 12) float64
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            # The low-level open skips the high-level File's bookkeeping: with
            # a million files to read, its 0.05 ms a file counts.
            self._fid = h5py.h5f.open(self.path.encode("utf-8"), h5py.h5f.ACC_RDONLY,
                                      fapl=_file_access())
        except (OSError, ValueError) as exc:
            raise UnreadableFile(f"{self.path}: cannot open as HDF5 ({exc})") from exc
        self._tables = {}
        try:
            metadata = self._table("metadata")
            if metadata is None:
                raise InputFileError(f"{self.path}: no metadata/songs table (not an MSD file?)")
            self.n_songs = metadata.n_rows
        except BaseException:
            self.close()
            raise

    def _open(self, name):
        try:
            return h5py.h5d.open(self._fid, name.encode("utf-8"))
        except KeyError:
            return None

    def _table(self, group):
        """The ``group/songs`` table, or None; opened on first use."""
        if group not in self._tables:
            dsid = self._open(f"/{group}/songs")
            table = None if dsid is None else _SongsTable(dsid, f"{self.path}: {group}/songs")
            if table is not None and group != "metadata" and table.n_rows != self.n_songs:
                raise InputFileError(f"{self.path}: {group}/songs has {table.n_rows} rows, "
                                     f"metadata/songs has {self.n_songs}")
            self._tables[group] = table
        return self._tables[group]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the file (and every table and array opened in it)."""
        self._tables.clear()
        self._fid.close()

    def __len__(self):
        return self.n_songs

    def _columns(self, start, stop, fields):
        # Where a field name appears in two groups the metadata one wins; a
        # table none of whose fields is still wanted is not even opened.
        columns = {}
        for group in GROUPS:
            if fields is not None and len(columns) == len(fields):
                break
            table = self._table(group)
            if table is None:
                continue
            wanted = [name for name in (table.members if fields is None else fields)
                      if name not in columns]
            rows = table.read(wanted, start, stop)
            for name in rows.dtype.names:
                columns[name] = rows[name]
        return columns

    def song(self, i: int, fields: Sequence[str] | None = None) -> dict:
        """Return row ``i`` of the three ``songs`` tables merged into one dict.

        Parameters
        ----------
        i : int
        fields : sequence of str, optional
            Only these fields (those the file has); default: all.

        Byte strings are decoded; numpy scalars become Python numbers. Where a
        field name appears in two groups the ``metadata`` one wins.
        """
        if not 0 <= i < self.n_songs:
            raise IndexError(f"{self.path}: song {i} out of range (0..{self.n_songs - 1})")
        return {name: _python(values[0])
                for name, values in self._columns(i, i + 1, fields).items()}

    def table_row(self, group: str, i: int, fields: Sequence[str]) -> dict | None:
        """Row ``i`` of ``group/songs`` only, in ``fields`` (those the table has).

        The fast way to a few known fields (``analysis`` holds ``track_id`` and
        ``duration``): no other table is opened.

        Returns
        -------
        dict or None
            None when the file has no ``group/songs`` table.
        """
        if not 0 <= i < self.n_songs:
            raise IndexError(f"{self.path}: song {i} out of range (0..{self.n_songs - 1})")
        table = self._table(group)
        if table is None:
            return None
        rows = table.read(fields, i, i + 1)
        return {name: _python(rows[name][0]) for name in rows.dtype.names}

    def songs(self, batch: int = 4096, fields: Sequence[str] | None = None) -> Iterator[dict]:
        """Iterate over all songs (dicts, as :meth:`song`), reading ``batch`` rows at a time."""
        for start in range(0, self.n_songs, batch):
            stop = min(start + batch, self.n_songs)
            columns = {name: values.tolist() for name, values
                       in self._columns(start, stop, fields).items()}
            for k in range(stop - start):
                yield {name: _python(values[k]) for name, values in columns.items()}

    def array_names(self) -> list[str]:
        """Names of the per-song arrays present, e.g. ``segments_timbre``."""
        names = []
        f = h5py.File(self._fid)
        for group in GROUPS:
            if group in f:
                names += [name for name, obj in f[group].items()
                          if name != "songs" and isinstance(obj, h5py.Dataset)]
        return sorted(names)

    def _locate(self, name):
        # Most arrays, and all the segment arrays, are in analysis/: look there first.
        for group in ("analysis", "metadata", "musicbrainz"):
            dsid = self._open(f"/{group}/{name}")
            if dsid is not None:
                return group, dsid
        return None, None

    def arrays(self, names: Iterable[str], i: int = 0) -> dict[str, np.ndarray]:
        """Song ``i``'s slices of the arrays ``names`` that the file has.

        One read of the ``songs`` row per group for the slice bounds (none in
        a per-track file), then one read per array.

        Returns
        -------
        dict
            ``{name: array}``; names the file lacks are left out.
        """
        if not 0 <= i < self.n_songs:
            raise IndexError(f"{self.path}: song {i} out of range (0..{self.n_songs - 1})")
        found = {}
        for name in names:
            group, dsid = self._locate(name)
            if dsid is not None:
                found[name] = (group, dsid)
        bounds = {}
        if self.n_songs > 1:
            for group in {g for g, _ in found.values()}:
                table = self._table(group)
                wanted = [f"idx_{n}" for n, (g, _) in found.items() if g == group]
                missing = [f for f in wanted if table is None or table.member(f) is None]
                if missing:
                    raise KeyError(f"{self.path}: array {missing[0][4:]!r} has no index "
                                   f"column {missing[0]}")
                rows = table.read(wanted, i, min(i + 2, self.n_songs))
                bounds[group] = rows
        out = {}
        for name, (group, dsid) in found.items():
            shape = dsid.shape
            length = shape[0] if shape else 0
            if group in bounds:
                rows = bounds[group]
                start = int(rows[f"idx_{name}"][0])
                stop = int(rows[f"idx_{name}"][1]) if len(rows) > 1 else length
                if not 0 <= start <= stop <= length:
                    raise InputFileError(
                        f"{self.path}: {group}/songs row {i}: idx_{name} slice "
                        f"{start}..{stop} outside {name} (length {length})")
            else:
                start, stop = 0, length
            out[name] = self._read_array(group, name, dsid, start, stop, shape)
        return out

    def _read_array(self, group, name, dsid, start, stop, shape):
        try:
            dtype = dsid.dtype
            if not shape:
                raise ValueError("a scalar where an array belongs")
            if start == 0 and stop == shape[0]:
                # The whole array (every per-track file): no selection to build,
                # a few microseconds of each of a million files' four arrays.
                values = np.empty(shape, dtype=dtype)
                if values.size:
                    dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, values)
            else:
                mspace, fspace = _rows_space(dsid, start, stop)
                values = np.empty(mspace.shape, dtype=dtype)
                if values.size:
                    dsid.read(mspace, fspace, values)
        except (OSError, RuntimeError) as exc:
            raise UnreadableFile(f"{self.path}: cannot read {group}/{name}[{start}:{stop}], "
                                 f"damaged file ({exc})") from exc
        except (ValueError, TypeError) as exc:
            raise InputFileError(f"{self.path}: cannot read {group}/{name}[{start}:{stop}] "
                                 f"({exc})") from exc
        if values.dtype.kind == "S":
            return np.array([v.rstrip(b"\0").decode("utf-8", "replace") for v in values],
                            dtype=object)
        return values

    def array(self, name: str, i: int = 0) -> np.ndarray:
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
        values = self.arrays([name], i)
        if name not in values:
            raise KeyError(f"{self.path}: no array {name!r} "
                           f"(have: {', '.join(self.array_names())})")
        return values[name]

    def segments(self, i: int = 0) -> dict[str, np.ndarray]:
        """Return ``{name: array}`` for the segment arrays of song ``i``.

        ``segments_start`` (n,) seconds, ``segments_timbre`` (n, 12),
        ``segments_pitches`` (n, 12), ``segments_loudness_max`` (n,),
        ``segments_loudness_start`` (n,). Missing arrays are left out.
        """
        return self.arrays(SEGMENT_ARRAYS, i)


def read_msd_h5(path: str | os.PathLike) -> list[dict]:
    """Return the songs of one MSD HDF5 file as a list of dicts.

    Raises
    ------
    InputFileError
        The file cannot be read (missing, truncated, not MSD).
    """
    with MSDFile(path) as f:
        return list(f.songs())


def iter_msd_h5_paths(root: str | os.PathLike) -> Iterator[str]:
    """Yield the paths of ``*.h5`` files under ``root`` (nested ``A/B/C/`` layout), sorted.

    Streams folder by folder, so a tree of a million files is never listed at once.
    """
    root = os.fspath(root)
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".h5"):
                yield os.path.join(folder, name)


def find_msd_h5(root: str | os.PathLike) -> list[str]:
    """Return the sorted paths of ``*.h5`` files under ``root`` (nested ``A/B/C/`` layout)."""
    return list(iter_msd_h5_paths(root))


def count_msd_h5(root: str | os.PathLike) -> int:
    """Number of ``*.h5`` files under ``root`` (or 1 when ``root`` is a file), without opening them."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        return 1
    # The files iter_msd_h5_paths() yields (os.walk's: symlinked folders not
    # entered, unreadable ones skipped), counted without sorting the names or
    # building their paths: this runs at every start-up, on a million files.
    count, folders = 0, [root]
    while folders:
        try:
            entries = os.scandir(folders.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if is_dir:
                    if not entry.is_symlink():
                        folders.append(entry.path)
                elif entry.name.endswith(".h5"):
                    count += 1
    return count


def iter_msd_h5_folder(root: str | os.PathLike, errors: BadInputLog | None = None,
                       with_segments: bool = False,
                       fields: Sequence[str] | None = None) -> Iterator[dict]:
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
    fields : sequence of str, optional
        Only these ``songs`` fields (e.g. :data:`TRACK_FIELDS`); default: all.

    Yields
    ------
    dict
        One song, with ``"path"`` (the file) and ``"row"`` added.
    """
    errors = ensure_log(errors)
    for path in iter_msd_h5_paths(root):
        try:
            with MSDFile(path) as f:
                for row, song in enumerate(f.songs(fields=fields)):
                    if with_segments:
                        song["segments"] = f.segments(row)
                    song["path"], song["row"] = path, row
                    yield song
        except InputFileError as exc:
            errors.add(path, None, "unreadable HDF5", str(exc).replace(f"{path}: ", "", 1))


def iter_msd_h5_tracks(msd_h5: str, errors: BadInputLog | None = None,
                       fields: Sequence[str] = TRACK_FIELDS) -> Iterator[dict]:
    """Stream the track rows of ``msd_h5``: a folder tree of MSD files, or one aggregate file.

    Parameters
    ----------
    msd_h5 : str
        A folder (``A/B/C/TR*.h5``; unreadable files are recorded in ``errors``
        and skipped) or one aggregate file such as ``msd_summary_file.h5``
        (read in batches of rows: memory stays flat in the number of rows).
    errors : BadInputLog, optional
    fields : sequence of str
        The ``songs`` fields to read.

    Yields
    ------
    dict
        ``fields`` (those the file has), plus ``"path"`` and ``"row"``.

    Raises
    ------
    InputFileError
        ``msd_h5`` is a file that cannot be read.
    """
    if os.path.isdir(msd_h5):
        yield from iter_msd_h5_folder(msd_h5, errors, fields=fields)
        return
    with MSDFile(msd_h5) as f:
        for row, song in enumerate(f.songs(fields=fields)):
            song["path"], song["row"] = f.path, row
            yield song
