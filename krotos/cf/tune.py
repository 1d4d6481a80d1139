"""Choose the ALS hyperparameters on the validation plays, never on the test.

For every point of a small grid (``factors`` x ``regularization`` x
``alpha``), weighted ALS is fitted on the *training* plays of a play split
and scored on its *validation* plays: per user, every warm song not played in
training is ranked and the validation plays are the relevant ones. The
point with the best ``metric`` wins; the final factorization (``Factorize``)
then fits training and validation plays with it, and only then do the test
plays (``EvaluateCF``) and the cold songs get scored, once.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import numpy as np

from krotos.cf.als import fit_als
from krotos.cf.metrics import evaluate_ranking, factor_scorer
from krotos.cf.params import ALSParams
from krotos.cf.playmatrix import read_play_split
from krotos.progress import Progress, no_progress

METRICS = ("map_at_500", "auc", "ndcg_at_10")


def tune_als(split_path: str | os.PathLike, *, factors: Sequence[int] = (50,),
             regularization: Sequence[float] = (10.0,), alpha: Sequence[float] = (2.0,),
             iterations: int = 15, epsilon: float = 1.0, confidence: str = "log", seed: int = 0,
             metric: str = "map_at_500", max_users: int | None = 10_000, num_threads: int = 0,
             progress: Progress | None = None) -> dict:
    """Score every grid point on the validation plays and pick the best.

    Parameters
    ----------
    split_path : str
        ``plays.h5`` (:func:`krotos.cf.playmatrix.write_play_split`).
    factors, regularization, alpha : sequence
        The grid: every combination is fitted.
    iterations, epsilon, confidence, seed, num_threads
        Fixed settings of :func:`krotos.cf.als.fit_als`.
    metric : {'map_at_500', 'auc', 'ndcg_at_10'}
        What is maximized.
    max_users : int, optional
        Score a seeded sample of this many users with validation plays (all
        when None or 0).
    progress : callable, optional

    Returns
    -------
    dict
        ``chosen`` (``factors``, ``regularization``, ``alpha``), ``metric``,
        ``grid`` (one entry per point: its settings and validation metrics),
        ``n_users``, ``n_items``, ``split``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    progress = progress or no_progress
    points = list(itertools.product([int(f) for f in factors], [float(r) for r in regularization],
                                    [float(a) for a in alpha]))
    if not points:
        raise ValueError("the ALS grid is empty")
    split = read_play_split(split_path)
    warm = split.warm_song_index
    train = split.train.tocsr()
    valid = split.valid[:, warm].tocsr()
    users = np.flatnonzero(np.diff(valid.indptr) > 0)
    if len(users) == 0:
        raise ValueError(f"{split_path}: no user has validation plays; raise "
                         f"[PlayMatrix] valid_fraction")
    if max_users and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))
    grid = []
    for i, (f, reg, a) in enumerate(points):
        progress(i / len(points), f"ALS grid {i + 1}/{len(points)}: factors {f}, "
                                  f"regularization {reg:g}, alpha {a:g}")
        user_factors, song_factors, _ = fit_als(
            train, ALSParams(factors=f, regularization=reg, alpha=a, iterations=iterations,
                             epsilon=epsilon, confidence=confidence, seed=seed,
                             num_threads=num_threads))
        scores = evaluate_ranking(factor_scorer(user_factors, song_factors[warm]), valid,
                                  exclude=train[:, warm], users=users)
        grid.append(dict(factors=f, regularization=reg, alpha=a,
                         **{m: float(scores[m]) for m in METRICS}))
    best = max(grid, key=lambda g: (g[metric], -grid.index(g)))
    progress(1.0, f"chosen on validation plays: factors {best['factors']}, regularization "
                  f"{best['regularization']:g}, alpha {best['alpha']:g} ({metric} {best[metric]:.4f})")
    return dict(chosen={k: best[k] for k in ("factors", "regularization", "alpha")},
                metric=metric, grid=grid, n_users=int(len(users)), n_items=int(len(warm)),
                split="validation plays (per-user holdout of warm plays); test plays unused")
