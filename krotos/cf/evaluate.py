"""Evaluation of the collaborative filtering on held-out plays (``EvaluateCF``).

Protocol: the candidates are the *warm* songs (cold-start songs are left to
the cold-start evaluation, since the factorization never saw them); for each
user with at least one warm held-out play, every warm song the user did not
play in training is ranked; the held-out plays are the relevant ones. ALS
scores ``u . v`` are compared with two baselines computed on the same users
and songs: popularity (number of training listeners) and random scores.
"""

import json
import os
import tempfile

import numpy as np

from krotos.cf.als import read_factors
from krotos.cf.metrics import evaluate_ranking, factor_scorer, popularity_scorer, random_scorer
from krotos.cf.playmatrix import read_play_split


def _no_progress(fraction, message=""):
    pass


def write_json_atomic(path, data):
    """Write ``data`` as indented JSON to ``path`` via a temporary file and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.remove(tmp)
        raise


def evaluate_cf(split_path, factors_path, out_path=None, max_users=None, seed=0, k=10,
                map_k=500, progress=None):
    """Ranking metrics of ALS, popularity and random scores on warm held-out plays.

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
        Seed of the user sample and of the random baseline.
    k, map_k : int
        Cut-offs, see :func:`krotos.cf.metrics.evaluate_ranking`.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    dict
        ``{"models": {"als": {...}, "popularity": {...}, "random": {...}},
        "n_users", "n_items", "protocol", "factors": <factor attrs>}``.
    """
    progress = progress or _no_progress
    split = read_play_split(split_path)
    factors = read_factors(factors_path)
    if not (np.array_equal(factors["user_ids"], split.user_ids)
            and np.array_equal(factors["song_ids"], split.song_ids)):
        raise ValueError(f"{factors_path} does not belong to {split_path}: user or song ids differ")
    warm = split.warm_song_index
    heldout = split.heldout[:, warm].tocsr()
    train = split.train[:, warm].tocsr()
    users = np.flatnonzero(np.diff(heldout.indptr) > 0)
    if max_users and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))
    scorers = {
        "als": factor_scorer(factors["user_factors"], factors["song_factors"][warm]),
        "popularity": popularity_scorer(train),
        "random": random_scorer(len(warm), seed),
    }
    models = {}
    for i, (name, scorer) in enumerate(scorers.items()):
        def report(f, m, i=i, name=name):
            progress((i + f) / len(scorers), f"{name}: {m}")
        models[name] = evaluate_ranking(scorer, heldout, exclude=train, users=users, k=k,
                                        map_k=map_k, progress=report)
    result = {
        "models": models,
        "n_users": models["als"]["n_users"],
        "n_items": int(len(warm)),
        "protocol": ("warm songs only; per user, songs played in training are excluded and "
                     "warm held-out plays are relevant"),
        "factors": {key: value for key, value in factors["attrs"].items()},
    }
    if out_path:
        write_json_atomic(out_path, result)
    return result
