"""Reader of MSD ``unique_tracks.txt``: ``track<SEP>song<SEP>artist<SEP>title``."""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator

from .errors import BadInputLog, ensure_log
from .text_lines import UndecodableLine, iter_lines

SEP = "<SEP>"

UniqueTrack = collections.namedtuple("UniqueTrack", "track_id song_id artist title")


def iter_unique_tracks(path: str | os.PathLike,
                       errors: BadInputLog | None = None) -> Iterator[UniqueTrack]:
    """Stream ``(track_id, song_id, artist, title)`` from ``unique_tracks.txt``.

    Parameters
    ----------
    path : str or os.PathLike
    errors : BadInputLog, optional
        Collects lines with a wrong field count, an empty track or song id, or
        bytes that are not UTF-8.

    Yields
    ------
    UniqueTrack
    """
    errors = ensure_log(errors)
    for number, text in iter_lines(path):
        if isinstance(text, UndecodableLine):
            errors.add(path, number, "line not UTF-8", text.reason)
            continue
        if not text.strip():
            errors.add(path, number, "empty line")
            continue
        fields = text.split(SEP)
        if len(fields) != 4:
            errors.add(path, number, "wrong field count", f"{len(fields)} fields, expected 4")
            continue
        track_id, song_id = fields[0].strip(), fields[1].strip()
        if not track_id or not song_id:
            errors.add(path, number, "empty track or song id")
            continue
        yield UniqueTrack(track_id, song_id, fields[2], fields[3])


def read_unique_tracks(path: str | os.PathLike,
                       errors: BadInputLog | None = None) -> list[UniqueTrack]:
    """Return all lines of ``unique_tracks.txt`` as a list of :class:`UniqueTrack`."""
    return list(iter_unique_tracks(path, errors))
