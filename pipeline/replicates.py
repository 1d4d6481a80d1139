"""Replicates: the model stages under several seeds, and the table of their figures."""

import json
import os

import luigi
from luigi.task import flatten

from pipeline.base import KrotosTask
from pipeline.cf import EvaluateCF
from pipeline.latents import EvaluateRecommendation
from pipeline.main import FinetuneLatents
from pipeline.tags_model import DemoTagCeiling, EvaluateTags


def _demo():
    from pipeline.dataset import dataset_task
    from pipeline.demo import DemoDataset

    return isinstance(dataset_task(), DemoDataset)


def replicate_run(replicate):
    """What :func:`krotos.replicates.collect_replicates` needs of one replicate.

    The metrics files of its three evaluations (and, on the demo, of its tag
    ceiling) and, when one is missing, the first failure recorded by a task
    of the replicate (see ``KrotosTask.on_failure``).
    """
    files = {"tags": EvaluateTags(replicate=replicate).file(EvaluateTags.METRICS),
             "cf": EvaluateCF(replicate=replicate).file(EvaluateCF.METRICS),
             "cold": EvaluateRecommendation(replicate=replicate).file(EvaluateRecommendation.METRICS)}
    if _demo():
        files["ceiling"] = DemoTagCeiling(replicate=replicate).file(DemoTagCeiling.METRICS)
    run = {"replicate": replicate, "files": files}
    if not all(os.path.isfile(p) for p in files.values()):
        run["failure"] = _recorded_failure(FinetuneLatents(replicate=replicate))
    return run


def _recorded_failure(root):
    seen, todo = set(), [root]
    while todo:
        task = todo.pop()
        if task.task_id in seen:
            continue
        seen.add(task.task_id)
        record = getattr(task, "failure_record", None)
        if record and os.path.isfile(record):
            with open(record) as f:
                failure = json.load(f)
            return f"{failure['task_id']}: {failure['error']}"
        todo.extend(flatten(task.requires()))
    return None


class Replicates(KrotosTask):
    """Every model stage under ``seeds`` seeds, each its own signature
    (``--workers N`` runs them in parallel; a rerun reuses them), and the table
    of their figures: ``replicates.json`` (each replicate's metrics with their
    intervals, mean ± sd over seeds, the machine), ``replicates.md`` and
    ``replicates.png``. ``krotos results --markdown`` prints the table.

    Replicate 0 is the plain run; replicate ``r`` shifts every seed by ``r``,
    including the song split's, so each draws its own test songs.
    """

    version = 1

    #: Output files.
    TABLE_JSON = "replicates.json"
    TABLE_MD = "replicates.md"
    PLOT = "replicates.png"

    seeds = luigi.IntParameter(default=5, description="number of replicates (seeds 0..seeds-1)")

    def requires(self):
        runs = [FinetuneLatents(replicate=r) for r in range(self.seeds)]
        if _demo():
            runs += [DemoTagCeiling(replicate=r) for r in range(self.seeds)]
        return runs

    def signature_requires(self):
        # A main task writes nothing and has no signature: the tasks it composes sign.
        return [run.requires() if isinstance(run, FinetuneLatents) else run
                for run in self.requires()]

    def run(self):
        from krotos.replicates import write_replicate_table

        runs = [replicate_run(r) for r in range(self.seeds)]
        with self.staging() as tmp:
            result = write_replicate_table(runs, {"json": os.path.join(tmp, self.TABLE_JSON),
                                                  "md": os.path.join(tmp, self.TABLE_MD),
                                                  "png": os.path.join(tmp, self.PLOT)})
        cold = result["summary"]["cold start: CNN AUC"]
        self.set_status_message(f"cold-start CNN AUC {cold['mean']:.3f} over {cold['n']} seeds")
