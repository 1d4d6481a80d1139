"""The main job: ``luigi --module pipeline FinetuneLatents --workers 4``.

``FinetuneLatents`` writes nothing itself. It composes the DAG's ends, the
fine-tuned model (``FinetuneModel``), the three evaluations and the report,
so that one command ends with every number; Luigi runs whatever of them is
missing, and a changed setting reruns only the tasks downstream of it.
"""


import luigi

from pipeline.base import Replicated
from pipeline.cf import EvaluateCF
from pipeline.latents import EvaluateRecommendation, FinetuneModel
from pipeline.report import Report
from pipeline.tags_model import EvaluateTags


class FinetuneLatents(Replicated, luigi.WrapperTask):
    """The fine-tuned model, the tag, CF and cold-start evaluations and the report
    of one replicate; once they are done it prints their headline figures.

    Complete when all of them are. Its settings are those of the tasks it
    composes (``[FinetuneModel]`` for the fine-tuning).
    """

    def requires(self):
        r = self.replicate
        return {"model": FinetuneModel(replicate=r), "tag_metrics": EvaluateTags(replicate=r),
                "cf_metrics": EvaluateCF(replicate=r),
                "cold_metrics": EvaluateRecommendation(replicate=r), "report": Report(replicate=r)}

    def outputs(self):
        """``{name: path}`` of what a user opens after the run."""
        tasks = self.requires()
        return {
            "tag model metrics": tasks["tag_metrics"].file(EvaluateTags.METRICS),
            "collaborative filtering metrics": tasks["cf_metrics"].file(EvaluateCF.METRICS),
            "cold-start recommendation metrics": tasks["cold_metrics"].file(EvaluateRecommendation.METRICS),
            "report": tasks["report"].file(Report.INDEX),
            "model": tasks["model"].output_dir,
        }

    def run(self):
        # Runs only when something was missing, right after it was made: a
        # rerun of a finished configuration prints nothing (like any complete task).
        from krotos.report.summary import results_text

        tasks, outputs = self.requires(), self.outputs()
        status, text = results_text(tasks["tag_metrics"].file(EvaluateTags.METRICS),
                                    tasks["cf_metrics"].file(EvaluateCF.METRICS),
                                    tasks["cold_metrics"].file(EvaluateRecommendation.METRICS),
                                    outputs)
        self.set_status_message(status)
        print(text, flush=True)
