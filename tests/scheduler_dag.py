"""Tasks and a run log for the tests that drive the real ``luigi`` command.

Imported by ``luigi --module scheduler_dag`` in a subprocess (tests/ is put on
PYTHONPATH). It adds no krotos task: it registers the real ones, adds a task
that fails on purpose, and an event handler that appends one line per task
start and success to ``$KROTOS_RUN_LOG``; that file is how the tests count
how often each task really ran, and in which ``luigi`` process
(``$KROTOS_RUN_TAG``).
"""

import os

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


@luigi.Task.event_handler(luigi.Event.START)
def _started(task):
    _log_event("START", task)


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
