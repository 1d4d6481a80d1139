"""Open third-party SQLite files read-only and check their schema."""

import os
import pathlib
import sqlite3

from .errors import InputFileError


def open_readonly(path, tables):
    """Open a SQLite file read-only and check that it has the expected tables.

    Parameters
    ----------
    path : str or os.PathLike
        The database file.
    tables : dict
        ``{table: [column, ...]}`` that must exist.

    Returns
    -------
    sqlite3.Connection
        With ``text_factory=bytes`` so that text in an odd encoding reaches
        the caller as bytes instead of failing the whole query.

    Raises
    ------
    InputFileError
        Missing file, not a SQLite database, or a table / column missing.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputFileError(f"{path}: no such file")
    uri = pathlib.Path(path).resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
        con.text_factory = bytes
        present = {
            row[0].decode("utf-8", "replace")
            for row in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        raise InputFileError(f"{path}: not a readable SQLite database ({exc})") from exc
    try:
        for table, columns in tables.items():
            if table not in present:
                raise InputFileError(
                    f"{path}: table {table!r} missing (found: {', '.join(sorted(present)) or 'none'})")
            have = {row[1].decode("utf-8", "replace").lower()
                    for row in con.execute(f'PRAGMA table_info("{table}")')}
            missing = [c for c in columns if c.lower() not in have]
            if missing:
                raise InputFileError(
                    f"{path}: table {table!r} lacks column(s) {', '.join(missing)}")
    except BaseException:
        con.close()
        raise
    return con


def wrap_errors(path, rows):
    """Re-raise SQLite errors met while iterating ``rows`` as InputFileError.

    A database can open fine and still be corrupt further in; the message must
    then name the file, not just say "database disk image is malformed".
    """
    try:
        yield from rows
    except sqlite3.DatabaseError as exc:
        raise InputFileError(f"{os.fspath(path)}: read failed ({exc})") from exc


def decode_text(value):
    """Decode a SQLite TEXT/BLOB value; return ``(str, None)`` or ``(None, why)``."""
    if value is None:
        return None, "NULL"
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            return None, f"not UTF-8: {value[:40]!r} ({exc.reason} at byte {exc.start})"
    if isinstance(value, str):
        return value, None
    return str(value), None
