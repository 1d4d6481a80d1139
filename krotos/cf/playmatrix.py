"""The users x songs play matrix: built from streamed triplets, filtered, split.

The Taste Profile has 48 million ``user<TAB>song<TAB>count`` lines, so the
matrix is built from chunks of parsed triplets (three numpy arrays each) and
never holds a Python object per line: string ids are turned into integer
codes chunk by chunk (one dictionary entry per *distinct* id), the codes are
accumulated as int32 arrays, and scipy turns the coordinates into a CSR
matrix, summing duplicate ``(user, song)`` lines on the way. Play counts are
int64 from the reader to ``plays.h5``; a sum of duplicate lines beyond int64
saturates at its maximum and is counted, never wraps around.

A play matrix without a play is not a result: :func:`build_play_split` fails
with :class:`~krotos.msd.errors.EmptyResultError`, naming the file and why its
lines were dropped.

Evaluation protocol (what :func:`split_plays` produces)
-------------------------------------------------------
* **every play counts**: a song is an item of the factorization whether or
  not a track, audio or tags exist for it (only the content models need
  audio); songs without a track get an empty track id.
* **cold songs**: the songs of the test tracks of the one song split
  (:mod:`krotos.splits`); *all* of their plays go to the held-out matrix. No
  factorization sees them; the audio model later has to place them from
  audio alone.
* **warm held-out plays**: of every user's remaining (warm) songs, a fraction
  ``holdout_fraction`` is held out for the test of the collaborative
  filtering (``EvaluateCF``) and a fraction ``valid_fraction`` for its
  validation (``TuneALS`` picks the ALS hyperparameters on them); each user
  keeps at least one training song.
* ``train``, ``valid`` and ``heldout`` share the same rows (users) and
  columns (songs), and never share a non-zero. The final factorization fits
  ``train + valid`` (:attr:`PlaySplit.fit_plays`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import h5py
import numpy as np
import scipy.sparse as sp

from krotos.cf.params import PlayMatrixParams
from krotos.msd.errors import EmptyResultError
from krotos.progress import Progress, no_progress
from krotos.staging import atomic_path

log = logging.getLogger(__name__)

FORMAT_VERSION = 2

#: Largest play count (and sum of counts) stored.
MAX_PLAYS = np.iinfo(np.int64).max


@dataclass
class PlayMatrix:
    """Play counts of users (rows) for songs (columns), with the id maps.

    Attributes
    ----------
    plays : scipy.sparse.csr_matrix
        ``(n_users, n_songs)`` int64 play counts, duplicates summed.
    user_ids, song_ids, track_ids : numpy.ndarray of str
        Row and column labels; ``track_ids[j]`` is the MSD track of song ``j``.
    """

    plays: sp.csr_matrix
    user_ids: np.ndarray
    song_ids: np.ndarray
    track_ids: np.ndarray


@dataclass
class PlaySplit:
    """Training and held-out plays over the same users and songs.

    Attributes
    ----------
    train, valid, heldout : scipy.sparse.csr_matrix
        ``(n_users, n_songs)`` int64 play counts with disjoint non-zeros:
        training plays, the validation holdout (hyperparameter choice), and
        the test holdout (warm held-out plays and every cold-song play).
    user_ids, song_ids, track_ids : numpy.ndarray of str
        Row and column labels; ``track_ids[j]`` is ``""`` for a song without
        a track.
    cold_song_index : numpy.ndarray of int64
        Columns of the cold-start songs (sorted); all their plays are held out.
    attrs : dict
        Parameters and counts of the build (JSON-able).
    """

    train: sp.csr_matrix
    valid: sp.csr_matrix
    heldout: sp.csr_matrix
    user_ids: np.ndarray
    song_ids: np.ndarray
    track_ids: np.ndarray
    cold_song_index: np.ndarray
    attrs: dict = field(default_factory=dict)

    @property
    def cold_songs(self) -> np.ndarray:
        """Song ids of the cold-start songs."""
        return self.song_ids[self.cold_song_index]

    @property
    def fit_plays(self) -> sp.csr_matrix:
        """Training and validation plays: what the final factorization fits."""
        plays = (self.train + self.valid).tocsr()
        plays.sort_indices()
        return plays

    @property
    def warm_song_index(self) -> np.ndarray:
        """Columns of the songs that are not cold (sorted)."""
        mask = np.ones(self.train.shape[1], dtype=bool)
        mask[self.cold_song_index] = False
        return np.flatnonzero(mask)


class _Coder:
    """Give each distinct string id a dense integer code, in order of first sight."""

    def __init__(self):
        self.codes = {}

    def encode_unique(self, unique_ids):
        codes = np.empty(len(unique_ids), dtype=np.int64)
        table = self.codes
        for i, key in enumerate(unique_ids.tolist()):
            code = table.get(key)
            if code is None:
                code = table[key] = len(table)
            codes[i] = code
        return codes

    def ids(self):
        out = np.empty(len(self.codes), dtype=object)
        for key, code in self.codes.items():
            out[code] = key
        return out.astype(str) if len(out) else np.array([], dtype=str)


def build_play_matrix(chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
                      song_to_track: dict[str, str] | None = None,
                      progress: Progress | None = None) -> tuple[PlayMatrix, dict]:
    """Accumulate chunks of triplets into a play matrix.

    Parameters
    ----------
    chunks : iterable of (users, songs, counts)
        Parsed triplets, each a triple of equally long 1-D arrays (user ids
        and song ids as ``str``/object arrays, counts as integers), e.g. from
        ``krotos.msd.iter_triplet_chunks``. Lines the reader could not parse
        are its to count; this function counts what it drops.
    song_to_track : dict of str to str, optional
        Song id -> track id (with the ``sid_mismatches`` pairs already
        removed). Songs missing from it are kept, with an empty track id, and
        counted. ``None`` labels every song with itself as track id.
    progress : callable, optional
        ``progress(fraction, message)``; the fraction stays at 0 because the
        total length of the stream is unknown, the message counts lines.

    Returns
    -------
    matrix : PlayMatrix
    summary : dict
        ``lines`` (triplets seen), ``nonpositive_counts`` (lines with a count
        <= 0, dropped), ``songs_without_track`` and ``plays_of_songs_without_track``
        (songs missing from ``song_to_track``, kept),
        ``users_without_plays`` (users all of whose lines were dropped),
        ``duplicate_lines`` (repeated ``(user, song)`` lines, summed),
        ``saturated_sums`` (``(user, song)`` pairs whose summed count passed
        the int64 maximum and was capped there), ``users``, ``songs``,
        ``nonzeros``.
    """
    progress = progress or no_progress
    users_coder, songs_coder = _Coder(), _Coder()
    lost_users = set()  # users with a dropped line: some may have nothing left
    rows, cols, vals = [], [], []
    summary = dict(lines=0, nonpositive_counts=0)
    for users, songs, counts in chunks:
        users, songs = np.asarray(users), np.asarray(songs)
        counts = np.asarray(counts, dtype=np.int64)
        if not (len(users) == len(songs) == len(counts)):
            raise ValueError(f"chunk arrays differ in length: {len(users)}, {len(songs)}, {len(counts)}")
        summary["lines"] += len(counts)
        keep = counts > 0
        summary["nonpositive_counts"] += int((~keep).sum())
        if not keep.all():
            lost_users.update(np.unique(users[~keep]).tolist())
        users, songs, counts = users[keep], songs[keep], counts[keep]
        if len(counts) == 0:
            continue
        unique_users, user_inv = np.unique(users, return_inverse=True)
        unique_songs, song_inv = np.unique(songs, return_inverse=True)
        rows.append(users_coder.encode_unique(unique_users)[user_inv].astype(np.int32))
        cols.append(songs_coder.encode_unique(unique_songs)[song_inv].astype(np.int32))
        vals.append(counts)
        progress(0.0, f"{summary['lines']:,} triplets read")

    users_without_plays = sum(1 for u in lost_users if u not in users_coder.codes)
    del lost_users
    user_ids, song_ids = users_coder.ids(), songs_coder.ids()
    del users_coder, songs_coder
    n_lines = sum(len(r) for r in rows)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int32)
    del rows
    col = np.concatenate(cols) if cols else np.zeros(0, np.int32)
    del cols
    val = np.concatenate(vals) if vals else np.zeros(0, np.int64)
    del vals
    plays, saturated = _sum_plays(row, col, val, (len(user_ids), len(song_ids)))
    del row, col, val
    if song_to_track is None:
        track_ids = song_ids.copy()
        trackless = np.zeros(len(song_ids), dtype=bool)
    else:
        track_ids = np.array([song_to_track.get(s, "") for s in song_ids.tolist()], dtype=str)
        trackless = track_ids == ""
    summary.update(songs_without_track=int(trackless.sum()),
                   plays_of_songs_without_track=int(np.diff(plays.tocsc().indptr)[trackless].sum()),
                   users_without_plays=users_without_plays,
                   duplicate_lines=int(n_lines - plays.nnz), saturated_sums=saturated,
                   users=int(plays.shape[0]), songs=int(plays.shape[1]), nonzeros=int(plays.nnz))
    return PlayMatrix(plays, user_ids, song_ids, track_ids), summary


def _sum_plays(row, col, val, shape):
    """CSR int64 matrix of the lines, duplicate ``(row, col)`` lines summed without wrapping.

    Returns the matrix and the number of sums that passed :data:`MAX_PLAYS`
    (each capped there).
    """
    if len(val) == 0 or float(val.sum(dtype=np.float64)) < 2.0 ** 62:
        # No sum can come near the int64 limit: scipy sums in int64 exactly.
        plays = sp.coo_matrix((val, (row, col)), shape=shape).tocsr()
        plays.sum_duplicates()
        plays.sort_indices()
        return plays, 0
    # Counts near the limit (only bad input gets here): sum each (row, col)
    # group, exactly in Python integers where float64 says it may overflow.
    key = row.astype(np.int64) * shape[1] + col
    order = np.argsort(key, kind="stable")
    key, val = key[order], val[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    sums = np.add.reduceat(val, starts)
    near = np.add.reduceat(val.astype(np.float64), starts) >= 2.0 ** 62
    ends = np.append(starts[1:], len(val))
    saturated = 0
    for g in np.flatnonzero(near):
        exact = sum(int(v) for v in val[starts[g]:ends[g]])
        saturated += exact > MAX_PLAYS
        sums[g] = min(exact, MAX_PLAYS)
    unique = key[starts]
    plays = sp.csr_matrix((sums, (unique // shape[1], unique % shape[1])), shape=shape)
    plays.sort_indices()
    return plays, int(saturated)


def filter_play_matrix(matrix: PlayMatrix, min_user_songs: int = 1, min_song_users: int = 1,
                       n_songs: int | None = None) -> tuple[PlayMatrix, dict]:
    """Keep the most listened songs and the users and songs with enough plays.

    Parameters
    ----------
    matrix : PlayMatrix
    min_user_songs : int
        A user needs at least this many distinct songs to stay.
    min_song_users : int
        A song needs at least this many distinct listeners to stay.
    n_songs : int, optional
        First keep only the ``n_songs`` songs with the most listeners (ties:
        more plays, then lower column); the subset van den Oord et al. used.

    Returns
    -------
    matrix : PlayMatrix
    summary : dict
        ``users_dropped``, ``songs_dropped`` and ``filter_passes``.

    Notes
    -----
    Dropping users can push songs below ``min_song_users`` and vice versa, so
    the two thresholds are applied in turn until neither drops anything.
    Users and songs left without any play are always dropped.
    """
    plays = matrix.plays
    user_keep = np.arange(plays.shape[0])
    song_keep = np.arange(plays.shape[1])
    binary = plays.copy()
    binary.data = np.ones_like(binary.data)
    if n_songs is not None and n_songs < len(song_keep):
        listeners = np.asarray(binary.sum(axis=0)).ravel()
        # float64: a sum over users of counts near the int64 limit must not wrap.
        total = np.asarray(plays.sum(axis=0, dtype=np.float64)).ravel()
        order = np.lexsort((song_keep, -total, -listeners))
        song_keep = np.sort(order[:n_songs])
        binary = binary[:, song_keep]
    passes = 0
    while True:
        passes += 1
        per_user = np.diff(binary.indptr)
        users_ok = per_user >= max(1, min_user_songs)
        if not users_ok.all():
            binary = binary[users_ok]
            user_keep = user_keep[users_ok]
        per_song = np.bincount(binary.indices, minlength=binary.shape[1])
        songs_ok = per_song >= max(1, min_song_users)
        if not songs_ok.all():
            binary = binary[:, songs_ok]
            song_keep = song_keep[songs_ok]
        if users_ok.all() and songs_ok.all():
            break
    out = PlayMatrix(plays[user_keep][:, song_keep].tocsr(), matrix.user_ids[user_keep],
                     matrix.song_ids[song_keep], matrix.track_ids[song_keep])
    out.plays.sort_indices()
    summary = dict(users_dropped=int(plays.shape[0] - len(user_keep)),
                   songs_dropped=int(plays.shape[1] - len(song_keep)), filter_passes=passes)
    return out, summary


def split_plays(matrix: PlayMatrix, cold_songs: Iterable[str] = (), holdout_fraction: float = 0.2,
                valid_fraction: float = 0.1, seed: int = 0) -> PlaySplit:
    """Split plays into training, validation and held-out matrices.

    Parameters
    ----------
    matrix : PlayMatrix
    cold_songs : iterable of str
        Song ids made cold-start (the test songs of the song split); all their
        plays are held out. Songs not in the matrix are ignored.
    holdout_fraction : float
        Fraction of each user's warm songs held out for the test (rounded to
        the nearest integer).
    valid_fraction : float
        Fraction of each user's warm songs held out for validation.
    seed : int
        Seed of the per-user draws.

    Returns
    -------
    PlaySplit
        With ``attrs`` holding the parameters and the counts
        ``train_nonzeros``, ``valid_nonzeros``, ``heldout_nonzeros``,
        ``cold_songs``, ``cold_nonzeros``, ``warm_songs_without_training_plays``.

    Notes
    -----
    Every user keeps at least one training song: the test holdout is taken
    first, then the validation holdout from what is left.
    """
    for name, value in (("holdout_fraction", holdout_fraction), ("valid_fraction", valid_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    rng = np.random.default_rng(seed)
    plays = matrix.plays.tocsr()
    plays.sort_indices()
    n_users, n_songs = plays.shape
    wanted = set(cold_songs)
    is_cold_song = np.fromiter((s in wanted for s in matrix.song_ids.tolist()), dtype=bool,
                               count=n_songs)
    cold = np.flatnonzero(is_cold_song).astype(np.int64)

    row = np.repeat(np.arange(n_users), np.diff(plays.indptr))
    is_cold = is_cold_song[plays.indices]
    # Rank each user's warm plays in a random order: the first ranks are
    # held out for the test, the next ones for validation.
    warm_row = row[~is_cold]
    n_warm = np.bincount(warm_row, minlength=n_users)
    spare = np.maximum(n_warm - 1, 0)
    n_test = np.minimum(np.floor(holdout_fraction * n_warm + 0.5), spare)
    n_valid = np.minimum(np.floor(valid_fraction * n_warm + 0.5), spare - n_test)
    order = np.lexsort((rng.random(len(warm_row)), warm_row))
    starts = np.concatenate([[0], np.cumsum(n_warm)[:-1]])
    rank = np.empty(len(warm_row), dtype=np.int64)
    rank[order] = np.arange(len(warm_row)) - starts[warm_row[order]]
    held = is_cold.copy()
    valid = np.zeros(len(row), dtype=bool)
    warm = np.flatnonzero(~is_cold)
    held[warm] = rank < n_test[warm_row]
    valid[warm] = (rank >= n_test[warm_row]) & (rank < (n_test + n_valid)[warm_row])

    def part(mask):
        return sp.csr_matrix((plays.data[mask], plays.indices[mask],
                              np.concatenate([[0], np.cumsum(np.bincount(row[mask],
                                                                         minlength=n_users))])),
                             shape=plays.shape)

    train = part(~held & ~valid)
    trained_songs = np.bincount(train.indices, minlength=n_songs) > 0
    attrs = dict(holdout_fraction=holdout_fraction, valid_fraction=valid_fraction, seed=seed,
                 train_nonzeros=int(train.nnz), valid_nonzeros=int(valid.sum()),
                 heldout_nonzeros=int(held.sum()), cold_songs=int(len(cold)),
                 cold_nonzeros=int(is_cold.sum()),
                 warm_songs_without_training_plays=int((~trained_songs & ~is_cold_song).sum()))
    return PlaySplit(train, part(valid), part(held), matrix.user_ids, matrix.song_ids,
                     matrix.track_ids, cold, attrs)


def _write_csr(group, m):
    group.create_dataset("data", data=m.data, compression="gzip", shuffle=True)
    group.create_dataset("indices", data=m.indices, compression="gzip", shuffle=True)
    group.create_dataset("indptr", data=m.indptr, compression="gzip", shuffle=True)
    group.attrs["shape"] = np.asarray(m.shape, dtype=np.int64)
    group.attrs["format"] = "csr"


def _read_csr(group):
    # int64 whatever was stored: files written before counts were int64 hold int32.
    return sp.csr_matrix((group["data"][()].astype(np.int64), group["indices"][()],
                          group["indptr"][()]), shape=tuple(int(x) for x in group.attrs["shape"]))


def write_strings(h5: h5py.Group, name: str, values: Iterable[str]) -> None:
    """Store an array of str as a UTF-8 string dataset."""
    h5.create_dataset(name, data=np.asarray(values, dtype=object),
                      dtype=h5py.string_dtype("utf-8"), compression="gzip")


def read_strings(h5: h5py.Group, name: str) -> np.ndarray:
    """Read a UTF-8 string dataset as a numpy array of str."""
    return h5[name].asstr()[()].astype(str)


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """``with atomic_h5(path) as h5:`` writes an HDF5 file that appears only when complete.

    A new HDF5 file at a temporary path (:func:`krotos.staging.atomic_path`),
    closed and renamed over ``path`` when the block succeeds, removed when it
    raises.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        yield h5


def write_play_split(path: str | os.PathLike, split: PlaySplit) -> None:
    """Write a :class:`PlaySplit` to one HDF5 file, atomically.

    Layout::

        /train, /valid, /heldout   groups data, indices, indptr (CSR, users x
                           songs, int64 play counts), attrs shape
        /user_ids          (n_users,) str
        /song_ids          (n_songs,) str
        /track_ids         (n_songs,) str, the MSD track of each song
        /cold_song_index   (n_cold,) int64, columns of the cold-start songs
        /cold_songs        (n_cold,) str, their song ids
        attrs              format_version and ``attrs_json`` (parameters, counts)
    """
    with atomic_h5(path) as h5:
        _write_csr(h5.create_group("train"), split.train)
        _write_csr(h5.create_group("valid"), split.valid)
        _write_csr(h5.create_group("heldout"), split.heldout)
        write_strings(h5, "user_ids", split.user_ids)
        write_strings(h5, "song_ids", split.song_ids)
        write_strings(h5, "track_ids", split.track_ids)
        h5.create_dataset("cold_song_index", data=np.asarray(split.cold_song_index, dtype=np.int64))
        write_strings(h5, "cold_songs", split.cold_songs)
        h5.attrs["format_version"] = FORMAT_VERSION
        h5.attrs["attrs_json"] = json.dumps(split.attrs, sort_keys=True)


def read_play_split(path: str | os.PathLike) -> PlaySplit:
    """Read a file written by :func:`write_play_split`.

    Returns
    -------
    PlaySplit
    """
    with h5py.File(path, "r") as h5:
        version = int(h5.attrs.get("format_version", 0))
        if version != FORMAT_VERSION:
            raise ValueError(f"{path}: play matrix format {version}, this krotos reads "
                             f"{FORMAT_VERSION}: rerun PlayMatrix")
        return PlaySplit(
            train=_read_csr(h5["train"]), valid=_read_csr(h5["valid"]),
            heldout=_read_csr(h5["heldout"]),
            user_ids=read_strings(h5, "user_ids"), song_ids=read_strings(h5, "song_ids"),
            track_ids=read_strings(h5, "track_ids"),
            cold_song_index=h5["cold_song_index"][()].astype(np.int64),
            attrs=json.loads(h5.attrs["attrs_json"]))


def _with_byte_progress(chunks, total_bytes, progress):
    """Pass chunks through, reporting the approximate fraction of the file read."""
    done = 0
    for users, songs, counts in chunks:
        # Bytes of the parsed lines: ids, digits, two tabs and a newline.
        done += int(np.char.str_len(users).sum() + np.char.str_len(songs).sum()
                    + (np.floor(np.log10(np.maximum(counts, 1))) + 4).sum())
        progress(min(done / max(total_bytes, 1), 1.0), f"read {done / 2**20:,.0f} MiB of triplets")
        yield users, songs, counts


def build_play_split(triplets_path: str | os.PathLike, out_path: str | os.PathLike,
                     song_to_track: dict[str, str] | None = None, cold_songs: Iterable[str] = (),
                     params: PlayMatrixParams | None = None, *, mismatched_songs: Iterable[str] = (),
                     progress: Progress | None = None) -> dict:
    """Stream a triplets file into a filtered, split play matrix file.

    Parameters
    ----------
    triplets_path : str
        Taste Profile ``user<TAB>song<TAB>count`` file.
    out_path : str
        The HDF5 file to write (see :func:`write_play_split`).
    song_to_track : dict of str to str, optional
        Song -> track map with the ``sid_mismatches`` pairs removed (from
        ``TagDB.song_to_track()``); songs missing from it are kept without a
        track (see :func:`build_play_matrix`).
    cold_songs : iterable of str
        Song ids whose plays are all held out (the test songs).
    params : krotos.cf.params.PlayMatrixParams, optional
        The filters (:func:`filter_play_matrix`), the split (:func:`split_plays`)
        and the lines parsed at a time (default: luigi.cfg's ``[PlayMatrix]``).
    mismatched_songs : iterable of str
        Songs of the ``sid_mismatches`` pairs: their songs without a track are
        counted apart from those missing from the track list.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    dict
        Summary: ``bad_lines`` (reader's counts by reason, and examples
        naming file and line), the counts of :func:`build_play_matrix`,
        :func:`filter_play_matrix` and :func:`split_plays`, and the final
        ``users``, ``songs``, ``nonzeros``.

    Raises
    ------
    krotos.msd.errors.InputFileError
        The triplets file cannot be read (see
        :func:`krotos.msd.triplets.iter_triplet_chunks`).
    krotos.msd.errors.EmptyResultError
        No play is left: none was read (the message gives the reasons the
        lines were rejected), the filters dropped them all, or every play is
        held out so that nothing is left to train on. Nothing is written.
    """
    from krotos.msd.errors import BadInputLog
    from krotos.msd.triplets import iter_triplet_chunks

    p = params or PlayMatrixParams()
    min_user_songs, min_song_users, n_songs = p.min_user_songs, p.min_song_users, p.n_songs or None
    progress = progress or no_progress
    errors = BadInputLog()
    chunks = iter_triplet_chunks(triplets_path, chunk_lines=p.chunk_lines, errors=errors)
    read_progress = lambda f, m: progress(0.8 * f, m)  # noqa: E731
    matrix, built = build_play_matrix(
        _with_byte_progress(chunks, os.path.getsize(triplets_path), read_progress), song_to_track)
    if matrix.plays.nnz == 0:
        n_lines = built["lines"] + errors.total
        raise EmptyResultError(
            f"{triplets_path}: no usable play in {n_lines:,} line(s): "
            + (errors.describe() if n_lines else "the file is empty"))
    if built["saturated_sums"]:
        log.warning("%s: %d (user, song) sums of duplicate lines passed %d and were capped",
                    triplets_path, built["saturated_sums"], MAX_PLAYS)
    progress(0.8, "filtering users and songs")
    matrix, filtered = filter_play_matrix(matrix, min_user_songs, min_song_users, n_songs)
    if matrix.plays.nnz == 0:
        raise EmptyResultError(
            f"{triplets_path}: the filters min_user_songs={min_user_songs}, "
            f"min_song_users={min_song_users}, n_songs={n_songs} dropped all "
            f"{built['users']:,} users and {built['songs']:,} songs")
    progress(0.85, "splitting held-out plays and cold songs")
    split = split_plays(matrix, cold_songs, p.holdout_fraction, p.valid_fraction, p.seed)
    if split.train.nnz == 0:
        raise EmptyResultError(
            f"{triplets_path}: no training play left: all {split.attrs['heldout_nonzeros']:,} "
            f"plays are held out ({split.attrs['cold_songs']:,} of {len(split.song_ids):,} "
            f"songs are cold songs, all of whose plays are held out)")
    summary = dict(
        bad_lines=errors.summary(), read=built, filtered=filtered, split=split.attrs,
        params=dict(min_user_songs=min_user_songs, min_song_users=min_song_users, n_songs=n_songs,
                    holdout_fraction=p.holdout_fraction, valid_fraction=p.valid_fraction,
                    seed=p.seed),
        users=int(split.train.shape[0]), songs=int(split.train.shape[1]),
        nonzeros=int(split.train.nnz + split.valid.nnz + split.heldout.nnz))
    mismatched = set(mismatched_songs)
    trackless = split.song_ids[split.track_ids == ""].tolist()
    n_mismatched = sum(1 for song in trackless if song in mismatched)
    summary["songs_without_track_by_reason"] = {
        "its track pair is in sid_mismatches": n_mismatched,
        "not in the track list": len(trackless) - n_mismatched}
    split.attrs = dict(split.attrs, summary=summary)
    progress(0.9, "writing the play matrix")
    write_play_split(out_path, split)
    progress(1.0, f"{summary['users']:,} users x {summary['songs']:,} songs, "
                  f"{summary['nonzeros']:,} plays")
    return summary
