"""Open third-party SQLite files read-only and check their schema."""

from __future__ import annotations

import os
import pathlib
import sqlite3
from collections.abc import Iterable, Iterator

from .compression import describe
from .errors import InputFileError

#: Seconds to wait for another process's write lock before giving up.
LOCK_TIMEOUT = 5.0


def database_error(path: str | os.PathLike, exc: sqlite3.Error,
                   action: str = "not a readable SQLite database") -> InputFileError:
    """InputFileError for a SQLite error on ``path`` that says what the file really is.

    A lock held by another process, an empty file and a compressed copy (or
    any file whose first bytes say what it is) each get their own message;
    anything else is ``"<path>: <action> (<error>)"``.
    """
    path = os.fspath(path)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return InputFileError(
            f"{path}: locked by another process that is writing it ({exc}); wait for it to "
            f"finish, or give a copy of the file")
    what, remedy = describe(path)
    if what and what != "a SQLite database":
        return InputFileError(f"{path}: {what}, not a SQLite database: {remedy} ({exc})")
    return InputFileError(f"{path}: {action} ({exc})")


def open_readonly(path: str | os.PathLike, tables: dict) -> sqlite3.Connection:
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
        Missing or empty file, not a SQLite database (a compressed copy is
        named as such), locked by a writer for longer than
        :data:`LOCK_TIMEOUT`, or a table / column missing.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputFileError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        # SQLite opens an empty file as an empty database: "table missing" would mislead.
        raise database_error(path, sqlite3.DatabaseError("file is empty"))
    uri = pathlib.Path(path).resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT)
    except sqlite3.DatabaseError as exc:
        raise database_error(path, exc) from exc
    try:
        con.text_factory = bytes
        present = {
            row[0].decode("utf-8", "replace")
            for row in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as exc:
        con.close()
        raise database_error(path, exc) from exc
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


def wrap_errors(path: str | os.PathLike, rows: Iterable) -> Iterator:
    """Re-raise SQLite errors met while iterating ``rows`` as InputFileError.

    A database can open fine and still be corrupt further in; the message must
    then name the file, not just say "database disk image is malformed".
    """
    try:
        yield from rows
    except sqlite3.DatabaseError as exc:
        raise database_error(path, exc, "read failed") from exc


def decode_text(value: object) -> tuple[str | None, str | None]:
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
