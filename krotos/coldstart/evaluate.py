"""The cold-start evaluation of van den Oord et al. (2013).

Some songs were made *cold* when the play matrix was split: every play of
theirs is held out, so the factorization never saw them. For each user, the
cold songs are ranked by predicted preference ``x_u . y_i`` and the ranking is
compared with the user's held-out plays of those songs, with the same metrics
module as the collaborative-filtering evaluation. Four song representations
are compared on the same songs and users:

``cnn``
    factors predicted from audio by the fine-tuned CNN, with the user factors
    of the factorization that never saw the cold songs;
``linear``
    factors predicted by a ridge regression from clip statistics
    (:mod:`krotos.coldstart.baseline`), same user factors;
``random``
    random scores;
``upper_bound``
    the true factors of the cold songs, from a factorization that saw their
    plays (with its own user factors): what perfect audio could reach.

``relative_auc`` = (auc - random) / (upper_bound - random): how much of the
way from chance to the upper bound the CNN gets.
"""

import json
import os

import numpy as np

from krotos.cf.als import read_factors
from krotos.cf.metrics import evaluate_ranking, factor_scorer, random_scorer
from krotos.cf.playmatrix import read_play_split
from krotos.coldstart.baseline import clip_statistics, fit_linear_baseline
from krotos.coldstart.vectors import read_latents, unit_normalize

METRICS = ("auc", "map_at_500", "precision_at_10", "recall_at_10", "ndcg_at_10")


def _no_progress(fraction, message=None):
    pass


def _relative(value, low, high):
    span = high - low
    return float((value - low) / span) if span > 0 else float("nan")


def evaluate_cold_start(plays_path, factors_path, upper_factors_path, predicted_path,
                        shard_paths, out_path, *, track_tags=None, n_example_users=5,
                        top_n=10, seed=0, progress=_no_progress):
    """Rank the cold-start songs for every user with each representation; write metrics.

    Parameters
    ----------
    plays_path : str
        ``plays.h5`` of the play matrix (held-out plays, cold songs).
    factors_path : str
        ``factors.h5`` fitted without the cold songs' plays.
    upper_factors_path : str
        ``factors.h5`` fitted with them (the upper bound).
    predicted_path : str
        Factors predicted from audio (:func:`krotos.model.finetune.predict_latents`).
    shard_paths : sequence of str
        Feature shards, for the linear baseline's clip statistics.
    out_path : str
        ``metrics.json`` to write.
    track_tags : callable, optional
        ``track_ids -> list of tag lists``, to show tags in the examples.
    n_example_users, top_n : int
        How many users get a top-``top_n`` list of cold songs in the output.
    seed : int
    progress : callable(fraction, message)

    Returns
    -------
    dict
        What ``metrics.json`` holds.
    """
    split = read_play_split(plays_path)
    warm_fit = read_factors(factors_path)
    full_fit = read_factors(upper_factors_path)
    for name, fit in (("factors", warm_fit), ("upper-bound factors", full_fit)):
        if list(fit["song_ids"]) != list(split.song_ids) or len(fit["user_ids"]) != len(split.user_ids):
            raise ValueError(f"{name} do not belong to the play matrix {plays_path}")
    pred_ids, pred = read_latents(predicted_path)
    pred_row = {t: i for i, t in enumerate(pred_ids)}
    cold = split.cold_song_index
    cold_tracks = split.track_ids[cold]

    # Linear baseline: fit on the warm songs the CNN was trained on (all
    # warm songs with a spectrogram), predict the cold ones.
    warm = split.warm_song_index
    warm_tracks = split.track_ids[warm]
    targets = dict(zip(warm_tracks, unit_normalize(warm_fit["song_factors"][warm])))
    progress(0.05, "clip statistics for the linear baseline")
    stat_ids, stats = clip_statistics(shard_paths, set(warm_tracks) | set(cold_tracks))
    stat_row = {t: i for i, t in enumerate(stat_ids)}
    fit_ids = [t for t in warm_tracks if t in stat_row]
    if len(fit_ids) < 2:
        raise ValueError("fewer than two warm songs have spectrograms: no linear baseline")
    baseline = fit_linear_baseline(stats[[stat_row[t] for t in fit_ids]],
                                   np.stack([targets[t] for t in fit_ids]))

    usable = np.array([t in pred_row and t in stat_row for t in cold_tracks], dtype=bool)
    if not usable.any():
        raise ValueError("no cold-start song has predicted factors: nothing to evaluate")
    cols = cold[usable]
    tracks = cold_tracks[usable]
    heldout = split.heldout[:, cols].tocsr()
    heldout.eliminate_zeros()
    representations = {
        "cnn": factor_scorer(warm_fit["user_factors"], pred[[pred_row[t] for t in tracks]]),
        "linear": factor_scorer(warm_fit["user_factors"],
                                baseline.predict(stats[[stat_row[t] for t in tracks]])),
        "random": random_scorer(len(cols), seed=seed),
        "upper_bound": factor_scorer(full_fit["user_factors"], full_fit["song_factors"][cols]),
    }
    results = {}
    for i, (name, scorer) in enumerate(representations.items()):
        progress(0.1 + 0.8 * i / len(representations), f"ranking cold songs: {name}")
        results[name] = {k: v for k, v in evaluate_ranking(scorer, heldout).items()}
    summary = {
        "protocol": "van den Oord et al. 2013: per user, rank the cold-start songs "
                    "(all plays held out of the factorization) by predicted preference",
        "n_cold_songs": int(len(cold)),
        "n_cold_songs_evaluated": int(len(cols)),
        "n_cold_songs_skipped": {"no prediction or spectrogram": int((~usable).sum())},
        "n_users": int(results["cnn"]["n_users"]),
        "models": results,
        "relative_auc": _relative(results["cnn"]["auc"], results["random"]["auc"],
                                  results["upper_bound"]["auc"]),
        "linear_relative_auc": _relative(results["linear"]["auc"], results["random"]["auc"],
                                         results["upper_bound"]["auc"]),
        "linear_baseline_alpha": float(baseline[-1].alpha_),
    }
    for metric in ("auc", "map_at_500"):
        summary[metric] = results["cnn"][metric]
        summary[f"random_{metric}"] = results["random"][metric]
        summary[f"upper_bound_{metric}"] = results["upper_bound"][metric]
        summary[f"linear_{metric}"] = results["linear"][metric]
    summary["examples"] = _examples(split, heldout, representations["cnn"], tracks,
                                    track_tags, n_example_users, top_n)
    tmp = out_path + ".part"
    with open(tmp, "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, out_path)
    progress(1.0, f"cold-start AUC {summary['auc']:.3f} (random {summary['random_auc']:.3f}, "
                  f"upper bound {summary['upper_bound_auc']:.3f})")
    return summary


def _examples(split, heldout, scorer, tracks, track_tags, n_users, top_n):
    """Top cold songs for the users with the most held-out cold plays."""
    per_user = np.diff(heldout.indptr)
    users = np.argsort(-per_user, kind="stable")[:n_users]
    users = users[per_user[users] > 0]
    if len(users) == 0:
        return []
    scores = scorer(users)
    out = []
    for row, user in zip(scores, users):
        top = np.argsort(-row, kind="stable")[:top_n]
        played = set(heldout[user].indices.tolist())
        tags = track_tags([tracks[j] for j in top]) if track_tags else [[] for _ in top]
        out.append({
            "user": str(split.user_ids[user]),
            "n_heldout_cold_plays": int(per_user[user]),
            "top": [{"track_id": str(tracks[j]), "score": float(row[j]),
                     "played": bool(j in played), "tags": list(t)}
                    for j, t in zip(top, tags)],
        })
    return out
