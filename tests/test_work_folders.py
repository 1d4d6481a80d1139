"""A task's resumable work folder belongs to the process using it.

Two ``--local-scheduler`` runs on one data root can both want the same task
(e.g. the same ``TrainTagModel`` under different downstream settings). The
second is told which process runs it and never writes into the same folder;
a finishing run never deletes a folder another process holds; the folder of
a killed process is taken over by the next run.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, run_tasks
from krotos.staging import WorkFolderBusy, lock_work_folder
from pipeline.base import KrotosTask

HOLD = textwrap.dedent("""
    import sys, time
    from krotos.staging import lock_work_folder
    lock = lock_work_folder(sys.argv[1])
    open(sys.argv[1] + "/holder-was-here", "w").close()
    print("locked", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def holder():
    """``holder(path)`` starts a process that locks the work folder ``path``; killed after."""
    started = []

    def start(path):
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=str(REPO)))
        started.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


class Trainer(KrotosTask):
    """Writes a checkpoint into its work folder, then its output."""

    def run(self):
        with open(os.path.join(self.work_dir, "checkpoint"), "w") as f:
            f.write(str(os.getpid()))
        with self.staging() as tmp:
            open(os.path.join(tmp, "model"), "w").close()


def test_second_process_is_told_who_holds_the_folder_and_a_dead_ones_is_taken_over(
        tmp_path, holder):
    work = tmp_path / "TrainTagModel" / "abc123.work"
    proc = holder(work)
    with pytest.raises(WorkFolderBusy, match=rf"abc123\.work: already running in pid {proc.pid}"):
        lock_work_folder(str(work))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lock = lock_work_folder(str(work))
    try:
        assert lock.taken_over == f"{os.uname().nodename} {proc.pid}"
        assert (work / "holder-was-here").exists()  # resumable: the folder is kept
        # This process holds it now: a second lock, even from here, is refused.
        with pytest.raises(WorkFolderBusy, match=f"pid {os.getpid()}"):
            lock_work_folder(str(work))
    finally:
        lock.release()
    lock_work_folder(str(work)).release()


def test_a_task_whose_work_folder_is_held_fails_without_touching_it(data_root, holder):
    task = Trainer()
    work = task.output_dir + ".work"
    proc = holder(work)
    ok, _ = run_tasks([task])
    assert not ok and not task.complete()
    with open(task.failure_record) as f:
        assert f"already running in pid {proc.pid}" in f.read()
    assert sorted(os.listdir(work)) == [".owner", "holder-was-here"]
    proc.kill()
    proc.wait()
    ok, _ = run_tasks([Trainer()])
    assert ok and task.complete()
    assert not os.path.exists(work)


def test_a_finishing_run_leaves_a_work_folder_another_process_holds(data_root, holder):
    class Quick(KrotosTask):
        def run(self):
            with self.staging() as tmp:
                open(os.path.join(tmp, "done"), "w").close()

    task = Quick()
    work = task.output_dir + ".work"
    holder(work)
    ok, _ = run_tasks([task])
    assert ok and task.complete()
    assert os.path.exists(os.path.join(work, "holder-was-here"))


def test_a_released_folder_names_no_owner(tmp_path):
    from krotos.staging import in_progress

    work = tmp_path / "Task" / "abc.work"
    lock = lock_work_folder(str(work))
    assert in_progress(str(work))
    lock.release()
    assert not in_progress(str(work))
    again = lock_work_folder(str(work))
    assert again.taken_over is None
    again.release()
