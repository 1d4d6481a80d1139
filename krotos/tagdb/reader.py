"""Read API of ``tags.sqlite`` for the later stages (read-only)."""

from __future__ import annotations

import collections
import json
import os
import pathlib
import sqlite3
from collections.abc import Sequence

import numpy as np

from krotos.msd import sqlite_input
from krotos.msd.errors import InputFileError
from krotos.msd.sqlite_input import database_error

Track = collections.namedtuple(
    "Track", "track_id song_id track_7digitalid artist artist_id title duration")
Track.__doc__ = """A track of the tag database; ``track_7digitalid`` is None when unknown."""

#: IN (...) lists stay below SQLite's bound-parameter limit.
_IN_BATCH = 900
#: From this many distinct tracks on, one pass over all vocabulary rows is
#: cheaper than many IN (...) queries.
_FULL_SCAN_FROM = 20_000


class TagDB:
    """The tag database opened read-only.

    Parameters
    ----------
    path : str or os.PathLike
        ``tags.sqlite`` written by :func:`krotos.tagdb.build_tag_database`.

    Raises
    ------
    InputFileError
        Missing or empty file, locked by a writer, or not a tag database.

    Examples
    --------
    >>> with TagDB("tags.sqlite") as db:
    ...     tagged = db.tracks(tagged=True)
    ...     y = db.tag_matrix([t.track_id for t in tagged])   # (n, n_tags) float32 0/1
    ...     names = db.vocabulary()
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise InputFileError(f"{self.path}: no such file")
        if os.path.getsize(self.path) == 0:
            # SQLite opens an empty file as an empty database: "no such table" would mislead.
            raise database_error(self.path, sqlite3.DatabaseError("file is empty"))
        # A URI keeps '?', '%' or '#' in the path literal (percent-encoded).
        uri = pathlib.Path(self.path).resolve().as_uri() + "?mode=ro"
        # Plain sqlite3, not SQLAlchemy: every shard task opens the database
        # for its track list, and importing SQLAlchemy costs more than reading it.
        self._conn = None
        try:
            self._conn = sqlite3.connect(uri, uri=True, timeout=sqlite_input.LOCK_TIMEOUT)
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as exc:
            if self._conn is not None:
                self._conn.close()
            raise database_error(self.path, exc, "not a krotos tag database") from exc
        self._meta = {key: json.loads(value) for key, value in meta.items()}
        self._vocab = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    def _rows(self, sql, **params):
        # Named parameters (``:name``) as SQLite binds them.
        return self._conn.execute(sql, params).fetchall()

    @property
    def params(self) -> dict:
        """Build parameters: n_tags, min_weight, audio_filter."""
        return dict(self._meta["params"])

    @property
    def min_weight(self) -> float:
        """Weight from which a tag counts as present (the build's ``min_weight``)."""
        return float(self._meta["params"]["min_weight"])

    def summary(self) -> dict:
        """The build summary (counts, bad rows by reason), as in ``summary.json``."""
        return self._meta.get("summary", {})

    @staticmethod
    def _where(tagged):
        if tagged is None:
            return ""
        return " WHERE n_vocab_tags > 0" if tagged else " WHERE n_vocab_tags = 0"

    def tracks(self, tagged: bool | None = None) -> list[Track]:
        """Return the tracks, sorted by track id.

        Splits are not the tag database's business: see :mod:`krotos.splits`.

        Parameters
        ----------
        tagged : bool, optional
            True: only tracks with at least one vocabulary tag (what the tag
            model trains on); False: only those without; None: all.

        Returns
        -------
        list of Track
        """
        rows = self._rows(
            "SELECT track_id, song_id, track_7digitalid, artist, artist_id, title, duration "
            f"FROM tracks{self._where(tagged)} ORDER BY track_id")
        return [Track(*row) for row in rows]

    def track_ids(self, tagged: bool | None = None) -> list[str]:
        """Return the track ids (sorted) of :meth:`tracks` with the same argument."""
        rows = self._rows(f"SELECT track_id FROM tracks{self._where(tagged)} ORDER BY track_id")
        return [row[0] for row in rows]

    def vocabulary(self) -> list[str]:
        """Return the canonical names of the vocabulary tags, in model output order."""
        if self._vocab is None:
            self._vocab = [row[0] for row in self._rows("SELECT name FROM vocabulary ORDER BY idx")]
        return list(self._vocab)

    def vocabulary_counts(self) -> list[tuple[str, int]]:
        """Return ``[(name, number of tracks with weight >= min_weight)]`` in output order."""
        return [tuple(row) for row in self._rows("SELECT name, n_tracks FROM vocabulary ORDER BY idx")]

    def _driver_rows(self, sql, params=()):
        # Plain DB-API execution: these queries run with thousands of parameters.
        return self._conn.execute(sql, tuple(params)).fetchall()

    def _in_batches(self, sql, values, extra=()):
        """Run ``sql`` (ending in ``IN ({})``) over ``values`` in batches; concatenate the rows."""
        rows = []
        for start in range(0, len(values), _IN_BATCH):
            chunk = list(values[start:start + _IN_BATCH])
            rows += self._driver_rows(sql.format(", ".join("?" * len(chunk))), (*extra, *chunk))
        return rows

    def _internal_ids(self, unique):
        """``tracks.id`` of each (sorted, distinct) track id; KeyError naming the unknown ones."""
        if len(unique) >= _FULL_SCAN_FROM:
            known = dict(self._driver_rows("SELECT track_id, id FROM tracks"))
        else:
            known = dict(self._in_batches("SELECT track_id, id FROM tracks WHERE track_id IN ({})",
                                          unique.tolist()))
        missing = [t for t in unique.tolist() if t not in known]
        if missing:
            raise KeyError(f"{self.path}: {len(missing)} track id(s) not in the tag database, "
                           f"e.g. {', '.join(missing[:5])}")
        return np.array([known[t] for t in unique.tolist()], dtype=np.int64)

    def _matrix(self, track_ids, min_weight, binary):
        track_ids = [str(t) for t in track_ids]
        n_vocab = len(self.vocabulary())
        if not track_ids:
            return np.zeros((0, n_vocab), dtype=np.float32)
        unique, inverse = np.unique(np.array(track_ids, dtype=str), return_inverse=True)
        internal = self._internal_ids(unique)
        sql = ("SELECT tt.track, v.idx, tt.weight FROM track_tags tt "
               "JOIN vocabulary v ON v.tag_id = tt.tag WHERE tt.weight >= ?")
        if len(unique) >= _FULL_SCAN_FROM:
            # Many tracks: one pass over the vocabulary rows beats many IN (...) lists.
            rows = self._driver_rows(sql, (min_weight,))
        else:
            rows = self._in_batches(sql + " AND tt.track IN ({})", internal.tolist(), (min_weight,))
        values = np.zeros((len(unique), n_vocab), dtype=np.float32)
        if rows:
            track, idx, weight = (np.array(column) for column in zip(*rows))
            # internal track id -> row of ``values`` (-1: not asked for)
            position = np.full(max(int(internal.max()), int(track.max())) + 1, -1, dtype=np.int64)
            position[internal] = np.arange(len(unique))
            row = position[track]
            asked = row >= 0
            values[row[asked], idx[asked]] = 1.0 if binary else weight[asked]
        return values[inverse.reshape(-1)]

    def tag_matrix(self, track_ids: Sequence[str], min_weight: float | None = None) -> np.ndarray:
        """Return the 0/1 labels of ``track_ids`` over the vocabulary.

        Parameters
        ----------
        track_ids : sequence of str
            Tracks of this database (any order; repeats allowed).
        min_weight : float, optional
            Threshold for "tag present"; default: the build's ``min_weight``.

        Returns
        -------
        numpy.ndarray
            float32, shape ``(len(track_ids), len(vocabulary()))``; row ``i``
            belongs to ``track_ids[i]``, column ``j`` to ``vocabulary()[j]``.

        Raises
        ------
        KeyError
            A track id is not in the database.
        """
        return self._matrix(track_ids, self.min_weight if min_weight is None else float(min_weight),
                            binary=True)

    def tag_weights(self, track_ids: Sequence[str]) -> np.ndarray:
        """Return the Last.fm weights (0..100; 0 where absent) of ``track_ids`` over the vocabulary.

        Same shape and order as :meth:`tag_matrix`; weights below
        ``min_weight`` are included.
        """
        return self._matrix(track_ids, 0.0, binary=False)

    def tags_of(self, track_id: str) -> list[tuple[str, float]]:
        """Return every tag of one track as ``[(canonical name, weight)]``, heaviest first."""
        rows = self._rows(
            "SELECT g.name, tt.weight FROM track_tags tt JOIN tags g ON g.id = tt.tag "
            "JOIN tracks t ON t.id = tt.track WHERE t.track_id = :t ORDER BY tt.weight DESC, g.name",
            t=track_id)
        return [tuple(row) for row in rows]

    def song_to_track(self) -> dict[str, str]:
        """Return ``{song_id: track_id}``, with the sid_mismatches pairs removed.

        Where several tracks share a song, the one with vocabulary tags (then
        the smallest track id) is chosen.
        """
        return dict(self._rows("SELECT song_id, track_id FROM song_tracks"))

    def mismatches(self) -> set[tuple[str, str]]:
        """Return the ``(song_id, track_id)`` pairs of ``sid_mismatches.txt`` used by the build."""
        return {tuple(row) for row in self._rows("SELECT song_id, track_id FROM mismatches")}
