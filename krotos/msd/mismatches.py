"""Reader of the Taste Profile ``sid_mismatches.txt``.

Each line names a song/track pair that the Echo Nest matched wrongly::

    ERROR: <SOUMNSI12AB0182807 TRMMGKQ128F9325E10> Artist  -  Title  !=  Artist  -  Title

Plays of such a song must not be credited to that track.
"""

from __future__ import annotations

import os
import re

from .errors import BadInputLog, ensure_log
from .text_lines import UndecodableLine, iter_lines

_PAIR = re.compile(rb"^ERROR: <(\S+) (\S+)>")


def read_sid_mismatches(path: str | os.PathLike,
                        errors: BadInputLog | None = None) -> set[tuple[str, str]]:
    """Return the set of ``(song_id, track_id)`` pairs listed in ``sid_mismatches.txt``.

    Only the ids are parsed; the artist/title text after them may be in any
    encoding. Lines that do not start with ``ERROR: <SONG TRACK>`` are
    recorded in ``errors`` and skipped.

    Parameters
    ----------
    path : str or os.PathLike
    errors : BadInputLog, optional

    Returns
    -------
    set of tuple of str
    """
    errors = ensure_log(errors)
    pairs = set()
    for number, text in iter_lines(path):
        raw = text.raw if isinstance(text, UndecodableLine) else text.encode("utf-8")
        if not raw.strip():
            continue
        match = _PAIR.match(raw)
        if not match:
            errors.add(path, number, "not an 'ERROR: <SONG TRACK>' line", repr(raw[:60]))
            continue
        song_id, track_id = (m.decode("ascii", "replace") for m in match.groups())
        if not (song_id.startswith("SO") and track_id.startswith("TR")):
            errors.add(path, number, "ids are not <SO... TR...>", f"{song_id} {track_id}")
            continue
        pairs.add((song_id, track_id))
    return pairs
