"""Confidence weighting, implicit's orientation, planted structure, factor files."""

import numpy as np
import pytest
import scipy.sparse as sp

from krotos.cf.als import factorize_play_split, fit_als, fold_in_songs, read_factors
from krotos.cf.params import ALSParams
from krotos.cf.confidence import confidence_matrix, confidence_values
from krotos.cf.metrics import evaluate_ranking, factor_scorer, popularity_scorer, random_scorer
from krotos.cf.playmatrix import PlayMatrix, split_plays, write_play_split


def test_confidence_schemes():
    np.testing.assert_allclose(confidence_values([1, 3], "log", alpha=2.0, epsilon=0.5),
                               1 + 2.0 * np.log(1 + np.array([2.0, 6.0])), rtol=1e-6)
    np.testing.assert_allclose(confidence_values([1, 3], "linear", alpha=40.0), [41.0, 121.0])
    m = confidence_matrix(sp.csr_matrix(np.array([[0, 2], [1, 0]])), "linear", alpha=1.0)
    np.testing.assert_allclose(m.toarray(), [[0, 3], [2, 0]])
    with pytest.raises(ValueError, match="scheme"):
        confidence_values([1], "square")


def _exact_half_step(fixed, conf, reg):
    """Dense Hu-Koren-Volinsky solve of every row of ``conf`` given the other side's factors."""
    f = fixed.shape[1]
    out = []
    for row in conf.toarray().astype(np.float64):
        c = np.where(row > 0, row, 1.0)
        p = (row > 0).astype(np.float64)
        a = fixed.T @ (c[:, None] * fixed) + reg * np.eye(f)
        out.append(np.linalg.solve(a, fixed.T @ (c * p)))
    return np.array(out)


def test_orientation_and_confidence_semantics():
    """implicit takes users x items: its last half-step must be the exact song solve."""
    rng = np.random.default_rng(0)
    n_users, n_songs, f, reg = 23, 11, 4, 0.5
    plays = sp.random(n_users, n_songs, density=0.3, random_state=1, format="csr",
                      data_rvs=lambda n: rng.integers(1, 9, size=n)).astype(np.int32)
    plays = (plays + sp.csr_matrix(np.eye(n_users, n_songs, dtype=np.int32))).tocsr()  # no empty rows/cols
    assert (np.diff(plays.indptr) > 0).all() and (np.bincount(plays.indices, minlength=n_songs) > 0).all()
    params = ALSParams(factors=f, regularization=reg, alpha=3.0, iterations=6, epsilon=1.0,
                       num_threads=1)
    users, songs, _ = fit_als(plays, params, use_cg=False)
    assert users.shape == (n_users, f) and songs.shape == (n_songs, f)
    conf = confidence_matrix(plays, "log", 3.0, 1.0)
    np.testing.assert_allclose(songs, _exact_half_step(users.astype(np.float64), conf.T.tocsr(), reg),
                               rtol=1e-3, atol=1e-4)
    # The fold-in of songs from fixed user factors is the same half-step.
    np.testing.assert_allclose(fold_in_songs(users, plays[:, [2, 5]], params), songs[[2, 5]],
                               rtol=1e-3, atol=1e-4)


def _planted(seed=0, n_groups=5, users_per_group=40, songs_per_group=30, p_in=0.3, p_out=0.01):
    """Users of a group play the songs of that group; popularity varies across songs."""
    rng = np.random.default_rng(seed)
    n_users, n_songs = n_groups * users_per_group, n_groups * songs_per_group
    ug = np.repeat(np.arange(n_groups), users_per_group)
    sg = np.repeat(np.arange(n_groups), songs_per_group)
    appeal = rng.uniform(0.3, 1.0, n_songs)
    p = np.where(ug[:, None] == sg[None, :], p_in, p_out) * appeal[None, :]
    dense = (rng.random((n_users, n_songs)) < p) * rng.integers(1, 10, (n_users, n_songs))
    # Shuffle so that groups are not contiguous blocks of rows/columns.
    dense = dense[rng.permutation(n_users)][:, rng.permutation(n_songs)]
    return PlayMatrix(sp.csr_matrix(dense.astype(np.int32)),
                      np.array([f"U{i}" for i in range(n_users)]),
                      np.array([f"S{j}" for j in range(n_songs)]),
                      np.array([f"T{j}" for j in range(n_songs)]))


def test_planted_structure_beats_baselines():
    split = split_plays(_planted(), holdout_fraction=0.3, valid_fraction=0.0, seed=0)
    users, songs, info = fit_als(split.train, ALSParams(factors=8, regularization=0.1, alpha=2.0,
                                                       iterations=10, seed=0))
    assert len(info["seconds_per_iteration"]) == 10
    res = {name: evaluate_ranking(scorer, split.heldout, exclude=split.train)
           for name, scorer in [("als", factor_scorer(users, songs)),
                                ("pop", popularity_scorer(split.train)),
                                ("rnd", random_scorer(split.train.shape[1], 0))]}
    # About 12% of the held-out plays are out-of-group noise: 0.85 is near the best possible.
    assert res["als"]["auc"] > 0.75 and res["als"]["auc"] > res["pop"]["auc"] + 0.15
    assert res["als"]["map_at_500"] > 2 * res["pop"]["map_at_500"]
    assert res["als"]["map_at_500"] > 3 * res["rnd"]["map_at_500"]
    assert res["als"]["ndcg_at_10"] > 2 * res["pop"]["ndcg_at_10"]


def test_empty_rows_and_columns_get_zero_factors():
    plays = sp.csr_matrix(np.array([[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 1, 0], [1, 0, 0, 0]]))
    users, songs, _ = fit_als(plays, ALSParams(factors=3, regularization=1.0, alpha=2.0,
                                               iterations=3, seed=1))
    assert not users[1].any() and not songs[1].any() and not songs[3].any()
    assert users[[0, 2, 3]].any(axis=1).all()


def test_factorize_file_and_cold_protocol(tmp_path):
    matrix = _planted(1)
    cold_songs = np.random.default_rng(0).choice(matrix.song_ids, size=len(matrix.song_ids) // 10,
                                                 replace=False)
    split = split_plays(matrix, cold_songs, holdout_fraction=0.2, valid_fraction=0.1, seed=0)
    write_play_split(str(tmp_path / "plays.h5"), split)
    progress = []
    params = ALSParams(factors=6, regularization=1.0, alpha=2.0, iterations=4, seed=0)
    summary = factorize_play_split(str(tmp_path / "plays.h5"), str(tmp_path / "f.h5"), params,
                                   progress=lambda f, m: progress.append(f))
    assert progress[-1] == 1.0 and len(progress) >= 5
    f = read_factors(str(tmp_path / "f.h5"))
    np.testing.assert_array_equal(f["song_ids"], split.song_ids)
    np.testing.assert_array_equal(f["user_ids"], split.user_ids)
    np.testing.assert_array_equal(f["track_ids"], split.track_ids)
    cold = split.cold_song_index
    assert not f["song_trained"][cold].any() and not f["song_factors"][cold].any()
    assert f["cold_song_factors_foldin"].shape == (len(cold), 6)
    assert f["cold_song_factors_foldin"].any(axis=1).all()
    assert f["attrs"]["factors"] == 6 and f["attrs"]["include_cold"] == False  # noqa: E712
    assert summary["songs_without_plays"] >= len(cold)

    factorize_play_split(str(tmp_path / "plays.h5"), str(tmp_path / "g.h5"), params,
                         include_cold=True)
    g = read_factors(str(tmp_path / "g.h5"))
    assert g["song_trained"][cold].all() and "cold_song_factors_foldin" not in g
    # Both upper bounds rank the cold songs' held-out plays far above chance.
    held = split.heldout[:, cold]
    for songs in (f["cold_song_factors_foldin"], g["song_factors"][cold]):
        users = f["user_factors"] if songs is f["cold_song_factors_foldin"] else g["user_factors"]
        assert evaluate_ranking(factor_scorer(users, songs), held)["auc"] > 0.85
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5", "g.h5", "plays.h5"]
