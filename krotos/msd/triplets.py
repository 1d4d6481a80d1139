"""Reader of the Taste Profile triplets: ``user<TAB>song_id<TAB>count`` per line.

The real ``train_triplets.txt`` has 48,373,586 lines (about 3 GB), so it is
only ever streamed: :func:`iter_triplets` yields one play at a time,
:func:`iter_triplet_chunks` yields numpy arrays of ``chunk_lines`` lines at a
time; neither holds more than one chunk of the file in memory.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator

import numpy as np

from .compression import READ_ERRORS, UTF8_BOM, open_input
from .errors import BadInputLog, InputFileError, ensure_log
from .text_lines import read_failure

#: Largest play count kept: counts are int64 from the reader to ``plays.h5``.
MAX_COUNT = np.iinfo(np.int64).max

# ASCII digits only: int() would also take '1_000', ' 7' or digits of other scripts.
_COUNT = re.compile(r"([+-]?)0*([0-9]+)\Z")

# Control characters in an id are damage (a NUL would even vanish in numpy's str arrays).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_count(text: str) -> tuple[int | None, tuple[str, str] | None]:
    """Return ``(count, None)`` for a positive int64 play count, else ``(None, (reason, detail))``."""
    match = _COUNT.match(text)
    if not match:
        return None, ("non-integer count", repr(text[:40]))
    sign, digits = match.groups()
    if sign == "-" or digits == "0":
        return None, ("non-positive count", repr(text[:40]))
    # Length first: int() of a very long digit string is slow, or refused.
    if len(digits) > len(str(MAX_COUNT)) or int(digits) > MAX_COUNT:
        return None, ("count out of int64 range", f"{text[:40]!r} > {MAX_COUNT}")
    return int(digits), None


def _parse_line(path, number, raw, errors):
    """Return ``(user, song, count)`` for one line, or None after logging why not."""
    # A byte-order mark starting a line (files concatenated) is not part of the user id.
    raw = raw.removeprefix(UTF8_BOM)
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        errors.add(path, number, "line not UTF-8", f"{exc.reason} at byte {exc.start}: {raw[:60]!r}")
        return None
    if not text.strip():
        errors.add(path, number, "empty line")
        return None
    fields = text.split("\t")
    if len(fields) != 3:
        errors.add(path, number, "wrong field count", f"{len(fields)} fields, expected 3: {text[:80]!r}")
        return None
    user, song, count = (field.strip() for field in fields)
    if not user:
        errors.add(path, number, "empty user id")
        return None
    if not song:
        errors.add(path, number, "empty song id")
        return None
    if _CONTROL.search(user) or _CONTROL.search(song):
        errors.add(path, number, "control character in an id", repr(text[:80]))
        return None
    value, why = parse_count(count)
    if why is not None:
        errors.add(path, number, *why)
        return None
    return user, song, value


def iter_triplets(path: str | os.PathLike,
                  errors: BadInputLog | None = None) -> Iterator[tuple[str, str, int]]:
    """Stream ``(user, song_id, count)`` from a triplets file.

    Parameters
    ----------
    path : str or os.PathLike
        The text file, or a gzip, bzip2 or xz compressed copy (told by its
        first bytes, whatever its name); a UTF-8 byte-order mark is skipped.
    errors : BadInputLog, optional
        Collects malformed lines (wrong field count, empty user or song id,
        control characters in an id, non-integer or non-positive count, a
        count beyond int64, not UTF-8) by line number.

    Yields
    ------
    tuple of (str, str, int)

    Raises
    ------
    InputFileError
        The file cannot be opened or read, is in a format that is not text
        (zip, SQLite, UTF-16, ...), or its compressed data is truncated.
    """
    errors = ensure_log(errors)
    path = os.fspath(path)
    number = 0
    with open_input(path) as handle:
        try:
            for number, raw in enumerate(handle, 1):
                parsed = _parse_line(path, number, raw, errors)
                if parsed is not None:
                    yield parsed
        except READ_ERRORS as exc:
            raise InputFileError(read_failure(path, number, exc)) from exc


def _fast_chunk(data, n_lines):
    """Parse a chunk of well-formed lines at numpy speed; None if any line is odd.

    ``data`` is the chunk's bytes, ``n_lines`` lines each ending in ``\\n``
    (except perhaps the last line of the file).
    """
    if not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    tabs = np.flatnonzero(buf == 9)
    # Two tabs on every line, so that splitting the whole chunk lines up in threes.
    tabs_per_line = np.diff(np.searchsorted(tabs, newlines), prepend=0)
    if len(newlines) != n_lines or (tabs_per_line != 2).any():
        return None
    # Whitespace and control bytes are stripped or refused by the line-by-line
    # path, and non-ASCII text (a BOM, odd digits) is its to judge: leave such
    # chunks to it, so that both paths give the same result.
    if not data.isascii() or np.count_nonzero(buf <= 32) != len(tabs) + len(newlines):
        return None
    flat = data.decode("ascii").replace("\n", "\t").split("\t")
    users = np.array(flat[0:-1:3], dtype=str)
    songs = np.array(flat[1::3], dtype=str)
    count_text = flat[2::3]
    # In ASCII without whitespace, int() takes only digits, a sign or '_' between
    # digits: where '+' or '_' occur, check that the counts are digits alone.
    if (b"_" in data or b"+" in data) and not np.char.isdigit(np.array(count_text)).all():
        return None
    try:
        counts = np.fromiter(map(int, count_text), dtype=np.int64, count=n_lines)
    except (ValueError, OverflowError):
        return None
    del flat, count_text
    if (users == "").any() or (songs == "").any() or (counts <= 0).any():
        return None
    return users, songs, counts


def iter_triplet_chunks(path: str | os.PathLike, chunk_lines: int = 1_000_000,
                        errors: BadInputLog | None = None,
                        ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Stream a triplets file as numpy arrays, ``chunk_lines`` lines at a time.

    Parameters
    ----------
    path : str or os.PathLike
        ``user<TAB>song_id<TAB>count`` text file (``train_triplets.txt``),
        possibly compressed (see :func:`iter_triplets`).
    chunk_lines : int
        Lines per chunk. Peak memory is about 0.9 GB per million lines while
        parsing (fixed-width unicode arrays take 4 bytes per character); the
        arrays yielded take about 240 bytes per line.
    errors : BadInputLog, optional
        Collects malformed lines by line number (see :func:`iter_triplets`);
        they are left out of the arrays, the rest of the chunk is kept.

    Yields
    ------
    users : numpy.ndarray of str
    songs : numpy.ndarray of str
    counts : numpy.ndarray of int64
        Same length, at most ``chunk_lines``; a chunk whose lines were all bad
        is skipped.

    Raises
    ------
    InputFileError
        The file cannot be opened or read, is in a format that is not text
        (zip, SQLite, UTF-16, ...), or its compressed data is truncated.

    Examples
    --------
    >>> errors = BadInputLog()
    >>> for users, songs, counts in iter_triplet_chunks("train_triplets.txt", errors=errors):
    ...     ...
    >>> errors.counts_by_reason()
    """
    if chunk_lines < 1:
        raise ValueError(f"chunk_lines must be >= 1, got {chunk_lines}")
    errors = ensure_log(errors)
    path = os.fspath(path)
    first = 1
    with open_input(path) as handle:
        while True:
            try:
                lines = list(itertools.islice(handle, chunk_lines))
            except READ_ERRORS as exc:
                raise InputFileError(read_failure(path, first - 1, exc)) from exc
            if not lines:
                return
            n_lines = len(lines)
            data = b"".join(lines)
            del lines  # the joined bytes are all either path needs
            chunk = _fast_chunk(data, n_lines)
            if chunk is None:
                raws = data.split(b"\n")[:n_lines]
                parsed = [p for p in (_parse_line(path, first + k, raw, errors)
                                      for k, raw in enumerate(raws)) if p is not None]
                del raws
                if parsed:
                    users, songs, counts = zip(*parsed)
                    chunk = (np.array(users, dtype=str), np.array(songs, dtype=str),
                             np.array(counts, dtype=np.int64))
            del data
            first += n_lines
            if chunk is not None:
                yield chunk
