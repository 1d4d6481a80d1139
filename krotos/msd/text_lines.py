"""Line-by-line reading of large text inputs with bounded memory."""

import os

from .errors import InputFileError


def iter_lines(path):
    """Yield ``(line_number, text)`` for each line of a text file, 1-based.

    Reads bytes and decodes per line so that one line in an odd encoding is
    reported by number instead of stopping the file: such a line comes back
    as an :class:`UndecodableLine` (raw bytes and the reason) instead of str.

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    """
    path = os.fspath(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    with handle:
        try:
            for number, raw in enumerate(handle, 1):
                raw = raw.rstrip(b"\r\n")
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield number, UndecodableLine(raw, exc)
        except OSError as exc:
            raise InputFileError(f"{path}: read failed ({exc})") from exc


class UndecodableLine:
    """A line that is not UTF-8: keeps the bytes and the decoder's complaint."""

    def __init__(self, raw, exc):
        self.raw = raw
        self.reason = f"not UTF-8 ({exc.reason} at byte {exc.start}): {raw[:60]!r}"
