"""Play matrix: streaming build, bad input counts, filters, held-out split, file format."""

import numpy as np
import pytest
import scipy.sparse as sp

from krotos.cf.params import PlayMatrixParams
from krotos.cf.playmatrix import (PlayMatrix, build_play_matrix, build_play_split,
                                  filter_play_matrix, read_play_split, split_plays,
                                  write_play_split)


def _chunks(triplets, size):
    for i in range(0, len(triplets), size):
        part = triplets[i:i + size]
        yield (np.array([t[0] for t in part], dtype=str), np.array([t[1] for t in part], dtype=str),
               np.array([t[2] for t in part], dtype=np.int64))


def test_build_sums_duplicates_across_chunks_and_keeps_songs_without_a_track():
    triplets = [("u1", "S1", 2), ("u1", "S2", 1), ("u2", "S1", 5), ("u1", "S1", 3),  # dup
                ("u2", "SX", 4), ("u3", "S2", 0), ("u3", "S2", -2), ("u3", "S3", 1),
                ("u2", "S1", 1), ("u4", "SX", 1), ("u4", "S2", -1), ("u5", "S1", 0)]  # u5: none left
    s2t = {"S1": "T1", "S2": "T2", "S3": "T3"}
    matrix, summary = build_play_matrix(_chunks(triplets, 2), s2t)
    assert summary["lines"] == 12
    assert summary["nonpositive_counts"] == 4
    # SX has no track: its plays still count (the factorization needs every play).
    assert summary["songs_without_track"] == 1 and summary["plays_of_songs_without_track"] == 2
    assert summary["users_without_plays"] == 1 and "u5" not in matrix.user_ids
    assert summary["duplicate_lines"] == 2
    assert summary["nonzeros"] == matrix.plays.nnz == 6
    users = {u: i for i, u in enumerate(matrix.user_ids)}
    songs = {s: j for j, s in enumerate(matrix.song_ids)}
    dense = matrix.plays.toarray()
    assert dense[users["u1"], songs["S1"]] == 5
    assert dense[users["u2"], songs["S1"]] == 6
    assert dense[users["u3"], songs["S3"]] == 1
    assert dense[users["u2"], songs["SX"]] == 4 and dense[users["u4"], songs["SX"]] == 1
    assert [s2t.get(s, "") for s in matrix.song_ids] == list(matrix.track_ids)


def _random_matrix(seed=0, n_users=200, n_songs=120, density=0.08):
    rng = np.random.default_rng(seed)
    plays = sp.random(n_users, n_songs, density=density, random_state=seed, format="csr",
                      data_rvs=lambda n: rng.integers(1, 20, size=n)).astype(np.int32)
    ids = np.array([f"U{i}" for i in range(n_users)])
    songs = np.array([f"S{j}" for j in range(n_songs)])
    return PlayMatrix(plays, ids, songs, np.char.replace(songs, "S", "T"))


def test_filter_thresholds_hold_and_top_songs():
    matrix = _random_matrix()
    out, summary = filter_play_matrix(matrix, min_user_songs=7, min_song_users=10)
    per_user = np.diff(out.plays.indptr)
    per_song = np.bincount(out.plays.indices, minlength=out.plays.shape[1])
    assert len(per_user) > 50 and per_user.min() >= 7 and per_song.min() >= 10
    assert summary["users_dropped"] == matrix.plays.shape[0] - out.plays.shape[0] > 0
    # Labels follow their rows and columns.
    row = list(matrix.user_ids).index(out.user_ids[0])
    cols = [list(matrix.song_ids).index(s) for s in out.song_ids]
    np.testing.assert_array_equal(out.plays[0].toarray().ravel(), matrix.plays[row].toarray().ravel()[cols])

    top, _ = filter_play_matrix(matrix, n_songs=10)
    listeners = np.bincount(matrix.plays.indices, minlength=matrix.plays.shape[1])
    assert top.plays.shape[1] == 10
    kept = np.array([list(matrix.song_ids).index(s) for s in top.song_ids])
    assert listeners[kept].min() >= np.sort(listeners)[-10]


def test_split_is_a_partition_with_cold_songs():
    matrix = _random_matrix(1)
    cold_songs = set(matrix.song_ids[::5].tolist()) | {"not-in-the-matrix"}
    split = split_plays(matrix, cold_songs, holdout_fraction=0.25, valid_fraction=0.1, seed=3)
    train, valid, held = split.train, split.valid, split.heldout
    assert (train + valid + held - matrix.plays).nnz == 0
    assert train.multiply(held).nnz == 0 and train.multiply(valid).nnz == 0
    assert valid.multiply(held).nnz == 0
    assert set(split.cold_songs) == cold_songs - {"not-in-the-matrix"}
    assert valid[:, split.cold_song_index].nnz == 0
    # No training play of a cold song, and every play of a cold song is held out.
    assert train[:, split.cold_song_index].nnz == 0
    assert held[:, split.cold_song_index].nnz == matrix.plays[:, split.cold_song_index].nnz
    warm = split.warm_song_index
    n_warm = np.diff(matrix.plays[:, warm].tocsr().indptr)
    n_train = np.diff(train[:, warm].tocsr().indptr)
    assert (n_train[n_warm > 0] >= 1).all()
    frac = held[:, warm].nnz / matrix.plays[:, warm].nnz
    assert 0.18 < frac < 0.3
    assert 0.05 < valid.nnz / matrix.plays[:, warm].nnz < 0.15
    assert (split.fit_plays != train + valid).nnz == 0
    again = split_plays(matrix, cold_songs, holdout_fraction=0.25, valid_fraction=0.1, seed=3)
    assert (again.heldout != held).nnz == 0 and (again.valid != valid).nnz == 0
    other = split_plays(matrix, cold_songs, holdout_fraction=0.25, valid_fraction=0.1, seed=4)
    assert (other.heldout != held).nnz > 0


def test_split_file_round_trip(tmp_path):
    matrix = _random_matrix(2)
    split = split_plays(matrix, matrix.song_ids[:10], 0.2, 0.1, seed=0)
    path = tmp_path / "plays.h5"
    write_play_split(str(path), split)
    back = read_play_split(str(path))
    assert (back.train != split.train).nnz == 0 and (back.heldout != split.heldout).nnz == 0
    assert (back.valid != split.valid).nnz == 0
    np.testing.assert_array_equal(back.user_ids, split.user_ids)
    np.testing.assert_array_equal(back.track_ids, split.track_ids)
    np.testing.assert_array_equal(back.cold_songs, split.song_ids[split.cold_song_index])
    assert back.attrs["seed"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["plays.h5"]


def test_build_play_split_counts_bad_lines(tmp_path):
    lines = ["u1\tS1\t3", "u1\tS2\t1", "garbage line", "u2\tS1\tx", "u2\tS1\t0", "u2\tS1\t2",
             "u2\tS9\t5", "u3\tS2\t1", "u1\tS1\t1", "u3\tS1\t-1", "u3\tS3\t4"]
    path = tmp_path / "triplets.txt"
    path.write_text("\n".join(lines) + "\n")
    s2t = {"S1": "T1", "S2": "T2", "S3": "T3"}
    summary = build_play_split(str(path), str(tmp_path / "plays.h5"), s2t,
                               params=PlayMatrixParams(holdout_fraction=0.0, valid_fraction=0.0,
                                                       chunk_lines=3))
    bad = summary["bad_lines"]
    assert bad["total"] == 4
    assert sum(bad["by_reason"].values()) == 4
    assert any("triplets.txt:3" in e for e in bad["examples"])
    assert summary["read"]["songs_without_track"] == 1
    assert summary["read"]["duplicate_lines"] == 1
    assert summary["nonzeros"] == 6
    split = read_play_split(str(tmp_path / "plays.h5"))
    assert split.train.sum() == 3 + 1 + 1 + 2 + 5 + 1 + 4
    assert split.attrs["summary"]["read"]["lines"] == 7


def test_counts_past_int32_are_summed_in_int64_end_to_end(tmp_path):
    path = tmp_path / "triplets.txt"
    path.write_text("u1\tS1\t2000000000\nu1\tS1\t2000000000\nu2\tS2\t3\n")
    summary = build_play_split(str(path), str(tmp_path / "plays.h5"),
                               params=PlayMatrixParams(holdout_fraction=0.0, valid_fraction=0.0))
    split = read_play_split(str(tmp_path / "plays.h5"))
    assert split.train.dtype == np.int64
    assert split.train[list(split.user_ids).index("u1"), list(split.song_ids).index("S1")] == \
        4_000_000_000
    assert summary["read"]["duplicate_lines"] == 1 and summary["read"]["saturated_sums"] == 0


def test_sums_past_int64_saturate_and_are_counted():
    big = np.iinfo(np.int64).max - 1
    matrix, summary = build_play_matrix(_chunks(
        [("u1", "S1", big), ("u2", "S2", 5), ("u1", "S1", big), ("u1", "S1", 7),
         ("u2", "S1", big), ("u2", "S2", 6)], 2))
    plays = matrix.plays.toarray()
    assert plays.tolist() == [[np.iinfo(np.int64).max, 0], [big, 11]]
    assert summary["saturated_sums"] == 1 and summary["duplicate_lines"] == 3


def test_a_play_matrix_without_plays_fails_naming_file_and_reasons(tmp_path):
    from krotos.msd.errors import EmptyResultError

    out = tmp_path / "plays.h5"
    path = tmp_path / "triplets.txt"
    path.write_bytes(b"\x1f\x8b\x08" + b"\x00" * 40)  # a .gz file cut to its header
    with pytest.raises(Exception, match="triplets.txt"):
        build_play_split(str(path), str(out))
    path.write_text("u1,S1,3\nu2,S2,1\nu3\tS3\t0\n")
    with pytest.raises(EmptyResultError, match=r"triplets\.txt: no usable play in 3 line\(s\): "
                                               r"3 row\(s\) rejected: 2 wrong field count, "
                                               r"1 non-positive count \(first: .*triplets\.txt:1"):
        build_play_split(str(path), str(out))
    path.write_text("u1\tS1\t3\nu2\tS2\t1\n")
    with pytest.raises(EmptyResultError, match="the filters min_user_songs=2"):
        build_play_split(str(path), str(out), params=PlayMatrixParams(min_user_songs=2))
    with pytest.raises(EmptyResultError, match="no training play left"):
        build_play_split(str(path), str(out), cold_songs={"S1", "S2"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["triplets.txt"]
