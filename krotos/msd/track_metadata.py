"""Reader of the MSD ``track_metadata.db`` (SQLite, table ``songs``)."""

from __future__ import annotations

import collections
import math
import os
import re
from collections.abc import Iterator

from .errors import BadInputLog, ensure_log
from .sqlite_input import decode_text, open_readonly, wrap_errors

#: Columns every real ``track_metadata.db`` has (and the reader needs).
_WHITESPACE = re.compile(r"\s")

REQUIRED_COLUMNS = ("track_id", "title", "song_id", "release", "artist_id", "artist_name",
                    "duration", "year", "track_7digitalid")

TrackMeta = collections.namedtuple(
    "TrackMeta",
    "track_id song_id title release artist_id artist_name duration year track_7digitalid")
TrackMeta.__doc__ = """One row of ``songs``; ``track_7digitalid`` and ``year`` are None when unknown."""


def _positive_int(value):
    """MSD writes 0 or -1 for "unknown"; give None for those and for junk."""
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _float(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def iter_track_metadata(path: str | os.PathLike,
                        errors: BadInputLog | None = None) -> Iterator[TrackMeta]:
    """Stream the tracks of ``track_metadata.db``.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file (real MSD schema, table ``songs``).
    errors : BadInputLog, optional
        Collector for rejected rows: empty or undecodable track / song id,
        duplicate track id. Text fields in an odd encoding are kept with
        U+FFFD replacements and recorded.

    Yields
    ------
    TrackMeta
        In ROWID order.

    Raises
    ------
    InputFileError
        The file is missing, not SQLite, or has no ``songs`` table with the
        expected columns.
    """
    errors = ensure_log(errors)
    path = os.fspath(path)
    con = open_readonly(path, {"songs": REQUIRED_COLUMNS})
    seen = set()
    try:
        rows = con.execute(
            "SELECT ROWID, track_id, song_id, title, release, artist_id, artist_name, "
            "duration, year, track_7digitalid FROM songs ORDER BY ROWID")
        for rowid, *values in wrap_errors(path, rows):
            where = f"songs rowid {rowid}"
            ids = []
            for name, raw in zip(("track_id", "song_id"), values[:2]):
                text, why = decode_text(raw)
                text = (text or "").strip()
                if why is None and not text:
                    why = "empty"
                elif why is None and _WHITESPACE.search(text):
                    why = f"contains whitespace: {text!r}"
                if why is not None:
                    errors.add(path, where, f"bad {name}", why)
                    break
                ids.append(text)
            else:
                track_id, song_id = ids
                if track_id in seen:
                    errors.add(path, where, "duplicate track_id", track_id)
                    continue
                seen.add(track_id)
                texts = []
                for name, raw in zip(("title", "release", "artist_id", "artist_name"), values[2:6]):
                    if isinstance(raw, bytes):
                        try:
                            raw = raw.decode("utf-8")
                        except UnicodeDecodeError as exc:
                            errors.add(path, where, "text not UTF-8 (replaced)", f"{name}: {exc}")
                            raw = raw.decode("utf-8", "replace")
                    texts.append("" if raw is None else str(raw))
                duration, year, digital = values[6:9]
                yield TrackMeta(track_id, song_id, *texts, _float(duration),
                                _positive_int(year), _positive_int(digital))
    finally:
        con.close()


def read_track_metadata(path: str | os.PathLike,
                        errors: BadInputLog | None = None) -> list[TrackMeta]:
    """Return all tracks of ``track_metadata.db`` as a list of :class:`TrackMeta`.

    See :func:`iter_track_metadata`.
    """
    return list(iter_track_metadata(path, errors))
