"""Line-by-line reading of large text inputs with bounded memory."""

from __future__ import annotations

import os
from collections.abc import Iterator

from .compression import READ_ERRORS, UTF8_BOM, open_input
from .errors import InputFileError


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str | UndecodableLine]]:
    """Yield ``(line_number, text)`` for each line of a text file, 1-based.

    The file may be gzip, bzip2 or xz compressed (told by its first bytes);
    a UTF-8 byte-order mark at its start is skipped. Reads bytes and decodes
    per line so that one line in an odd encoding is reported by number
    instead of stopping the file: such a line comes back as an
    :class:`UndecodableLine` (raw bytes and the reason) instead of str.

    Raises
    ------
    InputFileError
        The file is missing or unreadable, is a format no text reader can
        use (see :func:`krotos.msd.compression.open_input`), or its
        compressed data is damaged or truncated (the message names the last
        line read).
    """
    path = os.fspath(path)
    number = 0
    with open_input(path) as handle:
        try:
            for number, raw in enumerate(handle, 1):
                # A byte-order mark starting a later line comes from files concatenated.
                raw = raw.rstrip(b"\r\n").removeprefix(UTF8_BOM)
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield number, UndecodableLine(raw, exc)
        except READ_ERRORS as exc:
            raise InputFileError(read_failure(path, number, exc)) from exc


def read_failure(path: str | os.PathLike, lines_read: int, exc: BaseException) -> str:
    """Message for a read that failed after ``lines_read`` lines (e.g. a truncated .gz)."""
    return (f"{path}: read failed after line {lines_read} "
            f"({type(exc).__name__}: {exc}); the file is damaged or truncated")


class UndecodableLine:
    """A line that is not UTF-8: keeps the bytes and the decoder's complaint."""

    def __init__(self, raw, exc):
        self.raw = raw
        self.reason = f"not UTF-8 ({exc.reason} at byte {exc.start}): {raw[:60]!r}"
