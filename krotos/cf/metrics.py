"""Ranking metrics of held-out plays, computed in batches of users.

One function, :func:`evaluate_ranking`, serves every evaluation: the
collaborative filtering on held-out plays (``EvaluateCF``) and the cold-start
recommendation from predicted song factors. Scores come from a *scorer*, a
callable that maps an array of user rows to a dense ``(len(rows), n_items)``
score block (:func:`factor_scorer`, :func:`popularity_scorer`,
:func:`random_scorer`), or from a dense ``(n_users, n_items)`` score matrix.

For every evaluated user, the *candidates* are all items except the excluded
ones (typically the user's training plays); the *relevant* items are the
user's held-out items. Per user:

* ``auc``: probability that a random relevant candidate scores above a random
  irrelevant one (ties count one half), from exact ranks;
* ``map_at_500``: average precision over the top 500,
  ``sum_k P@k * rel_k / min(n_relevant, 500)`` (the MSD Challenge metric,
  McFee et al. 2012, used by van den Oord et al. 2013);
* ``precision_at_10``, ``recall_at_10`` (hits / n_relevant) and ``ndcg_at_10``
  (binary gains, ``1 / log2(rank + 1)`` discounts).

Means over users are returned. Everything is numpy on ``(batch, n_items)``
blocks, batches run in threads: Python loops only over batches (and, within
a batch of users with few relevant items, over relevant-item slots), never
over users or items.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from krotos.progress import Progress, no_progress

#: A scorer: an array of user rows -> their ``(len(rows), n_items)`` scores.
Scorer = Callable[[np.ndarray], np.ndarray]

#: Bytes of working memory per (user, item) cell of a batch: scores, sorted
#: scores, 64-bit sort keys, relevance flags and argpartition indices.
_BYTES_PER_CELL = 40


def factor_scorer(user_factors: np.ndarray, item_factors: np.ndarray) -> Scorer:
    """Scores ``u . v`` of latent factors.

    Parameters
    ----------
    user_factors : numpy.ndarray
        ``(n_users, f)``.
    item_factors : numpy.ndarray
        ``(n_items, f)``; e.g. ALS song factors, or factors predicted from audio.

    Returns
    -------
    callable
        ``rows -> (len(rows), n_items)`` float32 scores.
    """
    user_factors = np.asarray(user_factors, dtype=np.float32)
    item_t = np.ascontiguousarray(np.asarray(item_factors, dtype=np.float32).T)
    return lambda rows: user_factors[rows] @ item_t


def popularity_scorer(train: sp.spmatrix | np.ndarray, n_items: int | None = None) -> Scorer:
    """Every user gets the same scores: the number of training listeners per item.

    Parameters
    ----------
    train : scipy.sparse matrix or array_like
        ``(n_users, n_items)`` training plays, or directly the ``(n_items,)``
        popularity vector.

    Returns
    -------
    callable
    """
    if sp.issparse(train):
        pop = np.bincount(sp.csr_matrix(train).indices, minlength=train.shape[1])
    else:
        pop = np.asarray(train)
    pop = pop.astype(np.float32)
    return lambda rows: np.broadcast_to(pop, (len(rows), len(pop)))


def random_scorer(n_items: int, seed: int = 0) -> Scorer:
    """Uniform random scores, reproducible for a given seed and batch plan.

    Returns
    -------
    callable
    """
    def score(rows):
        rng = np.random.default_rng([seed, int(rows[0]) if len(rows) else 0, len(rows)])
        return rng.random((len(rows), n_items), dtype=np.float32)
    return score


def _sortable_keys(values):
    """Turn float32 scores, in place, into uint32 keys with the same order.

    ``-inf`` gets the lowest key; returns a uint32 view of ``values``.
    """
    values += np.float32(0.0)  # turns -0.0 into 0.0, which must tie with it
    bits = values.view(np.uint32)
    # IEEE floats order like sign-magnitude integers: flip every bit of the
    # negatives and only the sign bit of the positives.
    mask = (np.uint32(0) - (bits >> np.uint32(31))) | np.uint32(0x80000000)
    bits ^= mask
    return bits


def _ranks_by_sorting(keys, pos_row, pos_col):
    """Items strictly below, and items tied with, each relevant cell: O(n log n) per row."""
    b, n = keys.shape
    # Sort every row's keys and give row r the key range [r * 2**32, (r + 1) * 2**32),
    # so that one searchsorted over the flattened block answers for all rows.
    offsets = np.arange(b, dtype=np.uint64) << np.uint64(32)
    flat = np.sort(keys, axis=1).astype(np.uint64)
    flat += offsets[:, None]
    flat = flat.ravel()
    pos_keys = keys[pos_row, pos_col].astype(np.uint64) + offsets[pos_row]
    base = pos_row.astype(np.int64) * n
    below = np.searchsorted(flat, pos_keys, side="left").astype(np.int64) - base
    ties = np.searchsorted(flat, pos_keys, side="right").astype(np.int64) - base - below
    return below, ties


def _ranks_by_counting(keys, pos_row, pos_col, n_rel):
    """Same as :func:`_ranks_by_sorting` by comparisons: O(n * max relevant) per row.

    Cheaper than sorting when every row of the batch has few relevant items.
    """
    b = keys.shape[0]
    width = int(n_rel.max())
    slot = np.arange(len(pos_row)) - np.concatenate([[0], np.cumsum(n_rel)[:-1]])[pos_row]
    pos_keys = np.zeros((b, width), dtype=keys.dtype)
    pos_keys[pos_row, slot] = keys[pos_row, pos_col]
    below = np.empty((b, width), dtype=np.int64)
    at_most = np.empty((b, width), dtype=np.int64)
    for j in range(width):  # a pass over the whole batch per relevant-item slot
        below[:, j] = np.count_nonzero(keys < pos_keys[:, j:j + 1], axis=1)
        at_most[:, j] = np.count_nonzero(keys <= pos_keys[:, j:j + 1], axis=1)
    below, at_most = below[pos_row, slot], at_most[pos_row, slot]
    return below, at_most - below


def _batch_metrics(keys, pos_row, pos_col, n_excluded, k, map_k, count_max=24):
    """Metrics of one batch.

    ``keys`` are the order-preserving keys of the scores, lowest on excluded
    items; ``(pos_row, pos_col)`` the relevant cells, sorted by row.
    """
    b, n = keys.shape
    n_rel = np.bincount(pos_row, minlength=b)
    n_neg = n - n_excluded - n_rel

    # Exact average ranks of the relevant items among the candidates.
    if len(pos_row) and n_rel.max() <= count_max:
        below, ties = _ranks_by_counting(keys, pos_row, pos_col, n_rel)
    else:
        below, ties = _ranks_by_sorting(keys, pos_row, pos_col)
    # Excluded items sit below every candidate.
    below = np.maximum(below - n_excluded[pos_row], 0)
    rank = below + (ties + 1) / 2.0
    rank_sum = np.bincount(pos_row, weights=rank, minlength=b)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_rel * (n_rel + 1) / 2.0) / (n_rel * n_neg)
    auc[(n_rel == 0) | (n_neg <= 0)] = np.nan

    kk = min(map_k, n)
    top = np.argpartition(keys, n - kk, axis=1)[:, n - kk:] if kk < n else \
        np.broadcast_to(np.arange(n), (b, n))
    # Best first; among equal keys the lower item index first.
    order = np.lexsort((top, -np.take_along_axis(keys, top, axis=1).astype(np.int64)), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    relevant = np.zeros((b, n), dtype=bool)
    relevant[pos_row, pos_col] = True
    hits = np.take_along_axis(relevant, top, axis=1).astype(np.float64)
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, kk + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (precision_at * hits).sum(axis=1) / np.minimum(n_rel, map_k)
        hits_k = hits[:, :k].sum(axis=1)
        precision = hits_k / k
        recall = hits_k / n_rel
        discount = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (hits[:, :k] * discount[:hits[:, :k].shape[1]]).sum(axis=1)
        ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(n_rel, k)]
        ndcg = dcg / ideal
    return dict(auc=auc, ap=ap, precision=precision, recall=recall, ndcg=ndcg)


def evaluate_ranking(scores: Scorer | np.ndarray, heldout: sp.spmatrix,
                     exclude: sp.spmatrix | None = None, users: np.ndarray | None = None,
                     k: int = 10, map_k: int = 500, batch_size: int | None = None,
                     memory_bytes: int = 512 * 2**20, workers: int | None = None,
                     per_user: bool = False, progress: Progress | None = None,
                     count_max: int = 24) -> dict:
    """Ranking metrics of held-out items, averaged over users.

    Parameters
    ----------
    scores : callable or numpy.ndarray
        A scorer ``rows -> (len(rows), n_items)`` (see :func:`factor_scorer`)
        or a dense ``(n_users, n_items)`` score matrix. NaN scores are an error.
    heldout : scipy.sparse matrix
        ``(n_users, n_items)``; non-zeros are the relevant items.
    exclude : scipy.sparse matrix, optional
        ``(n_users, n_items)``; non-zeros are removed from the candidates
        (e.g. the training plays). Items both held out and excluded are excluded.
    users : array_like of int, optional
        Rows to evaluate (e.g. a sample); default every row. Rows without a
        relevant item are skipped.
    k : int
        Cut-off of precision, recall and NDCG.
    map_k : int
        Cut-off of the mean average precision.
    batch_size : int, optional
        Users per batch; default from ``memory_bytes``.
    memory_bytes : int
        Working memory all batches in flight may take when ``batch_size`` is
        not given.
    workers : int, optional
        Batches evaluated in parallel threads (default: CPU count, at most 8).
    per_user : bool
        Also return the per-user arrays under ``"per_user"``.
    progress : callable, optional
        ``progress(fraction, message)`` after every batch.
    count_max : int
        Batches whose users have at most this many relevant items each get
        their ranks by counting comparisons, others by sorting (a speed
        trade-off only: both are exact).

    Returns
    -------
    dict
        ``n_users``, ``n_items``, ``auc``, ``map_at_<map_k>``,
        ``precision_at_<k>``, ``recall_at_<k>``, ``ndcg_at_<k>`` (means;
        ``auc`` over users with at least one irrelevant candidate), and with
        ``per_user`` a dict of arrays ``users``, ``auc``, ``ap``, ``precision``,
        ``recall``, ``ndcg``.
    """
    progress = progress or no_progress
    heldout = sp.csr_matrix(heldout)
    n_users, n_items = heldout.shape
    if exclude is not None:
        exclude = sp.csr_matrix(exclude)
        exclude.eliminate_zeros()
        if exclude.shape != heldout.shape:
            raise ValueError(f"exclude has shape {exclude.shape}, heldout {heldout.shape}")
    if isinstance(scores, np.ndarray):
        if scores.shape != heldout.shape:
            raise ValueError(f"score matrix has shape {scores.shape}, heldout {heldout.shape}")
        matrix = scores
        scores = lambda rows: matrix[rows]  # noqa: E731
    heldout.eliminate_zeros()
    relevant = heldout
    if exclude is not None:
        # Held-out items that are also excluded are not relevant.
        relevant = (heldout - heldout.multiply(exclude.astype(bool))).tocsr()
        relevant.eliminate_zeros()
    n_relevant = np.diff(relevant.indptr)
    rows_all = np.arange(n_users) if users is None else np.unique(np.asarray(users, dtype=np.int64))
    rows_all = rows_all[n_relevant[rows_all] > 0]
    # Batches of users with similar numbers of relevant items let most
    # batches rank by counting instead of sorting (see _batch_metrics).
    order = np.argsort(n_relevant[rows_all], kind="stable")
    workers = max(1, min(workers or os.cpu_count() or 1, 8))
    if batch_size is None:
        batch_size = max(1, int(memory_bytes // (workers * _BYTES_PER_CELL * max(n_items, 1))))

    def run(rows):
        block = np.array(scores(rows), dtype=np.float32)
        if block.shape != (len(rows), n_items):
            raise ValueError(f"scorer returned shape {block.shape}, expected {(len(rows), n_items)}")
        if block.size and np.isnan(block.max()):
            raise ValueError("scores contain NaN")
        rel = heldout[rows]
        n_excluded = np.zeros(len(rows), dtype=np.int64)
        if exclude is not None:
            ex = exclude[rows]
            block[np.repeat(np.arange(len(rows)), np.diff(ex.indptr)), ex.indices] = -np.inf
            n_excluded = np.diff(ex.indptr).astype(np.int64)
            rel = (rel - rel.multiply(ex.astype(bool))).tocsr()
            rel.eliminate_zeros()
        rel.sort_indices()
        pos_row = np.repeat(np.arange(len(rows)), np.diff(rel.indptr))
        return _batch_metrics(_sortable_keys(block), pos_row, rel.indices, n_excluded, k, map_k,
                              count_max)

    parts = {name: [] for name in ("auc", "ap", "precision", "recall", "ndcg")}
    batches = [rows_all[order[i:i + batch_size]] for i in range(0, len(rows_all), batch_size)]
    done = 0
    # numpy's sort and partition release the GIL: batches run in parallel threads.
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for rows, result in zip(batches, pool.map(run, batches)):
            for name, values in result.items():
                parts[name].append(values)
            done += len(rows)
            progress(done / len(rows_all), f"evaluated {done:,}/{len(rows_all):,} users")

    back = np.argsort(order)
    per = {name: (np.concatenate(v)[back] if v else np.zeros(0)) for name, v in parts.items()}

    def mean(values):
        values = values[~np.isnan(values)]
        return float(values.mean()) if len(values) else float("nan")

    out = {"n_users": int(len(rows_all)), "n_items": int(n_items), "auc": mean(per["auc"]),
           f"map_at_{map_k}": mean(per["ap"]), f"precision_at_{k}": mean(per["precision"]),
           f"recall_at_{k}": mean(per["recall"]), f"ndcg_at_{k}": mean(per["ndcg"])}
    if per_user:
        out["per_user"] = dict(per, users=rows_all)
    return out
