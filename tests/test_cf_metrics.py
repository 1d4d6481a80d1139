"""Vectorized ranking metrics against a plain per-user reference; EvaluateCF's intervals."""

import dataclasses
import json

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from krotos.cf.als import read_factors, write_factors
from krotos.cf.evaluate import evaluate_cf
from krotos.cf.metrics import evaluate_ranking, factor_scorer, popularity_scorer, random_scorer
from krotos.cf.playmatrix import PlaySplit, read_play_split, write_play_split


def _reference(scores, heldout, exclude, k, map_k):
    """Straightforward per-user metrics (ties in the top list broken by stable order)."""
    out = {"auc": [], "ap": [], "precision": [], "recall": [], "ndcg": []}
    for u in range(scores.shape[0]):
        excluded = set(exclude[u].indices) if exclude is not None else set()
        relevant = set(heldout[u].indices) - excluded
        if not relevant:
            continue
        cand = np.array([i for i in range(scores.shape[1]) if i not in excluded])
        s = scores[u, cand]
        y = np.array([i in relevant for i in cand])
        out["auc"].append(roc_auc_score(y, s) if 0 < y.sum() < len(y) else np.nan)
        order = cand[np.argsort(-s, kind="stable")]
        hits = np.array([i in relevant for i in order], dtype=float)
        top = hits[:map_k]
        prec = np.cumsum(top) / np.arange(1, len(top) + 1)
        out["ap"].append((prec * top).sum() / min(len(relevant), map_k))
        out["precision"].append(hits[:k].sum() / k)
        out["recall"].append(hits[:k].sum() / len(relevant))
        disc = 1 / np.log2(np.arange(2, k + 2))
        out["ndcg"].append((hits[:k] * disc[:len(hits[:k])]).sum() / disc[:min(len(relevant), k)].sum())
    return {name: np.array(v) for name, v in out.items()}


def _random_problem(seed, n_users=40, n_items=60, density=0.15, tied=False):
    rng = np.random.default_rng(seed)
    if tied:
        scores = rng.integers(0, 4, size=(n_users, n_items)).astype(np.float32)
    else:
        scores = rng.normal(size=(n_users, n_items)).astype(np.float32)
    plays = sp.random(n_users, n_items, density=2 * density, random_state=seed, format="csr")
    plays.data[:] = 1
    mask = rng.random(plays.nnz) < 0.5
    coo = plays.tocoo()
    train = sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=plays.shape)
    heldout = sp.csr_matrix((coo.data[~mask], (coo.row[~mask], coo.col[~mask])), shape=plays.shape)
    return scores, train, heldout


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("batch_size", [1, 7, None])
@pytest.mark.parametrize("count_max", [0, 3, 1000])  # ranks by sorting, mixed, by counting
def test_matches_per_user_reference(tied, batch_size, count_max):
    scores, train, heldout = _random_problem(1, tied=tied)
    got = evaluate_ranking(scores, heldout, exclude=train, k=10, map_k=20, batch_size=batch_size,
                           per_user=True, count_max=count_max)
    np.testing.assert_array_equal(got["per_user"]["users"], np.sort(got["per_user"]["users"]))
    ref = _reference(scores, heldout, train, k=10, map_k=20)
    assert got["n_users"] == len(ref["auc"]) > 30
    np.testing.assert_allclose(got["per_user"]["auc"], ref["auc"], rtol=1e-9, atol=1e-12)
    assert got["auc"] == pytest.approx(np.nanmean(ref["auc"]))
    if not tied:  # with ties the order inside the top list is arbitrary
        for name in ("ap", "precision", "recall", "ndcg"):
            np.testing.assert_allclose(got["per_user"][name], ref[name], rtol=1e-9, atol=1e-12)
        assert got["map_at_20"] == pytest.approx(ref["ap"].mean())
        assert got["ndcg_at_10"] == pytest.approx(ref["ndcg"].mean())


def test_without_exclusion_and_map_cutoff_beyond_items():
    scores, _, heldout = _random_problem(2, n_items=25)
    got = evaluate_ranking(scores, heldout, map_k=500, per_user=True)
    ref = _reference(scores, heldout, None, k=10, map_k=500)
    np.testing.assert_allclose(got["per_user"]["ap"], ref["ap"])
    np.testing.assert_allclose(got["per_user"]["auc"], ref["auc"])


def test_perfect_and_inverted_scores():
    _, train, heldout = _random_problem(3)
    perfect = heldout.toarray().astype(np.float32)
    got = evaluate_ranking(perfect, heldout, exclude=train)
    assert got["auc"] == pytest.approx(1.0)
    assert got["map_at_500"] == pytest.approx(1.0)
    assert got["ndcg_at_10"] == pytest.approx(1.0)
    got = evaluate_ranking(-perfect, heldout, exclude=train)
    assert got["auc"] == pytest.approx(0.0)


def test_scorers_and_user_subset():
    rng = np.random.default_rng(4)
    uf, vf = rng.normal(size=(30, 5)), rng.normal(size=(50, 5))
    _, train, heldout = _random_problem(4, n_users=30, n_items=50)
    dense = (uf @ vf.T).astype(np.float32)
    a = evaluate_ranking(factor_scorer(uf, vf), heldout, exclude=train, users=[3, 1, 2, 3])
    b = evaluate_ranking(dense, heldout, exclude=train, users=[1, 2, 3])
    assert a == pytest.approx(b)
    assert a["n_users"] <= 3
    pop = popularity_scorer(train)(np.array([0, 1]))
    np.testing.assert_array_equal(pop[0], np.bincount(train.indices, minlength=50))
    r1 = random_scorer(50, seed=5)(np.arange(4))
    r2 = random_scorer(50, seed=5)(np.arange(4))
    np.testing.assert_array_equal(r1, r2)
    assert r1.shape == (4, 50)


def test_random_scores_give_chance_auc():
    _, train, heldout = _random_problem(6, n_users=300, n_items=200)
    got = evaluate_ranking(random_scorer(200, seed=1), heldout, exclude=train)
    assert abs(got["auc"] - 0.5) < 0.03


def test_bad_scores_rejected():
    scores, train, heldout = _random_problem(7)
    scores[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate_ranking(scores, heldout)
    with pytest.raises(ValueError, match="shape"):
        evaluate_ranking(scores[:, :5], heldout)


def _cf_world(folder, n_users, n_songs=50, f=4, seed=0):
    """Users play the songs closest to their taste; plays split at random, a few cold songs."""
    rng = np.random.default_rng(seed)
    users, songs = rng.normal(size=(n_users, f)), rng.normal(size=(n_songs, f))
    affinity = users @ songs.T
    played = affinity > np.quantile(affinity, 0.8, axis=1, keepdims=True)
    held = played & (rng.random(played.shape) < 0.3)
    cold = np.arange(0, n_songs, 10)
    parts = dict(train=sp.csr_matrix((played & ~held).astype(np.int32)),
                 heldout=sp.csr_matrix(held.astype(np.int32)),
                 user_ids=np.array([f"u{i}" for i in range(n_users)]),
                 song_ids=np.array([f"SO{i:016d}" for i in range(n_songs)]),
                 track_ids=np.array([f"TR{i:016d}" for i in range(n_songs)]),
                 cold_song_index=cold, attrs={})
    if "valid" in {field.name for field in dataclasses.fields(PlaySplit)}:
        parts["valid"] = sp.csr_matrix((n_users, n_songs), dtype=np.int32)
    split = PlaySplit(**parts)
    write_play_split(str(folder / "plays.h5"), split)
    write_factors(str(folder / "factors.h5"), users, songs, split.user_ids, split.song_ids,
                  split.track_ids, cold, np.ones(n_users, bool), np.ones(n_songs, bool),
                  {"factors": f})
    return str(folder / "plays.h5"), str(folder / "factors.h5")


def test_evaluate_cf_reports_intervals_and_paired_differences(tmp_path):
    plays, factors = _cf_world(tmp_path, 300)
    out = tmp_path / "metrics.json"
    result = evaluate_cf(plays, factors, str(out), n_resamples=300, seed=1)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    names = ("auc", "map_at_500", "precision_at_10", "recall_at_10", "ndcg_at_10")
    assert set(result["models"]) == {"als", "popularity", "random"}
    assert set(result["paired"]) == {"als_minus_popularity", "als_minus_random"}
    assert result["bootstrap"] == {"unit": "user", "n_units": result["n_users"],
                                   "n_resamples": 300, "confidence": 0.95, "seed": 1,
                                   "method": "percentile"}
    for name, metrics in {**result["models"], **result["paired"]}.items():
        assert set(metrics) == set(names), name
        for iv in metrics.values():
            assert iv["ci_low"] <= iv["value"] <= iv["ci_high"]
    # The means are those of evaluate_ranking, unchanged by the bootstrap.
    split = read_play_split(plays)
    warm = split.warm_song_index
    f = read_factors(factors)
    plain = evaluate_ranking(factor_scorer(f["user_factors"], f["song_factors"][warm]),
                             split.heldout[:, warm], exclude=split.train[:, warm])
    for name in names:
        assert result["models"]["als"][name]["value"] == pytest.approx(plain[name])
    als_minus_random = result["paired"]["als_minus_random"]["auc"]
    assert als_minus_random["value"] == pytest.approx(
        result["models"]["als"]["auc"]["value"] - result["models"]["random"]["auc"]["value"])
    assert als_minus_random["ci_low"] > 0.2
    assert result["n_users"] > 250
    assert not any(w.startswith("only") for w in result["warnings"])


def test_evaluate_cf_warns_on_a_tiny_test_set(tmp_path):
    plays, factors = _cf_world(tmp_path, 20)
    result = evaluate_cf(plays, factors, n_resamples=200, max_interval_width=0.05)
    assert result["n_users"] < 30
    assert result["warnings"][0].startswith(f"only {result['n_users']} users evaluated")
    assert any("interval wider than 0.05" in w and f"{result['n_users']} users)" in w
               for w in result["warnings"])
