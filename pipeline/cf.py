"""Collaborative filtering: play matrix, weighted-ALS factors, their evaluation.

PlayMatrix -> (TuneALS on the validation plays) -> Factorize -> EvaluateCF; the cold-start
evaluation later reads ``plays.h5`` (held-out plays, ``cold_songs``) and ``factors.h5``.
"""

import json
import os

import dataclasses

import luigi

from krotos.cf.params import ALSParams, PlayMatrixParams
from pipeline.base import GridParameter, KrotosTask, Replicated
from pipeline.dataset import dataset_task
from pipeline.split import SongSplit
from pipeline.tagdb import TagDatabase


#: The summary file of PlayMatrix and Factorize.
SUMMARY = "summary.json"


class PlayMatrix(Replicated, KrotosTask):
    """Taste Profile triplets -> users x songs play counts, split for evaluation.

    Every play counts, whether or not its song has a track, audio or tags;
    the test songs of ``SongSplit`` are the cold songs (all their plays held
    out). Output ``plays.h5`` (train, valid and held-out CSR matrices,
    user/song/track ids, ``cold_songs``; see
    :func:`krotos.cf.playmatrix.write_play_split`) and ``summary.json`` (bad
    lines, songs without a track, duplicates, filter counts).
    """

    version = 3  # 3: int64 counts

    #: Output files.
    PLAYS = "plays.h5"
    SUMMARY = SUMMARY

    # Defaults: krotos.cf.params.PlayMatrixParams's (= luigi.cfg's).
    min_user_songs = luigi.IntParameter(
        default=PlayMatrixParams.min_user_songs,
        description="drop users with fewer distinct songs than this")
    min_song_users = luigi.IntParameter(
        default=PlayMatrixParams.min_song_users,
        description="drop songs with fewer distinct listeners than this")
    n_songs = luigi.IntParameter(
        default=PlayMatrixParams.n_songs,
        description="keep only the N songs with most listeners; 0: all")
    holdout_fraction = luigi.FloatParameter(
        default=PlayMatrixParams.holdout_fraction,
        description="fraction of each user's warm songs held out for the CF test")
    valid_fraction = luigi.FloatParameter(
        default=PlayMatrixParams.valid_fraction,
        description="fraction of each user's warm songs held out for validation")
    seed = luigi.IntParameter(default=PlayMatrixParams.seed,
                              description="seed of the held-out plays")
    chunk_lines = luigi.IntParameter(
        default=PlayMatrixParams.chunk_lines, significant=False,
        description="triplet lines parsed at a time")

    def requires(self):
        return {"tagdb": TagDatabase(), "dataset": dataset_task(),
                "split": SongSplit(replicate=self.replicate)}

    def play_matrix_params(self):
        """:class:`krotos.cf.params.PlayMatrixParams` (seed shifted by the replicate number)."""
        names = [f.name for f in dataclasses.fields(PlayMatrixParams)]
        return PlayMatrixParams(**dict({name: getattr(self, name) for name in names},
                                       seed=self.replicate_seed(self.seed)))

    def run(self):
        from krotos.cf.stages import describe_play_matrix, play_matrix_stage

        inputs = self.requires()
        with self.staging() as tmp:
            summary = play_matrix_stage(
                inputs["dataset"].paths()["triplets"], inputs["tagdb"].file(TagDatabase.DB),
                inputs["split"].read().tracks("test"), os.path.join(tmp, self.PLAYS),
                os.path.join(tmp, self.SUMMARY), self.play_matrix_params(), progress=self.progress)
        self.set_status_message(describe_play_matrix(summary))


class TuneALS(Replicated, KrotosTask):
    """The ALS grid scored on the validation plays, and the chosen point (``tuning.json``).

    ``Factorize`` passes its grid (lists in ``[Factorize]``) and runs this
    task only when there is something to choose.
    """

    version = 1

    #: Output file.
    TUNING = "tuning.json"

    factors = GridParameter(description="latent dimensions to try")
    regularization = GridParameter(description="L2 weights to try")
    alpha = GridParameter(description="confidence weights to try")
    iterations = luigi.IntParameter(description="ALS sweeps")
    epsilon = luigi.FloatParameter(description="count scale of the log confidence")
    confidence = luigi.Parameter(description="log or linear")
    seed = luigi.IntParameter(description="seed of the initial factors and the user sample")
    metric = luigi.ChoiceParameter(default="map_at_500", choices=["map_at_500", "auc", "ndcg_at_10"],
                                   description="validation metric that is maximized")
    max_users = luigi.IntParameter(
        default=10_000, description="score a seeded sample of this many users; 0: all")
    num_threads = luigi.IntParameter(
        default=0, significant=False, description="CPU threads of implicit; 0: all cores")

    def requires(self):
        return PlayMatrix(replicate=self.replicate)

    def run(self):
        from krotos.cf.tune import tune_als

        result = tune_als(
            self.requires().file(PlayMatrix.PLAYS), factors=self.factors,
            regularization=self.regularization, alpha=self.alpha, iterations=self.iterations,
            epsilon=self.epsilon, confidence=self.confidence, seed=self.replicate_seed(self.seed),
            metric=self.metric, max_users=self.max_users, num_threads=self.num_threads,
            progress=self.progress)
        with self.staging() as tmp:
            with open(os.path.join(tmp, self.TUNING), "w") as f:
                json.dump(result, f, indent=2, sort_keys=True)
                f.write("\n")

    def chosen(self):
        """``{"factors", "regularization", "alpha"}`` chosen on the validation plays."""
        with open(self.file(self.TUNING)) as f:
            return json.load(f)["chosen"]


class Factorize(Replicated, KrotosTask):
    """Weighted ALS (Hu, Koren & Volinsky 2008) of the training and validation plays
    -> ``factors.h5``.

    ``factors``, ``regularization`` and ``alpha`` may be lists: ``TuneALS``
    then picks one point on the validation plays (fitting the training plays
    only), and this task fits training and validation plays with it.
    With ``include_cold`` the factorization also sees the cold songs' plays
    (an upper-bound model for the cold-start evaluation); otherwise the cold
    songs get fold-in factors in ``cold_song_factors_foldin``.
    """

    version = 2

    #: Output files.
    FACTORS = "factors.h5"
    SUMMARY = SUMMARY

    factors = GridParameter(default=(50,), description="latent dimensions (a list: tuned)")
    regularization = GridParameter(default=(10, 100, 1000), description="L2 weight lambda (a list: tuned)")
    iterations = luigi.IntParameter(default=ALSParams.iterations, description="ALS sweeps")
    alpha = GridParameter(default=(2, 10, 40), description="confidence weight of plays (a list: tuned)")
    epsilon = luigi.FloatParameter(default=ALSParams.epsilon,
                                   description="count scale of the log confidence")
    confidence = luigi.ChoiceParameter(
        default=ALSParams.confidence, choices=["log", "linear"],
        description="log: 1 + alpha log(1 + plays/epsilon); linear: 1 + alpha plays")
    seed = luigi.IntParameter(default=ALSParams.seed, description="seed of the initial factors")
    include_cold = luigi.BoolParameter(
        default=False, description="also fit on the cold songs' (held-out) plays")
    num_threads = luigi.IntParameter(
        default=ALSParams.num_threads, significant=False,
        description="CPU threads of implicit; 0: all cores")

    def _grid_size(self):
        return len(self.factors) * len(self.regularization) * len(self.alpha)

    def requires(self):
        inputs = {"plays": PlayMatrix(replicate=self.replicate)}
        if self._grid_size() > 1:
            inputs["tuning"] = TuneALS(
                replicate=self.replicate, factors=self.factors,
                regularization=self.regularization, alpha=self.alpha, iterations=self.iterations,
                epsilon=self.epsilon, confidence=self.confidence, seed=self.seed,
                num_threads=self.num_threads)
        return inputs

    def hyperparameters(self):
        """``{"factors", "regularization", "alpha"}`` this factorization uses."""
        if "tuning" in self.requires():
            return self.requires()["tuning"].chosen()
        return dict(factors=int(self.factors[0]), regularization=float(self.regularization[0]),
                    alpha=float(self.alpha[0]))

    def als_params(self):
        """:class:`krotos.cf.params.ALSParams` of this fit (seed shifted by the replicate number)."""
        return ALSParams(**self.hyperparameters(), iterations=self.iterations,
                         epsilon=self.epsilon, confidence=self.confidence,
                         seed=self.replicate_seed(self.seed), num_threads=self.num_threads)

    def run(self):
        from krotos.cf.stages import factorize_stage

        tuned = "tuning" in self.requires()
        with self.staging() as tmp:
            factorize_stage(
                self.requires()["plays"].file(PlayMatrix.PLAYS), os.path.join(tmp, self.FACTORS),
                os.path.join(tmp, self.SUMMARY), self.als_params(), include_cold=self.include_cold,
                chosen_on="validation plays (TuneALS)" if tuned else "given", progress=self.progress)


class EvaluateCF(Replicated, KrotosTask):
    """Ranking metrics of ALS, popularity and random on warm held-out test plays
    -> ``metrics.json``, each with a 95% bootstrap interval over users."""

    version = 2

    #: Output file.
    METRICS = "metrics.json"

    max_users = luigi.IntParameter(
        default=10_000, description="evaluate a seeded sample of this many users; 0: all")
    seed = luigi.IntParameter(default=0, description="seed of the user sample and random scores")
    n_resamples = luigi.IntParameter(default=1000, description="bootstrap resamples")

    def requires(self):
        return {"plays": PlayMatrix(replicate=self.replicate),
                "factors": Factorize(include_cold=False, replicate=self.replicate)}

    def run(self):
        from krotos.cf.evaluate import evaluate_cf
        from krotos.cf.stages import describe_cf_metrics

        with self.staging() as tmp:
            result = evaluate_cf(
                self.requires()["plays"].file(PlayMatrix.PLAYS),
                self.requires()["factors"].file(Factorize.FACTORS),
                os.path.join(tmp, self.METRICS), max_users=self.max_users or None,
                seed=self.replicate_seed(self.seed), n_resamples=self.n_resamples,
                progress=self.progress)
        self.set_status_message(describe_cf_metrics(result))
