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

    def run(self):
        from krotos.shards.manifest import read_manifest
        from krotos.report import build_report
        from krotos.report.examples import spectrogram_examples
        from krotos.tagdb import TagDB

        inputs = self.requires()
        manifest_path = inputs["spectrograms"].file(ShardIndex.MANIFEST)
        manifest = read_manifest(manifest_path)
        params = manifest.get("params", {})
        frame_rate = None
        if params.get("sample_rate") and params.get("hop_length"):
            frame_rate = float(params["sample_rate"]) / float(params["hop_length"])
        elif params.get("frame_rate"):
            frame_rate = float(params["frame_rate"])
        with TagDB(inputs["tagdb"].file(TagDatabase.DB)) as db:
            examples = spectrogram_examples(
                [s["path"] for s in manifest["shards"]], db.tag_matrix, db.vocabulary(),
                n_tags=self.n_example_tags, per_tag=self.examples_per_tag)
        from pipeline.config import krotos

        current = krotos().features
        variants = {current: {"tag_metrics": inputs["tag_metrics"].file(EvaluateTags.METRICS),
                              "cold_metrics": inputs["cold_metrics"].file(
                                  EvaluateRecommendation.METRICS)}}
        for other in {"mel", "echonest"} - {current}:
            files = _evaluation_files(other, self.replicate)
            if os.path.exists(files["tag_metrics"]) or os.path.exists(files["cold_metrics"]):
                variants[other] = files
        summaries = {"TagDatabase": inputs["tagdb"].file(TagDatabase.SUMMARY),
                     "PlayMatrix": inputs["plays"].file(PlayMatrix.SUMMARY)}
        with self.staging() as tmp:
            folder = os.path.dirname(os.path.join(tmp, self.INDEX))
            os.makedirs(folder)
            build_report(
                folder, summaries=summaries, manifest=manifest_path,
                spectrogram_examples=examples, frame_rate=frame_rate,
                tag_training=inputs["tag_model"].file(TrainTagModel.TRAINING),
                tag_metrics=inputs["tag_metrics"].file(EvaluateTags.METRICS),
                latent_training=inputs["model"].file(FinetuneModel.TRAINING),
                cf_metrics=inputs["cf_metrics"].file(EvaluateCF.METRICS),
                cold_metrics=inputs["cold_metrics"].file(EvaluateRecommendation.METRICS),
                variants=variants if len(variants) > 1 else None)
