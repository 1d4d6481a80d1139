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
from pipeline.base import KrotosTask
from pipeline.cf import EvaluateCF, Factorize, PlayMatrix
from pipeline.tagdb import TagDatabase
from pipeline.tags_model import EvaluateTags, TrainTagModel

logger = logging.getLogger("luigi-interface")


def _track_splits(tagdb_path):
    from krotos.tagdb import TagDB

    with TagDB(tagdb_path) as db:
        return {t.track_id: t.split for t in db.tracks()}


class FinetuneLatents(KrotosTask):
    """The latent-factor CNN (``model.keras``, ``training.json``) and the factors it
    predicts for every song with a spectrogram, cold-start ones included
    (``predicted_factors.h5``)."""

    version = 1
    resources = {"training": 1}

    objective = luigi.ChoiceParameter(choices=["mse", "wpe"], default="mse",
                                      description="mse on unit-normalized factors, or wpe")
    freeze_epochs = luigi.IntParameter(default=2, description="epochs with frozen conv layers")
    epochs = luigi.IntParameter(default=30, description="maximum epochs")
    batch_size = luigi.IntParameter(default=32, description="windows per step")
    crops_per_track = luigi.IntParameter(default=2, description="random windows per song per epoch")
    optimizer = luigi.ChoiceParameter(choices=["adam", "adamw", "sgd", "rmsprop"], default="adam",
                                      description="optimizer")
    learning_rate = luigi.FloatParameter(default=5e-4, description="(peak) learning rate")
    schedule = luigi.ChoiceParameter(choices=["constant", "cosine", "exponential"],
                                     default="constant", description="learning-rate schedule")
    patience = luigi.IntParameter(default=5, description="epochs without validation gain")
    eval_max_windows = luigi.IntParameter(default=0, description="validation windows per clip; 0 = all")
    seed = luigi.IntParameter(default=0, description="random seed")
    threads = luigi.IntParameter(default=0, significant=False,
                                 description="TensorFlow intra-op threads; 0 = all cores")

    def requires(self):
        return dict(self._inputs(), tag_metrics=EvaluateTags(), cf_metrics=EvaluateCF())

    def _inputs(self):
        return {"tag_model": TrainTagModel(), "factors": Factorize(include_cold=False),
                "plays": PlayMatrix(), "spectrograms": feature_index_task(),
                "tagdb": TagDatabase()}

    def signature_requires(self):
        # The evaluations are pulled in for the user, not used: their
        # settings must not retrain this model.
        return self._inputs()

    def evaluations(self):
        from pipeline.report import Report

        return [EvaluateRecommendation(), Report()]

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

        configure_threads(self.threads, 2 if self.threads else 0)
        inputs = self._inputs()
        manifest = read_manifest(inputs["spectrograms"].file("manifest.json"))
        shard_paths = [s["path"] for s in manifest["shards"]]
        factorize = inputs["factors"]
        splits, targets, n_factors = latent_training_set(
            inputs["plays"].file("plays.h5"), factorize.file("factors.h5"),
            _track_splits(inputs["tagdb"].file("tags.sqlite")),
            {t for shard in manifest["shards"] for t in shard["track_ids"]},
            objective=self.objective, confidence=factorize.confidence, alpha=factorize.alpha,
            epsilon=factorize.epsilon, regularization=factorize.regularization)
        with self.staging() as tmp:
            finetune_latents(
                inputs["tag_model"].file("model.keras"), shard_paths, splits, targets,
                n_factors, tmp, self.work_dir, objective=self.objective,
                freeze_epochs=self.freeze_epochs, epochs=self.epochs,
                batch_size=self.batch_size, optimizer=self.optimizer,
                learning_rate=self.learning_rate, schedule=self.schedule,
                patience=self.patience, crops_per_track=self.crops_per_track, seed=self.seed,
                eval_max_windows=self.eval_max_windows or None,
                progress=lambda f, m=None: self.progress(0.95 * f, m))
            self.progress(0.96, "predicting factors for every song")
            predict_latents(os.path.join(tmp, "model.keras"), shard_paths,
                            os.path.join(tmp, "predicted_factors.h5"))

    def _announce(self):
        from pipeline.report import Report

        outputs = {
            "tag model metrics": EvaluateTags().file("metrics.json"),
            "collaborative filtering metrics": EvaluateCF().file("metrics.json"),
            "cold-start recommendation metrics": EvaluateRecommendation().file("metrics.json"),
            "report": Report().file(os.path.join("report", "index.html")),
        }
        with open(outputs["cold-start recommendation metrics"]) as f:
            rec = json.load(f)
        with open(outputs["tag model metrics"]) as f:
            tags = json.load(f)
        lines = [
            f"tags: test ROC-AUC {tags['roc_auc_macro']:.3f}, PR-AUC {tags['pr_auc_macro']:.3f}",
            f"cold start: AUC {rec['auc']:.3f} (random {rec['random_auc']:.3f}, linear "
            f"{rec['linear_auc']:.3f}, upper bound {rec['upper_bound_auc']:.3f}); "
            f"MAP@500 {rec['map_at_500']:.4f} (linear {rec['linear_map_at_500']:.4f})",
        ] + [f"{name}: {path}" for name, path in outputs.items()]
        self.set_status_message(lines[1])
        print("\n".join(["", "krotos results:"] + ["  " + line for line in lines]), flush=True)


class EvaluateRecommendation(KrotosTask):
    """Cold-start ranking metrics of the CNN's factors beside random, linear and
    upper-bound factors, and example top-10 lists (``metrics.json``)."""

    version = 1

    n_example_users = luigi.IntParameter(default=5, description="users shown with a top-10 list")
    seed = luigi.IntParameter(default=0, description="seed of the random scores")

    def requires(self):
        return {"plays": PlayMatrix(), "factors": Factorize(include_cold=False),
                "upper": Factorize(include_cold=True), "spectrograms": feature_index_task(),
                "tagdb": TagDatabase()}

    def signature_requires(self):
        return dict(self.requires(), model=FinetuneLatents())

    def run(self):
        from krotos.audio.manifest import read_manifest
        from krotos.coldstart.evaluate import evaluate_cold_start
        from krotos.tagdb import TagDB

        model = FinetuneLatents()
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
                    seed=self.seed, progress=self.progress)
        self.set_status_message(
            f"cold-start AUC {summary['auc']:.3f} (random {summary['random_auc']:.3f}, "
            f"upper bound {summary['upper_bound_auc']:.3f}); relative {summary['relative_auc']:.2f}")
