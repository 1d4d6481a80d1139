"""From tags to taste: fine-tune the tag CNN on ALS factors, then evaluate cold start.

``FinetuneLatents`` is the main job. Besides its own inputs it pulls in the
tag and CF evaluations, and once its model exists it runs
``EvaluateRecommendation`` (a dynamic dependency), so that
``luigi --module pipeline FinetuneLatents`` ends with every number. It counts
as complete only when its model *and* that evaluation exist.
``EvaluateRecommendation`` reads the model's predictions without listing
``FinetuneLatents`` in ``requires()`` (that would be a cycle); the model's
signature still enters its own through ``signature_requires()``.
"""

import json
import logging
import os

import luigi

from pipeline.echonest import feature_index_task
from pipeline.base import KrotosTask, Replicated
from pipeline.cf import EvaluateCF, Factorize, PlayMatrix
from pipeline.split import SongSplit
from pipeline.tagdb import TagDatabase
from pipeline.tags_model import EvaluateTags, TrainTagModel

logger = logging.getLogger("luigi-interface")


def _interval(entry):
    return f"{entry['value']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


class FinetuneLatents(Replicated, KrotosTask):
    """The latent-factor CNN (``model.keras``, ``training.json``) and the factors it
    predicts for every song with a spectrogram, cold-start ones included
    (``predicted_factors.h5``).

    Trains on the ``train`` songs of ``SongSplit`` that have factors and stops
    early on the ``valid`` ones; the test songs, which are the cold-start
    songs, are refused (:func:`krotos.splits.check_no_test_tracks`)."""

    version = 2
    resources = {"training": 1}

    tag_model = luigi.Parameter(
        default="", description="start from this tag model (model.keras or TrainTagModel "
                                "folder, e.g. trained on another dataset with the same input "
                                "features) instead of this pipeline's TrainTagModel")
    objective = luigi.ChoiceParameter(choices=["mse", "wpe"], default="mse",
                                      description="mse on unit-normalized factors, or wpe")
    freeze_epochs = luigi.IntParameter(default=2, description="epochs with frozen conv layers")
    epochs = luigi.IntParameter(default=100, description="maximum epochs")
    batch_size = luigi.IntParameter(default=32, description="windows per step")
    crops_per_track = luigi.IntParameter(default=4, description="random windows per song per epoch")
    optimizer = luigi.ChoiceParameter(choices=["adam", "adamw", "sgd", "rmsprop"], default="adam",
                                      description="optimizer")
    learning_rate = luigi.FloatParameter(default=3e-3, description="(peak) learning rate")
    schedule = luigi.ChoiceParameter(choices=["constant", "cosine", "exponential"],
                                     default="constant", description="learning-rate schedule")
    patience = luigi.IntParameter(default=10, description="epochs without validation gain")
    eval_max_windows = luigi.IntParameter(default=0, description="validation windows per clip; 0 = all")
    seed = luigi.IntParameter(default=0, description="random seed")
    threads = luigi.IntParameter(default=0, significant=False,
                                 description="TensorFlow intra-op threads; 0 = all cores")

    def requires(self):
        r = self.replicate
        return dict(self._inputs(), tag_metrics=EvaluateTags(replicate=r),
                    cf_metrics=EvaluateCF(replicate=r))

    def _inputs(self):
        r = self.replicate
        return {"tag_model": TrainTagModel(replicate=r),
                "factors": Factorize(include_cold=False, replicate=r),
                "plays": PlayMatrix(replicate=r), "spectrograms": feature_index_task(),
                "split": SongSplit(replicate=r)}

    def signature_requires(self):
        # The evaluations are pulled in for the user, not used: their
        # settings must not retrain this model.
        return self._inputs()

    def signature_params(self):
        params = super().signature_params()
        if self.tag_model:
            # A path says nothing of what is in it: the model's content signs.
            from krotos.model.embed import model_digest

            params["tag_model"] = model_digest(self.tag_model)
        return params

    def start_model(self):
        """The tag model fine-tuning starts from (``tag_model``, or TrainTagModel's)."""
        from krotos.model.embed import model_file

        if self.tag_model:
            return model_file(self.tag_model)
        return self._inputs()["tag_model"].file("model.keras")

    def evaluations(self):
        from pipeline.report import Report

        return [EvaluateRecommendation(replicate=self.replicate), Report(replicate=self.replicate)]

    def complete(self):
        return super().complete() and all(t.complete() for t in self.evaluations())

    def run(self):
        if not os.path.isdir(self.output_dir):
            self._train()
        yield self.evaluations()
        self._announce()

    def _train(self):
        from krotos.audio.manifest import read_manifest
        from krotos.model.finetune import finetune_latents, latent_training_set, predict_latents
        from krotos.model.train import configure_threads
        from krotos.splits import check_no_test_tracks

        configure_threads(self.threads, 2 if self.threads else 0)
        inputs = self._inputs()
        manifest = read_manifest(inputs["spectrograms"].file("manifest.json"))
        shard_paths = [s["path"] for s in manifest["shards"]]
        song_split = inputs["split"].read()
        splits, targets, n_factors = latent_training_set(
            inputs["plays"].file("plays.h5"), inputs["factors"].file("factors.h5"),
            song_split.split_of(), {t for shard in manifest["shards"] for t in shard["track_ids"]},
            objective=self.objective)
        check_no_test_tracks(song_split, splits["train"] + splits["valid"],
                             "latent-factor fine-tuning")
        with self.staging() as tmp:
            finetune_latents(
                self.start_model(), shard_paths, splits, targets,
                n_factors, tmp, self.work_dir, objective=self.objective,
                freeze_epochs=self.freeze_epochs, epochs=self.epochs,
                batch_size=self.batch_size, optimizer=self.optimizer,
                learning_rate=self.learning_rate, schedule=self.schedule,
                patience=self.patience, crops_per_track=self.crops_per_track,
                seed=self.replicate_seed(self.seed),
                eval_max_windows=self.eval_max_windows or None, features=manifest["params"],
                progress=lambda f, m=None: self.progress(0.95 * f, m))
            self.progress(0.96, "predicting factors for every song")
            predict_latents(os.path.join(tmp, "model.keras"), shard_paths,
                            os.path.join(tmp, "predicted_factors.h5"))

    def _announce(self):
        from pipeline.report import Report

        r = self.replicate
        outputs = {
            "tag model metrics": EvaluateTags(replicate=r).file("metrics.json"),
            "collaborative filtering metrics": EvaluateCF(replicate=r).file("metrics.json"),
            "cold-start recommendation metrics":
                EvaluateRecommendation(replicate=r).file("metrics.json"),
            "report": Report(replicate=r).file(os.path.join("report", "index.html")),
        }
        metrics = {}
        for key, name in (("tags", "tag model metrics"), ("cf", "collaborative filtering metrics"),
                          ("cold", "cold-start recommendation metrics")):
            with open(outputs[name]) as f:
                metrics[key] = json.load(f)
        tags, cf, cold = (metrics[k]["models"] for k in ("tags", "cf", "cold"))
        paired = metrics["cold"]["paired"]
        lines = [
            "95% bootstrap intervals in brackets",
            f"tags (test songs): ROC-AUC CNN {_interval(tags['cnn']['roc_auc_macro'])}, "
            f"bag of frames {_interval(tags['bag_of_frames']['roc_auc_macro'])}",
            f"collaborative filtering (test plays): MAP@500 ALS {_interval(cf['als']['map_at_500'])}, "
            f"popularity {_interval(cf['popularity']['map_at_500'])}",
            f"cold start ({metrics['cold']['n_cold_songs_evaluated']} test songs): AUC CNN "
            f"{_interval(cold['cnn']['auc'])}, linear {_interval(cold['linear']['auc'])}, "
            f"random {_interval(cold['random']['auc'])}, "
            f"upper bound {_interval(cold['upper_bound']['auc'])}",
            f"cold start MAP@500: CNN {_interval(cold['cnn']['map_at_500'])}, linear "
            f"{_interval(cold['linear']['map_at_500'])}; CNN - linear "
            f"{_interval(paired['cnn_minus_linear']['map_at_500'])}",
        ] + [f"warning: {w}" for k in ("tags", "cf", "cold") for w in metrics[k].get("warnings", [])]
        lines += [f"{name}: {path}" for name, path in outputs.items()]
        self.set_status_message(lines[3])
        print("\n".join(["", "krotos results:"] + ["  " + line for line in lines]), flush=True)


class EvaluateRecommendation(Replicated, KrotosTask):
    """Cold-start ranking metrics of the CNN's factors beside random, linear and
    upper-bound factors, with 95% bootstrap intervals over users and paired
    differences, and example top-10 lists (``metrics.json``). The cold-start
    songs are the test songs of ``SongSplit``; the linear baseline fits the
    same training songs as the CNN."""

    version = 2

    n_example_users = luigi.IntParameter(default=5, description="users shown with a top-10 list")
    seed = luigi.IntParameter(default=0, description="seed of the random scores and the bootstrap")
    n_resamples = luigi.IntParameter(default=1000, description="bootstrap resamples")

    def requires(self):
        r = self.replicate
        return {"plays": PlayMatrix(replicate=r), "factors": Factorize(include_cold=False, replicate=r),
                "upper": Factorize(include_cold=True, replicate=r),
                "spectrograms": feature_index_task(), "tagdb": TagDatabase(),
                "split": SongSplit(replicate=r)}

    def signature_requires(self):
        return dict(self.requires(), model=FinetuneLatents(replicate=self.replicate))

    def run(self):
        from krotos.audio.manifest import read_manifest
        from krotos.coldstart.evaluate import evaluate_cold_start
        from krotos.tagdb import TagDB

        model = FinetuneLatents(replicate=self.replicate)
        if not os.path.isdir(model.output_dir):
            raise RuntimeError("the fine-tuned model does not exist yet: run FinetuneLatents, "
                               "which runs this evaluation once its model is trained")
        inputs = self.requires()
        manifest = read_manifest(inputs["spectrograms"].file("manifest.json"))
        with TagDB(inputs["tagdb"].file("tags.sqlite")) as db:
            vocabulary = db.vocabulary()

            def track_tags(track_ids):
                matrix = db.tag_matrix(list(track_ids))
                return [[vocabulary[j] for j in row.nonzero()[0]] for row in matrix]

            with self.staging() as tmp:
                summary = evaluate_cold_start(
                    inputs["plays"].file("plays.h5"), inputs["factors"].file("factors.h5"),
                    inputs["upper"].file("factors.h5"), model.file("predicted_factors.h5"),
                    [s["path"] for s in manifest["shards"]], os.path.join(tmp, "metrics.json"),
                    track_tags=track_tags, n_example_users=self.n_example_users,
                    fit_tracks=set(inputs["split"].read().tracks("train")),
                    seed=self.replicate_seed(self.seed), n_resamples=self.n_resamples,
                    progress=self.progress)
        models = summary["models"]
        self.set_status_message(
            f"cold-start AUC {_interval(models['cnn']['auc'])} (linear "
            f"{_interval(models['linear']['auc'])}, upper bound "
            f"{_interval(models['upper_bound']['auc'])})")
