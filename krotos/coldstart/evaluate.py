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

Every metric carries a 95% bootstrap interval over the evaluated users, and
the CNN is compared with the linear baseline, with random scores and with the
upper bound by paired differences on the same resamples
(:mod:`krotos.stats.bootstrap`); intervals too wide to tell the models apart
are listed under ``warnings``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from krotos.cf.als import read_factors
from krotos.cf.evaluate import RANKING_UNDEFINED, ranking_per_user, undefined_metric_warnings
from krotos.cf.metrics import evaluate_ranking, factor_scorer, random_scorer
from krotos.cf.playmatrix import read_play_split
from krotos.coldstart.params import ColdStartParams
from krotos.coldstart.baseline import clip_statistics, fit_linear_baseline
from krotos.coldstart.vectors import read_latents, unit_normalize
from krotos.msd.errors import EmptyResultError
from krotos.progress import Progress, no_progress
from krotos.splits import write_track_sets
from krotos.staging import atomic_write
from krotos.stats import interval_warnings, unit_metric_intervals

METRICS = ("auc", "map_at_500", "precision_at_10", "recall_at_10", "ndcg_at_10")

#: Paired differences reported, ``a - b``.
PAIRS = (("cnn", "linear"), ("cnn", "random"), ("upper_bound", "cnn"))


def _relative(value, low, high):
    if value is None or low is None or high is None:
        return None
    span = high - low
    return float((value - low) / span) if span > 0 else None


def evaluate_cold_start(plays_path: str, factors_path: str, upper_factors_path: str,
                        predicted_path: str, shard_paths: Sequence[str], out_path: str, *,
                        track_tags: Callable | None = None, fit_tracks: Iterable[str] | None = None,
                        params: ColdStartParams | None = None,
                        progress: Progress = no_progress) -> dict:
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
        ``metrics.json`` to write; ``linear_baseline_tracks.json`` (the songs
        the linear baseline was fitted on) goes beside it.
    track_tags : callable, optional
        ``track_ids -> list of tag lists``, to show tags in the examples.
    fit_tracks : iterable of str, optional
        Track ids the linear baseline may be fitted on (the CNN's training
        split, so that both learn from the same songs); default every warm
        song with a spectrogram.
    params : krotos.coldstart.params.ColdStartParams, optional
        Examples shown, seed, bootstrap resamples, interval warning width
        (default: luigi.cfg's).
    progress : callable(fraction, message)

    Returns
    -------
    dict
        What ``metrics.json`` holds: ``models`` (``cnn``, ``linear``,
        ``random``, ``upper_bound``: ``{metric: {"value", "ci_low",
        "ci_high"}}``), ``paired`` (``cnn_minus_linear``, ``cnn_minus_random``,
        ``upper_bound_minus_cnn``), ``bootstrap``, ``warnings``,
        ``relative_auc``, ``linear_relative_auc``, ``examples``,
        ``n_cold_songs``, ``n_cold_songs_evaluated``, ``n_cold_songs_skipped``,
        ``n_users``, ``protocol``, ``linear_baseline_alpha``,
        ``linear_baseline_fit_songs``.
    """
    p = params or ColdStartParams()
    n_example_users, top_n, seed = p.n_example_users, p.top_n, p.seed
    n_resamples, max_interval_width = p.n_resamples, p.max_interval_width
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

    # Linear baseline: fit on the warm songs the CNN was trained on, predict
    # the cold ones; fitting it on songs the CNN never saw would compare the
    # two on different training data.
    warm = split.warm_song_index
    warm_tracks = split.track_ids[warm]
    if fit_tracks is not None:
        fit_tracks = set(fit_tracks)
        keep = np.array([t in fit_tracks for t in warm_tracks], dtype=bool)
        warm, warm_tracks = warm[keep], warm_tracks[keep]
    targets = dict(zip(warm_tracks, unit_normalize(warm_fit["song_factors"][warm])))
    progress(0.05, "clip statistics for the linear baseline")
    stat_ids, stats = clip_statistics(shard_paths, set(warm_tracks) | set(cold_tracks))
    stat_row = {t: i for i, t in enumerate(stat_ids)}
    fit_ids = [t for t in warm_tracks if t in stat_row]
    if len(fit_ids) < 2:
        raise ValueError("fewer than two warm songs" + (" of fit_tracks" if fit_tracks is not None
                                                        else "") +
                         " have spectrograms: no linear baseline")
    baseline = fit_linear_baseline(stats[[stat_row[t] for t in fit_ids]],
                                   np.stack([targets[t] for t in fit_ids]))

    usable = np.array([t in pred_row and t in stat_row for t in cold_tracks], dtype=bool)
    if not usable.any():
        raise ValueError("no cold-start song has predicted factors: nothing to evaluate")
    cols = cold[usable]
    tracks = cold_tracks[usable]
    heldout = split.heldout[:, cols].tocsr()
    heldout.eliminate_zeros()
    if heldout.nnz == 0:
        raise EmptyResultError(
            f"{plays_path}: no scorable user: no user has a held-out play of the {len(cols):,} "
            f"cold songs with predicted factors ({len(cold):,} cold songs, "
            f"{int((~usable).sum()):,} without a prediction or spectrogram)")
    representations = {
        "cnn": factor_scorer(warm_fit["user_factors"], pred[[pred_row[t] for t in tracks]]),
        "linear": factor_scorer(warm_fit["user_factors"],
                                baseline.predict(stats[[stat_row[t] for t in tracks]])),
        "random": random_scorer(len(cols), seed=seed),
        "upper_bound": factor_scorer(full_fit["user_factors"], full_fit["song_factors"][cols]),
    }
    per_user, evaluated = {}, None
    for i, (name, scorer) in enumerate(representations.items()):
        progress(0.1 + 0.8 * i / len(representations), f"ranking cold songs: {name}")
        ranking = evaluate_ranking(scorer, heldout, per_user=True)
        # Every representation is ranked for the same users (those with a
        # held-out cold play): the paired bootstrap relies on it.
        if evaluated is None:
            evaluated = ranking["per_user"]["users"]
        elif not np.array_equal(evaluated, ranking["per_user"]["users"]):
            raise RuntimeError(f"{name} was evaluated on other users than cnn")
        per_user[name] = ranking_per_user(ranking)
    progress(0.9, f"bootstrap: {n_resamples} resamples of the users")
    intervals = unit_metric_intervals(per_user, PAIRS, unit="user", n_resamples=n_resamples,
                                      seed=seed)
    results = intervals["models"]
    auc = {name: results[name]["auc"]["value"] for name in results}
    summary = {
        "protocol": "van den Oord et al. 2013: per user, rank the cold-start songs "
                    "(all plays held out of the factorization) by predicted preference",
        "n_cold_songs": int(len(cold)),
        "n_cold_songs_evaluated": int(len(cols)),
        "n_cold_songs_skipped": {"no prediction or spectrogram": int((~usable).sum())},
        "n_users": intervals["bootstrap"]["n_units"],
        "models": results,
        "paired": intervals["paired"],
        "bootstrap": intervals["bootstrap"],
        "warnings": (interval_warnings(intervals, max_interval_width)
                     + undefined_metric_warnings(intervals, RANKING_UNDEFINED)),
        "relative_auc": _relative(auc["cnn"], auc["random"], auc["upper_bound"]),
        "linear_relative_auc": _relative(auc["linear"], auc["random"], auc["upper_bound"]),
        "linear_baseline_alpha": float(baseline[-1].alpha_),
        "linear_baseline_fit_songs": len(fit_ids),
    }
    for key, model in (("relative_auc", "cnn"), ("linear_relative_auc", "linear")):
        if summary[key] is None:
            summary["warnings"].append(
                f"{key}: no value: needs the AUC of {model}, random and upper_bound, with the "
                f"upper bound above random")
    summary["examples"] = _examples(split, heldout, representations["cnn"], tracks,
                                    track_tags, n_example_users, top_n)
    with atomic_write(out_path) as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    # Beside the metrics: the songs the linear baseline learned from, to be checked.
    write_track_sets(os.path.join(os.path.dirname(os.path.abspath(out_path)),
                                  "linear_baseline_tracks.json"), train=fit_ids)
    progress(1.0, "cold-start AUC " + ", ".join(
        f"{name} {_fmt(results[name]['auc'])}" for name in results))
    return summary


def _fmt(interval):
    """``0.812 [0.790, 0.833]``; ``-`` for what is undefined."""
    def number(x):
        return "-" if x is None else f"{x:.3f}"
    return f"{number(interval['value'])} [{number(interval['ci_low'])}, " \
           f"{number(interval['ci_high'])}]"


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
