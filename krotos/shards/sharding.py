"""Deterministic split of the track list into shards, counted before the track list exists.

The number of shards must be known when Luigi builds the task graph, so
that every worker process, on every machine, lists every shard task from
the first run on (Luigi runs a task only on the workers that listed it).
The tag database that holds the track list does not exist yet then. So the
count comes from the dataset's inputs, read cheaply
(:func:`count_input_tracks`: a row count, a file count, a line count):
``n_shards = ceil(input tracks / shard_size)``. That is an upper bound of
the tracks the tag database keeps (it drops tracks without audio, bad rows,
duplicates), so each shard holds at most ``shard_size`` tracks.

The kept track list comes sorted by track id (``TagDB.tracks()``), and
shard ``i`` of ``n`` is the contiguous slice ``[i * K // n, (i + 1) * K // n)``
of its ``K`` tracks (:func:`shard_items`): the kept tracks are spread evenly
over the shards, and the same list and count always give the same shards,
on any machine, without storing an assignment anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def n_shards(n_tracks: int, shard_size: int) -> int:
    """Number of shards needed for ``n_tracks`` (0 for an empty list)."""
    shard_size = _check_size(shard_size)
    return -(-int(n_tracks) // shard_size)


def shard_items(items: Sequence, shard: int, count: int) -> list:
    """The items of shard number ``shard`` out of ``count`` shards.

    Parameters
    ----------
    items : sequence
        The full, sorted track list.
    shard : int
        Zero-based shard number, below ``count``.
    count : int
        Number of shards the list is spread over.

    Returns
    -------
    list
        The contiguous slice ``[shard * len(items) // count, (shard + 1) * len(items) // count)``.
    """
    count = int(count)
    if count < 1:
        raise ValueError(f"the number of shards must be >= 1, got {count}")
    if not 0 <= shard < count:
        raise ValueError(f"shard number must be in [0, {count}), got {shard}")
    n = len(items)
    return list(items[shard * n // count:(shard + 1) * n // count])


def shard_tracks(tagdb_path: str, shard: int, count: int) -> list:
    """The tag database's tracks of shard number ``shard`` out of ``count`` (see :func:`shard_items`).

    Parameters
    ----------
    tagdb_path : str
        ``tags.sqlite`` (see :class:`krotos.tagdb.TagDB`).
    shard, count : int

    Returns
    -------
    list of krotos.tagdb.Track
    """
    from krotos.tagdb.reader import TagDB

    with TagDB(tagdb_path) as db:
        return shard_items(db.tracks(), shard, count)


def _check_size(shard_size):
    shard_size = int(shard_size)
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    return shard_size


def count_input_tracks(track_metadata: str | os.PathLike | None = None,
                       msd_h5: str | os.PathLike | None = None,
                       unique_tracks: str | os.PathLike | None = None) -> int:
    """An upper bound of the tracks the tag database will keep, from its inputs.

    The track list is the one the tag database reads (the first input given
    of ``track_metadata``, ``msd_h5``, ``unique_tracks``), counted without
    parsing it: the rows of ``track_metadata.db``'s ``songs`` table, the
    ``.h5`` files of an MSD folder (the rows of an aggregate file), the lines
    of ``unique_tracks.txt``. Costs: a few milliseconds for the 10,000-track
    subset; for the full MSD a SQLite ``count(*)`` (under a second) or a walk
    of its million file names (seconds).

    Raises
    ------
    krotos.msd.errors.InputFileError
        The input cannot be read (the message names it).
    ValueError
        No track list is given.
    """
    if track_metadata:
        from krotos.msd.sqlite_input import database_error, open_readonly

        con = open_readonly(track_metadata, {"songs": ["track_id"]})
        try:
            return int(con.execute("SELECT count(*) FROM songs").fetchone()[0])
        except Exception as exc:  # noqa: BLE001 - any SQLite failure names the file
            raise database_error(track_metadata, exc, "cannot count its songs") from exc
        finally:
            # Closed before Luigi forks its workers: no connection crosses a fork.
            con.close()
    if msd_h5:
        from krotos.msd.hdf5 import MSDFile, count_msd_h5

        if os.path.isdir(msd_h5):
            return count_msd_h5(msd_h5)
        with MSDFile(msd_h5) as f:
            return len(f)
    if unique_tracks:
        from krotos.msd.text_lines import iter_lines

        return sum(1 for _ in iter_lines(unique_tracks))
    raise ValueError("no track list to count: give track_metadata, msd_h5 or unique_tracks")
