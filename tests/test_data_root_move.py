"""A data root is a folder that can move: to another path, a backup, another machine's mount.

No output stores an absolute path into it, so a moved root is the same
data: a rerun there does no work, and the ``krotos`` command reads its
model from there. A root moved while a run is in progress stops that run
with a clear error; it is never recreated empty (which would look like a
first run and silently recompute everything).
"""

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import luigi
import pytest

from conftest import REPO, TINY, run_tasks

# Runs the whole tiny DAG, then moves its data root.
pytestmark = pytest.mark.slow

_FAILURES = []


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _record_failure(task, exception):
    _FAILURES.append((task.get_task_family(), exception))


@pytest.fixture(scope="module")
def moved_root(tmp_path_factory):
    """The tiny DAG run by the real ``luigi`` command, then its data root moved away.

    Returns ``(old path, new path)``.
    """
    pytest.importorskip("tensorflow")
    folder = tmp_path_factory.mktemp("relocation")
    old = folder / "data"
    args = [f"--{section}-{key.replace('_', '-')}={value}"
            for section, values in TINY.items() for key, value in values.items()]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("LUIGI_CONFIG_PATH", None)
    done = subprocess.run(
        [sys.executable, "-m", "luigi", "--module", "pipeline", "FinetuneLatents",
         "--local-scheduler", "--no-lock", "--krotos-data-root", str(old), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    moved = folder / "restored from backup" / "krotos-data"
    moved.parent.mkdir()
    os.rename(old, moved)
    return old, moved


@pytest.fixture
def at_moved_root(moved_root, tiny_dag, luigi_config):
    luigi_config.set("krotos", "data_root", str(moved_root[1]))
    return moved_root[1]


def test_moved_data_root_needs_no_work_and_serves_the_model(at_moved_root, capsys):
    from krotos.cli import main
    from pipeline import FinetuneLatents, FinetuneModel

    ok, ran = run_tasks([FinetuneLatents()])
    assert ok and ran == []

    capsys.readouterr()
    preview = sorted(glob.glob(str(at_moved_root / "DemoDataset" / "*" / "previews" / "*.mp3")))[0]
    assert main(["predict", preview, "--top", "2", "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out.splitlines()[0])
    assert predicted["file"] == preview and len(predicted["tags"]) == 2
    assert main(["similar", preview, "--top", "3", "--json"]) == 0
    similar = json.loads(capsys.readouterr().out)["similar"]
    assert len(similar) == 3
    assert main(["predict", "--model", FinetuneModel().output_dir, preview]) == 0


def test_no_output_records_an_absolute_path_into_the_data_root(moved_root):
    old, moved = moved_root
    holding_old_path = sorted(str(p.relative_to(moved)) for p in moved.rglob("*")
                              if p.is_file() and str(old).encode() in p.read_bytes())
    assert holding_old_path == [], "outputs that record an absolute path into the data root"


def test_data_root_moved_during_a_run_is_a_clear_error(tiny_demo, luigi_config, tmp_path):
    from krotos.config import DataRootMoved
    from pipeline.base import KrotosTask
    from pipeline.tagdb import TagDatabase

    luigi_config.set("Spectrograms", "min_seconds", 2.0)  # tiny demo clips last 4 s
    root = Path(tiny_demo)
    moved = tmp_path / "moved"
    marker = tmp_path / "root-was-moved"

    class SomeoneMovesTheRoot(luigi.Task):
        """What an administrator's ``mv`` does halfway through a run."""

        def requires(self):
            return TagDatabase()

        def output(self):
            return luigi.LocalTarget(str(marker))

        def run(self):
            os.rename(root, moved)
            marker.write_text("")

    class NextStage(KrotosTask):
        def requires(self):
            return SomeoneMovesTheRoot()

        def signature_requires(self):
            return TagDatabase()

        def run(self):
            with self.staging() as tmp:
                Path(tmp, "result.txt").write_text("done")

    del _FAILURES[:]
    ok, ran = run_tasks([NextStage()])
    assert not ok
    assert [t.split("_", 1)[0] for t in ran] == ["DemoDataset", "TagDatabase",
                                                 "SomeoneMovesTheRoot"]
    (family, error), = _FAILURES
    assert family == "NextStage" and isinstance(error, DataRootMoved)
    assert f"data_root = {root} is gone" in str(error) and "--krotos-data-root" in str(error)
    assert not root.exists()  # not recreated empty
    assert not list(moved.glob("NextStage/*"))

    # Pointed at its new place, the run goes on: nothing finished is redone.
    luigi_config.set("krotos", "data_root", str(moved))
    ok, ran = run_tasks([NextStage()])
    assert ok and [t.split("_", 1)[0] for t in ran] == ["NextStage"]
