"""The run report: one HTML page with plots, written after the evaluations."""

import os

import luigi

from pipeline.base import KrotosTask, Replicated
from pipeline.cf import EvaluateCF, PlayMatrix
from pipeline.features import ShardIndex, feature_index_task
from pipeline.latents import EvaluateRecommendation, FinetuneModel
from pipeline.tagdb import TagDatabase
from pipeline.tags_model import EvaluateTags, TrainTagModel


def _evaluation_files(features, replicate):
    """Metrics files of the evaluations under another ``[krotos] features`` setting."""
    from pipeline.features import features_setting

    with features_setting(features):
        return {"tag_metrics": EvaluateTags(replicate=replicate).file(EvaluateTags.METRICS),
                "cold_metrics": EvaluateRecommendation(replicate=replicate).file(
                    EvaluateRecommendation.METRICS)}


class Report(Replicated, KrotosTask):
    """``report/index.html`` with its PNG figures: dataset and bad-input counts,
    spectrogram examples, training curves, per-tag AUC, CF and cold-start metrics
    beside their baselines, example recommendations."""

    version = 2

    #: The page, in the ``report`` folder that holds its figures.
    INDEX = os.path.join("report", "index.html")

    n_example_tags = luigi.IntParameter(default=4, description="tags with spectrogram examples")
    examples_per_tag = luigi.IntParameter(default=2, description="spectrogram examples per tag")

    def requires(self):
        r = self.replicate
        return {"tagdb": TagDatabase(), "spectrograms": feature_index_task(),
                "tag_model": TrainTagModel(replicate=r), "tag_metrics": EvaluateTags(replicate=r),
                "plays": PlayMatrix(replicate=r), "cf_metrics": EvaluateCF(replicate=r),
                "cold_metrics": EvaluateRecommendation(replicate=r),
                "model": FinetuneModel(replicate=r)}

    def variants(self):
        """``{features setting: {"tag_metrics", "cold_metrics": path}}`` of every feature kind:
        this run's evaluations, and where the other settings' would be."""
        from pipeline.config import krotos
        from pipeline.features import feature_kinds

        inputs, current = self.requires(), krotos().features
        files = {kind: _evaluation_files(kind, self.replicate)
                 for kind in feature_kinds() if kind != current}
        files[current] = {"tag_metrics": inputs["tag_metrics"].file(EvaluateTags.METRICS),
                          "cold_metrics": inputs["cold_metrics"].file(EvaluateRecommendation.METRICS)}
        return files

    def run(self):
        from krotos.report.stage import report_stage
        from pipeline.config import krotos

        inputs = self.requires()
        with self.staging() as tmp:
            report_stage(
                os.path.dirname(os.path.join(tmp, self.INDEX)),
                {"manifest": inputs["spectrograms"].file(ShardIndex.MANIFEST),
                 "tagdb": inputs["tagdb"].file(TagDatabase.DB),
                 "tagdb_summary": inputs["tagdb"].file(TagDatabase.SUMMARY),
                 "plays_summary": inputs["plays"].file(PlayMatrix.SUMMARY),
                 "tag_training": inputs["tag_model"].file(TrainTagModel.TRAINING),
                 "tag_metrics": inputs["tag_metrics"].file(EvaluateTags.METRICS),
                 "latent_training": inputs["model"].file(FinetuneModel.TRAINING),
                 "cf_metrics": inputs["cf_metrics"].file(EvaluateCF.METRICS),
                 "cold_metrics": inputs["cold_metrics"].file(EvaluateRecommendation.METRICS)},
                self.variants(), krotos().features, n_example_tags=self.n_example_tags,
                examples_per_tag=self.examples_per_tag)
