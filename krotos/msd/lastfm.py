"""Readers of the Last.fm dataset: ``lastfm_tags.db`` and the per-track JSON folders.

``lastfm_tags.db`` (SQLite) has three tables::

    tids(tid TEXT)                               -- MSD track ids
    tags(tag TEXT)                               -- tag names
    tid_tag(tid INTEGER, tag INTEGER, val FLOAT) -- ROWIDs of tids / tags, weight 0..100

The JSON layout (``lastfm_train/``, ``lastfm_test/``) has one file per track,
``A/B/C/TRABC....json``, holding ``{"track_id", "artist", "title",
"timestamp", "tags": [[tag, weight], ...], "similars": [[track_id, score], ...]}``
where the weights are numbers or numeric strings (``"100"``).
"""

from __future__ import annotations

import collections
import json
import math
import os
from collections.abc import Container, Iterator

from .errors import BadInputLog, InputFileError, ensure_log
from .sqlite_input import decode_text, open_readonly, wrap_errors

TABLES = {"tids": ["tid"], "tags": ["tag"], "tid_tag": ["tid", "tag", "val"]}

TagRow = collections.namedtuple("TagRow", "track_id tag weight")

LastfmTrack = collections.namedtuple("LastfmTrack", "track_id artist title tags similars path")
LastfmTrack.__doc__ = """One JSON file: ``tags`` and ``similars`` are lists of ``(str, float)``."""


def _shown(value):
    """``repr(value)`` cut for a message (an int of thousands of digits has no repr)."""
    try:
        return repr(value)[:60]
    except ValueError:
        return f"<{type(value).__name__} too long to show>"


def parse_weight(value: object) -> tuple[float | None, str | None]:
    """Return ``(weight, None)`` for a Last.fm weight in [0, 100], else ``(None, why)``."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, bool) or value is None:
        return None, f"weight {value!r} is not a number"
    try:
        weight = float(value)
    except (TypeError, ValueError):
        return None, f"weight {_shown(value)} is not a number"
    except OverflowError:
        return None, f"weight {_shown(value)} outside 0..100"
    if not math.isfinite(weight) or not 0 <= weight <= 100:
        return None, f"weight {_shown(value)} outside 0..100"
    return weight, None


class LastfmTagsDB:
    """``lastfm_tags.db`` opened read-only; the three tables as streams.

    Parameters
    ----------
    path : str or os.PathLike

    Raises
    ------
    InputFileError
        Missing file, not SQLite, or a table / column missing.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._con = open_readonly(self.path, TABLES)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the database."""
        self._con.close()

    def count(self, table: str) -> int:
        """Number of rows of ``table`` (one of ``tids``, ``tags``, ``tid_tag``)."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        return next(wrap_errors(self.path, self._con.execute(f"SELECT count(*) FROM {table}")))[0]

    def tids(self, errors: BadInputLog | None = None) -> Iterator[tuple[int, str]]:
        """Yield ``(rowid, track_id)``; undecodable or empty ids go to ``errors``."""
        yield from self._names("tids", "tid", errors)

    def tags(self, errors: BadInputLog | None = None) -> Iterator[tuple[int, str]]:
        """Yield ``(rowid, tag)`` with the raw tag text; bad text goes to ``errors``.

        A tag that is not valid UTF-8 is reported and left out: guessing its
        encoding would invent tags nobody wrote.
        """
        yield from self._names("tags", "tag", errors)

    def _names(self, table, column, errors):
        errors = ensure_log(errors)
        rows = self._con.execute(f"SELECT ROWID, {column} FROM {table} ORDER BY ROWID")
        for rowid, value in wrap_errors(self.path, rows):
            text, why = decode_text(value)
            if why is None and not text.strip():
                why = "empty"
            if why is not None:
                errors.add(self.path, f"{table} rowid {rowid}", f"bad {column} text", why)
                continue
            yield rowid, text

    def tid_tag(self) -> Iterator[tuple]:
        """Yield the raw ``(rowid, tid_rowid, tag_rowid, val)`` rows of ``tid_tag``."""
        rows = self._con.execute("SELECT ROWID, tid, tag, val FROM tid_tag")
        yield from wrap_errors(self.path, rows)


def iter_lastfm_tags_db(path: str | os.PathLike,
                        errors: BadInputLog | None = None) -> Iterator[TagRow]:
    """Stream ``(track_id, tag, weight)`` from ``lastfm_tags.db``.

    Memory holds the ``tids`` and ``tags`` tables (the ROWID -> text maps
    needed to resolve ``tid_tag``), never ``tid_tag`` itself.

    Parameters
    ----------
    path : str or os.PathLike
    errors : BadInputLog, optional
        Rows with a dangling ROWID, a weight that is not a number in 0..100,
        a tag or track id that is not UTF-8, ...

    Yields
    ------
    TagRow
        Raw tag spelling; duplicates are passed through (see
        :mod:`krotos.tagdb` for merging).
    """
    errors = ensure_log(errors)
    with LastfmTagsDB(path) as db:
        tids = dict(db.tids(errors))
        tags = dict(db.tags(errors))
        for row in db.tid_tag():
            parsed = resolve_tid_tag(db.path, row, tids, tags, errors)
            if parsed is not None:
                yield TagRow(tids[parsed[0]], tags[parsed[1]], parsed[2])


def resolve_tid_tag(path: str | os.PathLike, row: tuple, tids: Container[int],
                    tags: Container[int], errors: BadInputLog,
                    ) -> tuple[int, int, float] | None:
    """Check one ``tid_tag`` row against the known ROWIDs.

    Returns ``(tid_rowid, tag_rowid, weight)`` or None after recording why the
    row is unusable in ``errors``. Rows pointing at a tid/tag that was itself
    rejected are counted under "refers to a rejected tid/tag".
    """
    rowid, tid, tag, val = row
    where = f"tid_tag rowid {rowid}"
    for name, key, known in (("tid", tid, tids), ("tag", tag, tags)):
        if not isinstance(key, int):
            shown = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
            errors.add(path, where, f"{name} is not a ROWID", repr(shown))
            return None
        if key not in known:
            errors.add(path, where, f"refers to a missing or rejected {name}", f"{name} rowid {key}")
            return None
    weight, why = parse_weight(val)
    if why is not None:
        errors.add(path, where, "bad weight", why)
        return None
    return tid, tag, weight


def iter_lastfm_json_paths(root: str | os.PathLike) -> Iterator[str]:
    """Yield the paths of ``*.json`` files under ``root`` (nested ``A/B/C/`` layout), sorted.

    Folder by folder: the 943,347 files of the full dataset are never listed at once.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise InputFileError(f"{root}: no such folder")
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".json"):
                yield os.path.join(folder, name)


def _unicode(text):
    """``text`` if it is valid Unicode, else None (json.loads lets lone surrogates through)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def _display_text(value):
    """Artist or title as valid Unicode: non-strings become "", lone surrogates U+FFFD."""
    if not isinstance(value, str):
        return ""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _pairs(path, record, key, errors):
    """Parse ``[[name, number], ...]``; bad entries are reported as ``key[i]``."""
    items = record.get(key, [])
    if not isinstance(items, list):
        errors.add(path, key, f"{key} is not a list", type(items).__name__)
        return []
    out = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            errors.add(path, where, f"bad {key} entry", _shown(item))
            continue
        if not item[0].strip():
            errors.add(path, where, f"bad {key} entry", "empty name")
            continue
        if _unicode(item[0]) is None:
            errors.add(path, where, f"bad {key} entry", f"name not valid Unicode: {_shown(item[0])}")
            continue
        if key == "tags":
            weight, why = parse_weight(item[1])
        else:
            weight, why = _score(item[1])
        if why is not None:
            errors.add(path, where, "bad weight", why)
            continue
        out.append((item[0], weight))
    return out


def _score(value):
    """Return ``(score, None)`` for a finite similarity score, else ``(None, why)``."""
    if isinstance(value, bool):
        return None, f"score {value!r} is not a number"
    try:
        score = float(value)
    except (TypeError, ValueError, OverflowError):
        return None, f"score {_shown(value)} is not a number"
    if not math.isfinite(score):
        return None, f"score {_shown(value)} is not finite"
    return score, None


def _load_json(path):
    """Return ``(record, None)``, or ``(None, (line, reason, detail))`` for a file that is no JSON."""
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return None, (None, "file not UTF-8", str(exc))
    except json.JSONDecodeError as exc:
        return None, (exc.lineno, "invalid JSON", exc.msg)
    except RecursionError:
        return None, (None, "invalid JSON", "nested too deeply")
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        return None, (None, "invalid JSON", str(exc)[:120])
    except OSError as exc:
        return None, (None, "unreadable file", exc.strerror or str(exc))


def iter_lastfm_json(root: str | os.PathLike,
                     errors: BadInputLog | None = None) -> Iterator[LastfmTrack]:
    """Stream the per-track JSON files of a Last.fm folder (``lastfm_train/``).

    Parameters
    ----------
    root : str or os.PathLike
        Folder holding ``A/B/C/TR....json`` files (any nesting).
    errors : BadInputLog, optional
        Files that are not JSON (or not UTF-8), lack ``track_id``, or whose
        ``track_id`` differs from the file name are skipped and recorded;
        single bad ``tags`` entries are recorded as ``tags[i]`` and skipped.

    Yields
    ------
    LastfmTrack
    """
    errors = ensure_log(errors)
    for path in iter_lastfm_json_paths(root):
        record, why = _load_json(path)
        if why is not None:
            errors.add(path, *why)
            continue
        if not isinstance(record, dict):
            errors.add(path, None, "JSON is not an object", type(record).__name__)
            continue
        track_id = record.get("track_id")
        if not isinstance(track_id, str) or not track_id.strip() or _unicode(track_id) is None:
            errors.add(path, None, "no track_id", _shown(track_id))
            continue
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem.startswith("TR") and stem != track_id:
            errors.add(path, None, "track_id differs from file name", track_id)
            continue
        yield LastfmTrack(track_id, _display_text(record.get("artist")),
                          _display_text(record.get("title")),
                          _pairs(path, record, "tags", errors),
                          _pairs(path, record, "similars", errors), path)


def iter_lastfm_json_tags(root: str | os.PathLike,
                          errors: BadInputLog | None = None) -> Iterator[TagRow]:
    """Stream ``(track_id, tag, weight)`` rows from a Last.fm JSON folder.

    See :func:`iter_lastfm_json`.
    """
    for track in iter_lastfm_json(root, errors):
        for tag, weight in track.tags:
            yield TagRow(track.track_id, tag, weight)
