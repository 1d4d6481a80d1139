"""From tags to taste: fine-tune the tag CNN on ALS factors, then evaluate cold start.

``FinetuneModel`` is the fine-tuned model (what ``krotos --model`` and the
service use); ``EvaluateRecommendation`` scores its predicted factors on the
cold-start songs. Both are plain tasks: the main job that runs them with the
other evaluations and the report is ``FinetuneLatents`` (:mod:`pipeline.main`).
"""

import dataclasses
import os

import luigi

from krotos.coldstart.params import ColdStartParams
from krotos.model.params import FinetuneParams
from pipeline.base import KrotosTask, Replicated
from pipeline.cf import Factorize, PlayMatrix
from pipeline.features import ShardIndex, feature_index_task
from pipeline.split import SongSplit
from pipeline.tagdb import TagDatabase
from pipeline.tags_model import TrainTagModel


class FinetuneModel(Replicated, KrotosTask):
    """The latent-factor CNN (``model.keras``, ``training.json``) and the factors it
    predicts for every song with a spectrogram, cold-start ones included
    (``predicted_factors.h5``).

    Trains on the ``train`` songs of ``SongSplit`` that have factors and stops
    early on the ``valid`` ones; the test songs, which are the cold-start
    songs, are refused (:func:`krotos.splits.check_no_test_tracks`)."""

    version = 2
    resources = {"training": 1}

    #: Output files (``MODEL`` and ``TRAINING`` written by
    #: :func:`krotos.model.finetune.finetune_latents`).
    MODEL = "model.keras"
    TRAINING = "training.json"
    PREDICTED = "predicted_factors.h5"

    tag_model = luigi.Parameter(
        default="", description="start from this tag model (model.keras or TrainTagModel "
                                "folder, e.g. trained on another dataset with the same input "
                                "features) instead of this pipeline's TrainTagModel")
    # Defaults: krotos.model.params.FinetuneParams's (= luigi.cfg's); run() hands
    # the library the object whole.
    objective = luigi.ChoiceParameter(choices=["mse", "wpe"], default=FinetuneParams.objective,
                                      description="mse on unit-normalized factors, or wpe")
    freeze_epochs = luigi.IntParameter(default=FinetuneParams.freeze_epochs,
                                       description="epochs with frozen conv layers")
    epochs = luigi.IntParameter(default=FinetuneParams.epochs, description="maximum epochs")
    batch_size = luigi.IntParameter(default=FinetuneParams.batch_size,
                                    description="windows per step")
    crops_per_track = luigi.IntParameter(default=FinetuneParams.crops_per_track,
                                         description="random windows per song per epoch")
    optimizer = luigi.ChoiceParameter(choices=["adam", "adamw", "sgd", "rmsprop"],
                                      default=FinetuneParams.optimizer, description="optimizer")
    learning_rate = luigi.FloatParameter(default=FinetuneParams.learning_rate,
                                         description="(peak) learning rate")
    schedule = luigi.ChoiceParameter(choices=["constant", "cosine", "exponential"],
                                     default=FinetuneParams.schedule,
                                     description="learning-rate schedule")
    patience = luigi.IntParameter(default=FinetuneParams.patience,
                                  description="epochs without validation gain")
    eval_max_windows = luigi.IntParameter(default=FinetuneParams.eval_max_windows,
                                          description="validation windows per clip; 0 = all")
    seed = luigi.IntParameter(default=FinetuneParams.seed, description="random seed")
    threads = luigi.IntParameter(default=0, significant=False,
                                 description="TensorFlow intra-op threads; 0 = all cores")

    def requires(self):
        r = self.replicate
        return {"tag_model": TrainTagModel(replicate=r),
                "factors": Factorize(include_cold=False, replicate=r),
                "plays": PlayMatrix(replicate=r), "spectrograms": feature_index_task(),
                "split": SongSplit(replicate=r)}

    def signature_params(self):
        params = super().signature_params()
        if self.tag_model:
            # A path says nothing of what is in it: the model's content signs.
            from krotos.model.embed import model_digest

            params["tag_model"] = model_digest(self.tag_model)
        return params

    def finetune_params(self):
        """:class:`krotos.model.params.FinetuneParams` (seed shifted by the replicate number)."""
        names = {name for name, _ in self.get_params()}
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(FinetuneParams)
                  if f.name in names}
        return FinetuneParams(**dict(values, seed=self.replicate_seed(self.seed)))

    def start_model(self):
        """The tag model fine-tuning starts from (``tag_model``, or TrainTagModel's)."""
        from krotos.model.embed import model_file

        if self.tag_model:
            return model_file(self.tag_model)
        return self.requires()["tag_model"].file(TrainTagModel.MODEL)

    def run(self):
        from krotos.model.stages import finetune_stage

        inputs = self.requires()
        with self.staging() as tmp:
            finetune_stage(
                self.start_model(), inputs["spectrograms"].file(ShardIndex.MANIFEST),
                inputs["plays"].file(PlayMatrix.PLAYS), inputs["factors"].file(Factorize.FACTORS),
                inputs["split"].read(), tmp, self.work_dir, os.path.join(tmp, self.PREDICTED),
                params=self.finetune_params(), threads=self.threads, progress=self.progress)


class EvaluateRecommendation(Replicated, KrotosTask):
    """Cold-start ranking metrics of the CNN's factors beside random, linear and
    upper-bound factors, with 95% bootstrap intervals over users and paired
    differences, and example top-10 lists (``metrics.json``). The cold-start
    songs are the test songs of ``SongSplit``; the linear baseline fits the
    same training songs as the CNN."""

    version = 2

    #: Output file.
    METRICS = "metrics.json"

    # Defaults: krotos.coldstart.params.ColdStartParams's (= luigi.cfg's).
    n_example_users = luigi.IntParameter(default=ColdStartParams.n_example_users,
                                         description="users shown with a top-10 list")
    seed = luigi.IntParameter(default=ColdStartParams.seed,
                              description="seed of the random scores and the bootstrap")
    n_resamples = luigi.IntParameter(default=ColdStartParams.n_resamples,
                                     description="bootstrap resamples")

    def requires(self):
        r = self.replicate
        return {"plays": PlayMatrix(replicate=r), "factors": Factorize(include_cold=False, replicate=r),
                "upper": Factorize(include_cold=True, replicate=r),
                "spectrograms": feature_index_task(), "tagdb": TagDatabase(),
                "split": SongSplit(replicate=r), "model": FinetuneModel(replicate=r)}

    def run(self):
        from krotos.coldstart.stage import cold_start_stage
        from krotos.report.summary import format_interval

        inputs = self.requires()
        with self.staging() as tmp:
            summary = cold_start_stage(
                {"plays": inputs["plays"].file(PlayMatrix.PLAYS),
                 "factors": inputs["factors"].file(Factorize.FACTORS),
                 "upper": inputs["upper"].file(Factorize.FACTORS),
                 "predicted": inputs["model"].file(FinetuneModel.PREDICTED),
                 "manifest": inputs["spectrograms"].file(ShardIndex.MANIFEST),
                 "tagdb": inputs["tagdb"].file(TagDatabase.DB)},
                inputs["split"].read(), os.path.join(tmp, self.METRICS),
                ColdStartParams(n_example_users=self.n_example_users,
                                seed=self.replicate_seed(self.seed), n_resamples=self.n_resamples),
                progress=self.progress)
        models = summary["models"]
        self.set_status_message(
            f"cold-start AUC {format_interval(models['cnn']['auc'])} (linear "
            f"{format_interval(models['linear']['auc'])}, upper bound "
            f"{format_interval(models['upper_bound']['auc'])})")
