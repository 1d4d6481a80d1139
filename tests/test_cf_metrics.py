"""Vectorized ranking metrics against a plain per-user reference."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from krotos.cf.metrics import evaluate_ranking, factor_scorer, popularity_scorer, random_scorer


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
