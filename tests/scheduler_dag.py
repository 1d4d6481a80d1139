"""Tasks and a run log for the tests that drive the real ``luigi`` command.

Imported by ``luigi --module scheduler_dag`` in a subprocess (tests/ is put on
PYTHONPATH). It adds no krotos task: it registers the real ones, adds a task
that fails on purpose, and an event handler that appends one line per task
start and success to ``$KROTOS_RUN_LOG``; that file is how the tests count
how often each task really ran, and in which ``luigi`` process
(``$KROTOS_RUN_TAG``).
"""

import os
import time

import luigi

import pipeline  # noqa: F401 - registers the krotos tasks
from pipeline.base import KrotosTask
from pipeline.tagdb import TagDatabase


def _log_event(event, task):
    path = os.environ.get("KROTOS_RUN_LOG")
    if not path:
        return
    line = f"{os.environ.get('KROTOS_RUN_TAG', '-')}\t{os.getpid()}\t{event}\t{task.task_id}\n"
    # One write with O_APPEND: lines from concurrent processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


SHARD_FAMILIES = ("FetchPreviews", "Spectrograms")


def _wait_for_another_process(task):
    """With ``$KROTOS_RUN_BARRIER`` set, hold this process's first shard until
    another process has started a shard too (or 120 s pass).

    Without it, whether a second ``luigi`` process gets a share of a short run
    depends on how fast the first one starts: on a quick machine the first can
    run every shard before the second has imported TensorFlow. Holding one shard
    keeps the others pending in the scheduler, so the test sees whether the
    second process is offered them, which is what it is about.
    """
    path = os.environ.get("KROTOS_RUN_LOG")
    if not (path and os.environ.get("KROTOS_RUN_BARRIER")
            and task.task_family in SHARD_FAMILIES):
        return
    me = os.environ.get("KROTOS_RUN_TAG", "-")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(path) as log:
            tags = {tag for tag, _pid, event, task_id in
                    (line.rstrip("\n").split("\t") for line in log)
                    if event == "START" and task_id.split("_", 1)[0] in SHARD_FAMILIES}
        if tags - {me}:
            return
        time.sleep(0.1)


@luigi.Task.event_handler(luigi.Event.START)
def _started(task):
    _log_event("START", task)
    _wait_for_another_process(task)


@luigi.Task.event_handler(luigi.Event.SUCCESS)
def _succeeded(task):
    _log_event("SUCCESS", task)


class BrokenInput(KrotosTask):
    """Fails the way a task meeting unusable input must: with a reason."""

    def requires(self):
        return TagDatabase()

    def run(self):
        with self.staging():
            raise ValueError("tags.sqlite: no track has a preview (row 1)")
