"""Evaluation of the collaborative filtering on held-out plays (``EvaluateCF``).

Protocol: the candidates are the *warm* songs (cold-start songs are left to
the cold-start evaluation, since the factorization never saw them); for each
user with at least one warm held-out play, every warm song the user did not
play in training is ranked; the held-out plays are the relevant ones. ALS
scores ``u . v`` are compared with two baselines computed on the same users
and songs: popularity (number of training listeners) and random scores.
"""

from __future__ import annotations

import json
import os

import numpy as np

from krotos.cf.als import read_factors
from krotos.cf.metrics import evaluate_ranking, factor_scorer, popularity_scorer, random_scorer
from krotos.cf.playmatrix import read_play_split
from krotos.msd.errors import EmptyResultError
from krotos.progress import Progress, no_progress
from krotos.staging import atomic_write
from krotos.stats import interval_warnings, unit_metric_intervals


def write_json_atomic(path: str | os.PathLike, data: object) -> None:
    """Write ``data`` as indented JSON to ``path`` via a temporary file and a rename."""
    with atomic_write(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def undefined_metric_warnings(intervals: dict, why: dict | None = None) -> list[str]:
    """Say why a metric has no value, so that no ``null`` stands unexplained in a metrics.json.

    Parameters
    ----------
    intervals : dict
        A result of :func:`krotos.stats.unit_metric_intervals` or
        :func:`krotos.stats.tag_metric_intervals` (``models``, ``paired``,
        ``bootstrap``).
    why : dict, optional
        ``{metric: reason}``; a metric not in it is said to be undefined for
        every unit evaluated.

    Returns
    -------
    list of str
        One line per model (or pair) and metric whose value is None.
    """
    unit, n = intervals["bootstrap"]["unit"], intervals["bootstrap"]["n_units"]
    out = []
    for group in ("models", "paired"):
        for name, metrics in (intervals.get(group) or {}).items():
            for metric, iv in metrics.items():
                if isinstance(iv, dict) and iv.get("value") is None:
                    reason = (why or {}).get(metric, f"undefined for each of the {n:,} {unit}s "
                                                     f"evaluated")
                    out.append(f"{name} {metric}: no value: {reason}")
    return out


#: Why a ranking metric is undefined for every user evaluated.
RANKING_UNDEFINED = {
    "auc": "every candidate of every user evaluated is among their held-out plays, and AUC "
           "needs one that is not",
}


def ranking_per_user(ranking: dict, k: int = 10, map_k: int = 500) -> dict:
    """Per-user arrays of :func:`~krotos.cf.metrics.evaluate_ranking` under the metric names.

    Parameters
    ----------
    ranking : dict
        A result of ``evaluate_ranking(..., per_user=True)``.
    k, map_k : int
        The cut-offs it was computed with.

    Returns
    -------
    dict
        ``{"auc", "map_at_<map_k>", "precision_at_<k>", "recall_at_<k>",
        "ndcg_at_<k>"}`` -> ``(n_users,)`` arrays (NaN where undefined).
    """
    per = ranking["per_user"]
    return {"auc": per["auc"], f"map_at_{map_k}": per["ap"], f"precision_at_{k}": per["precision"],
            f"recall_at_{k}": per["recall"], f"ndcg_at_{k}": per["ndcg"]}


def evaluate_cf(split_path: str | os.PathLike, factors_path: str | os.PathLike,
                out_path: str | os.PathLike | None = None, max_users: int | None = None,
                seed: int = 0, k: int = 10, map_k: int = 500, progress: Progress | None = None, *,
                n_resamples: int = 1000, max_interval_width: float = 0.1) -> dict:
    """Ranking metrics of ALS, popularity and random scores on warm held-out plays.

    Every metric comes with a 95% bootstrap interval over the evaluated users,
    and ALS is compared with each baseline by paired differences on the same
    resamples (:mod:`krotos.stats.bootstrap`).

    Parameters
    ----------
    split_path : str
        Play-split file (:func:`krotos.cf.playmatrix.write_play_split`).
    factors_path : str
        Factor file of a factorization of its training plays
        (:func:`krotos.cf.als.write_factors`).
    out_path : str, optional
        Where to write the result as JSON (``metrics.json``), atomically.
    max_users : int, optional
        Evaluate a seeded random sample of this many users (all when None or 0).
    seed : int
        Seed of the user sample, of the random baseline and of the bootstrap.
    k, map_k : int
        Cut-offs, see :func:`krotos.cf.metrics.evaluate_ranking`.
    progress : callable, optional
        ``progress(fraction, message)``.
    n_resamples : int
        Bootstrap resamples of the users.
    max_interval_width : float
        Intervals wider than this are listed under ``warnings``.

    Returns
    -------
    dict
        ``{"models": {"als" | "popularity" | "random": {metric: {"value",
        "ci_low", "ci_high"}}}, "paired": {"als_minus_popularity" |
        "als_minus_random": {metric: {...}}}, "bootstrap": {...}, "warnings":
        [...], "n_users", "n_items", "protocol", "factors": <factor attrs>}``;
        the metrics are ``auc``, ``map_at_<map_k>``, ``precision_at_<k>``,
        ``recall_at_<k>`` and ``ndcg_at_<k>``. A metric without a value
        (None) is explained under ``warnings``.

    Raises
    ------
    krotos.msd.errors.EmptyResultError
        No user has a held-out play of a warm song: there is nothing to score.
    """
    progress = progress or no_progress
    split = read_play_split(split_path)
    factors = read_factors(factors_path)
    if not (np.array_equal(factors["user_ids"], split.user_ids)
            and np.array_equal(factors["song_ids"], split.song_ids)):
        raise ValueError(f"{factors_path} does not belong to {split_path}: user or song ids differ")
    warm = split.warm_song_index
    heldout = split.heldout[:, warm].tocsr()
    train = split.train[:, warm].tocsr()
    users = np.flatnonzero(np.diff(heldout.indptr) > 0)
    if len(users) == 0:
        raise EmptyResultError(
            f"{split_path}: no scorable user: none of the {heldout.shape[0]:,} users has a "
            f"held-out play of one of the {len(warm):,} warm songs ({split.heldout.nnz:,} "
            f"held-out plays, all of cold songs; holdout_fraction="
            f"{split.attrs.get('holdout_fraction')})")
    if max_users and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))
    scorers = {
        "als": factor_scorer(factors["user_factors"], factors["song_factors"][warm]),
        "popularity": popularity_scorer(train),
        "random": random_scorer(len(warm), seed),
    }
    per_user, evaluated = {}, None
    for i, (name, scorer) in enumerate(scorers.items()):
        def report(f, m, i=i, name=name):
            progress(0.95 * (i + f) / len(scorers), f"{name}: {m}")
        ranking = evaluate_ranking(scorer, heldout, exclude=train, users=users, k=k,
                                   map_k=map_k, per_user=True, progress=report)
        # The paired bootstrap needs every model's values on the same users, row for row.
        if evaluated is None:
            evaluated = ranking["per_user"]["users"]
        elif not np.array_equal(evaluated, ranking["per_user"]["users"]):
            raise RuntimeError(f"{name} was evaluated on other users than {next(iter(scorers))}")
        per_user[name] = ranking_per_user(ranking, k, map_k)
    progress(0.95, f"bootstrap: {n_resamples} resamples of the users")
    intervals = unit_metric_intervals(
        per_user, [("als", "popularity"), ("als", "random")], unit="user",
        n_resamples=n_resamples, seed=seed)
    result = {
        "models": intervals["models"],
        "paired": intervals["paired"],
        "bootstrap": intervals["bootstrap"],
        "warnings": (interval_warnings(intervals, max_interval_width)
                     + undefined_metric_warnings(intervals, RANKING_UNDEFINED)),
        "n_users": intervals["bootstrap"]["n_units"],
        "n_items": int(len(warm)),
        "protocol": ("warm songs only; per user, songs played in training are excluded and "
                     "warm held-out plays are relevant"),
        "factors": {key: value for key, value in factors["attrs"].items()},
    }
    if out_path:
        write_json_atomic(out_path, result)
    return result
