"""Open input files by what their first bytes say, not by their names.

Users download ``train_triplets.txt.gz`` and point the pipeline at it, or
rename a ``.bz2`` file, or hand it a SQLite file where a text file belongs.
Reading such bytes as lines rejects every line and leaves an empty result
that looks like success, so every text reader opens its file here:

* gzip, bzip2 and xz are decompressed on the fly (the real MSD text files
  are often distributed compressed);
* a UTF-8 byte-order mark at the start is skipped (else it becomes part of
  the first id);
* formats a text reader cannot use (zip, zstd, 7z, UTF-16 text, SQLite,
  HDF5) are refused with a message saying what the file is.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import zlib
from typing import BinaryIO

from .errors import InputFileError

UTF8_BOM = b"\xef\xbb\xbf"

#: Exceptions a decompressing reader raises on damaged or truncated data.
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)

# bzip2: "BZh", a block size digit, then the block magic pi (or the empty stream's end marker).
_BZIP2 = re.compile(rb"BZh[1-9](\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)", re.S)

#: Compressions read transparently: name -> opener of a binary stream.
_READERS = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}

_DECOMPRESS = {"gzip": "gunzip", "bzip2": "bunzip2", "xz": "unxz"}

#: Formats refused by text readers: (magic prefix, what it is, what to do).
_REFUSED = (
    (b"PK\x03\x04", "a zip archive", "unzip it and give the file inside"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it first (zstd -d)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive", "extract it and give the file inside"),
    (b"\xff\xfe", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"),
    (b"\xfe\xff", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"),
    (b"SQLite format 3\x00", "a SQLite database", "check which file this setting names"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file", "check which file this setting names"),
)


def sniff(head: bytes) -> tuple[str, str, str]:
    """Name the format of a file from its first bytes.

    Parameters
    ----------
    head : bytes
        The first 16 bytes (or fewer, for a short file).

    Returns
    -------
    kind : str
        ``"gzip"``, ``"bzip2"``, ``"xz"`` (read transparently), ``"refused"``
        (see below), or ``"plain"``: anything else, which a text reader may try.
    what, remedy : str
        What the file is and what to do, e.g. ``("gzip-compressed",
        "decompress it first (gunzip)")``; ``""`` for ``"plain"``.
    """
    kind = ("gzip" if head.startswith(b"\x1f\x8b") else "bzip2" if _BZIP2.match(head)
            else "xz" if head.startswith(b"\xfd7zXZ\x00") else None)
    if kind:
        return kind, f"{kind}-compressed", f"decompress it first ({_DECOMPRESS[kind]})"
    for magic, what, remedy in _REFUSED:
        if head.startswith(magic):
            return "refused", what, remedy
    return "plain", "", ""


def describe(path: str | os.PathLike) -> tuple[str, str]:
    """Say what a file is from its first bytes, for the error messages of other readers.

    Returns
    -------
    what, remedy : str
        E.g. ``("gzip-compressed", "decompress it first (gunzip)")`` or
        ``("empty (0 bytes)", ...)``; ``("", "")`` when the bytes say nothing
        in particular (or the file cannot be read).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return "", ""
    if not head:
        return "empty (0 bytes)", "an interrupted copy or download?"
    return sniff(head)[1:]


def open_input(path: str | os.PathLike) -> BinaryIO:
    """Open an input file for reading bytes, decompressed, without a UTF-8 BOM.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    binary file object
        Iterating it yields lines of bytes. Reads of damaged compressed data
        raise one of :data:`READ_ERRORS`; readers turn them into
        :class:`~krotos.msd.errors.InputFileError`.

    Raises
    ------
    InputFileError
        The file cannot be opened, or holds a format text readers refuse
        (the message says which and what to do).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    kind, what, remedy = sniff(head)
    if kind == "refused":
        raise InputFileError(f"{path}: {what}, not a text file: {remedy}")
    try:
        handle = _READERS[kind](path, "rb") if kind in _READERS else open(path, "rb")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    try:
        if handle.read(len(UTF8_BOM)) != UTF8_BOM:
            handle.seek(0)
    except READ_ERRORS as exc:
        handle.close()
        raise InputFileError(f"{path}: {kind}-compressed, but damaged or truncated from the "
                             f"start ({exc})") from exc
    return handle
