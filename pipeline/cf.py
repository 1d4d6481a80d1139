"""Collaborative filtering: play matrix, weighted-ALS factors, their evaluation.

PlayMatrix -> Factorize -> EvaluateCF; the cold-start evaluation later reads
``plays.h5`` (held-out plays, ``cold_songs``) and ``factors.h5``.
"""

import json
import os

import luigi

from pipeline.base import KrotosTask
from pipeline.dataset import dataset_task
from pipeline.tagdb import TagDatabase


def _write_summary(folder, summary):
    with open(os.path.join(folder, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")


class PlayMatrix(KrotosTask):
    """Taste Profile triplets -> users x songs play counts, split for evaluation.

    Output ``plays.h5`` (train and held-out CSR matrices, user/song/track ids,
    ``cold_songs``; see :func:`krotos.cf.playmatrix.write_play_split`) and
    ``summary.json`` (bad lines, unknown songs, duplicates, filter counts).
    """

    version = 1

    min_user_songs = luigi.IntParameter(
        default=1, description="drop users with fewer distinct songs than this")
    min_song_users = luigi.IntParameter(
        default=1, description="drop songs with fewer distinct listeners than this")
    n_songs = luigi.IntParameter(
        default=0, description="keep only the N songs with most listeners; 0: all")
    holdout_fraction = luigi.FloatParameter(
        default=0.2, description="fraction of each user's warm songs held out for evaluation")
    cold_song_fraction = luigi.FloatParameter(
        default=0.1, description="fraction of songs made cold-start: all their plays held out")
    seed = luigi.IntParameter(default=0, description="seed of the held-out and cold-song choice")
    chunk_lines = luigi.IntParameter(
        default=1_000_000, significant=False, description="triplet lines parsed at a time")

    def requires(self):
        return {"tagdb": TagDatabase(), "dataset": dataset_task()}

    def run(self):
        from krotos.cf.playmatrix import build_play_split
        from krotos.tagdb import TagDB

        with TagDB(self.requires()["tagdb"].file("tags.sqlite")) as db:
            song_to_track = db.song_to_track()
        triplets = self.requires()["dataset"].paths()["triplets"]
        if not triplets:
            raise RuntimeError("PlayMatrix needs the Taste Profile triplets: set [krotos] triplets")
        with self.staging() as tmp:
            summary = build_play_split(
                triplets, os.path.join(tmp, "plays.h5"), song_to_track,
                min_user_songs=self.min_user_songs, min_song_users=self.min_song_users,
                n_songs=self.n_songs or None, holdout_fraction=self.holdout_fraction,
                cold_song_fraction=self.cold_song_fraction, seed=self.seed,
                chunk_lines=self.chunk_lines, progress=self.progress)
            _write_summary(tmp, summary)
        self.set_status_message(
            f"{summary['users']:,} users x {summary['songs']:,} songs; "
            f"{summary['bad_lines']['total']:,} bad lines, "
            f"{summary['read']['unknown_song_lines']:,} plays of unknown songs, "
            f"{summary['read']['duplicate_lines']:,} duplicates summed")


class Factorize(KrotosTask):
    """Weighted ALS (Hu, Koren & Volinsky 2008) of the training plays -> ``factors.h5``.

    With ``include_cold`` the factorization also sees the cold songs' plays
    (an upper-bound model for the cold-start evaluation); otherwise the cold
    songs get fold-in factors in ``cold_song_factors_foldin``.
    """

    version = 1

    factors = luigi.IntParameter(default=50, description="latent dimensions")
    regularization = luigi.FloatParameter(default=1.0, description="L2 weight lambda")
    iterations = luigi.IntParameter(default=15, description="ALS sweeps")
    alpha = luigi.FloatParameter(default=2.0, description="confidence weight of plays")
    epsilon = luigi.FloatParameter(default=1.0, description="count scale of the log confidence")
    confidence = luigi.ChoiceParameter(
        default="log", choices=["log", "linear"],
        description="log: 1 + alpha log(1 + plays/epsilon); linear: 1 + alpha plays")
    seed = luigi.IntParameter(default=0, description="seed of the initial factors")
    include_cold = luigi.BoolParameter(
        default=False, description="also fit on the cold songs' (held-out) plays")
    num_threads = luigi.IntParameter(
        default=0, significant=False, description="CPU threads of implicit; 0: all cores")

    def requires(self):
        return PlayMatrix()

    def run(self):
        from krotos.cf.als import factorize_play_split

        with self.staging() as tmp:
            summary = factorize_play_split(
                self.requires().file("plays.h5"), os.path.join(tmp, "factors.h5"),
                factors=self.factors, regularization=self.regularization,
                iterations=self.iterations, alpha=self.alpha, epsilon=self.epsilon,
                confidence=self.confidence, seed=self.seed, include_cold=self.include_cold,
                num_threads=self.num_threads, progress=self.progress)
            _write_summary(tmp, summary)


class EvaluateCF(KrotosTask):
    """Ranking metrics of ALS, popularity and random on warm held-out plays -> ``metrics.json``."""

    version = 1

    max_users = luigi.IntParameter(
        default=10_000, description="evaluate a seeded sample of this many users; 0: all")
    seed = luigi.IntParameter(default=0, description="seed of the user sample and random scores")

    def requires(self):
        return {"plays": PlayMatrix(), "factors": Factorize(include_cold=False)}

    def run(self):
        from krotos.cf.evaluate import evaluate_cf

        with self.staging() as tmp:
            result = evaluate_cf(
                self.requires()["plays"].file("plays.h5"),
                self.requires()["factors"].file("factors.h5"),
                os.path.join(tmp, "metrics.json"), max_users=self.max_users or None,
                seed=self.seed, progress=self.progress)
        m = result["models"]
        self.set_status_message(" | ".join(
            f"{name}: MAP@500 {m[name]['map_at_500']:.4f} AUC {m[name]['auc']:.3f}" for name in m))
