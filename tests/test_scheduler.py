"""The pipeline under a real central scheduler (``luigid``), as the README tells users to run it.

Each test starts its own scheduler (``python -m krotos.scheduler``, i.e.
``luigid`` with task history in SQLite) on a free loopback port and drives the
real ``luigi`` command in subprocesses, on the tiny demo dataset.
"""

import hashlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

# Whole-DAG runs through real luigid and luigi processes: a minute or more.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

# The smallest demo the pipeline accepts (krotos.demo.checks): 30 songs, 50 users,
# clips as long as the 3 s training window; 6 shards of 5 tracks.
TINY = ["--DemoDataset-n-songs", "30", "--DemoDataset-n-users", "50",
        "--DemoDataset-clip-seconds", "3", "--DemoDataset-processes", "1",
        "--Spectrograms-min-seconds", "1"]
# Poll the scheduler often, so that a second process joins a run this short.
POLL = ["--worker-wait-interval", "0.2", "--worker-wait-jitter", "0.2"]
AUDIO_FAMILIES = {"DemoDataset", "TagDatabase", "FetchPreviews", "Spectrograms",
                  "SpectrogramIndex"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS)]))
    for key in ("LUIGI_CONFIG_PATH", "KROTOS_RUN_LOG", "KROTOS_RUN_TAG", "KROTOS_RUN_BARRIER"):
        env.pop(key, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Luigid:
    """A running central scheduler and its JSON API."""

    def __init__(self, folder):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.history = folder / "history.sqlite"
        (folder / "log").mkdir(parents=True)
        config = folder / "luigid.cfg"
        config.write_text(
            "[scheduler]\nrecord_task_history = true\n"
            f"[task_history]\ndb_connection = sqlite:///{self.history}\n")
        self.output = open(folder / "luigid.out", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "krotos.scheduler", "--port", str(self.port),
             "--address", "127.0.0.1", "--logdir", str(folder / "log"),
             "--state-path", str(folder / "state.pickle")],
            cwd=REPO, env=_env(LUIGI_CONFIG_PATH=config),
            stdout=self.output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.api("task_list")
                return
            except OSError as err:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("luigid did not start: "
                                       + (folder / "luigid.out").read_text()) from err
                time.sleep(0.1)

    def api(self, method, **data):
        query = urllib.parse.urlencode({"data": json.dumps(data)})
        with urllib.request.urlopen(f"{self.url}/api/{method}?{query}", timeout=10) as r:
            return json.load(r)["response"]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.output.close()


@pytest.fixture
def luigid(tmp_path):
    server = Luigid(tmp_path / "luigid")
    yield server
    server.stop()


def start_luigi(args, log=None, tag="-", **env):
    """Start ``luigi ARGS`` in the repository root (so luigi.cfg applies)."""
    extra = dict(env)
    if log is not None:
        extra.update(KROTOS_RUN_LOG=log, KROTOS_RUN_TAG=tag)
    return subprocess.Popen([sys.executable, "-m", "luigi", *args], cwd=REPO,
                            env=_env(**extra), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(process, timeout=180):
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def run_log(path):
    """``[(tag, event, task_id)]`` written by tests/scheduler_dag.py's event handlers."""
    if not Path(path).exists():
        return []
    lines = Path(path).read_text().splitlines()
    return [(tag, event, task_id) for tag, _pid, event, task_id in
            (line.split("\t") for line in lines)]


def family(task_id):
    return task_id.split("_", 1)[0]


@pytest.fixture(scope="module")
def single_run(tmp_path_factory):
    """The tiny audio DAG, run once by one ``luigi`` process against a fresh luigid."""
    folder = tmp_path_factory.mktemp("single")
    server = Luigid(folder / "luigid")
    data = folder / "data"
    try:
        code, out = finish(start_luigi(
            ["--module", "pipeline.audio", "SpectrogramIndex", "--workers", "2",
             "--scheduler-host", "127.0.0.1", "--scheduler-port", str(server.port),
             "--SpectrogramIndex-shard-size", "5", "--krotos-data-root", str(data), *TINY]))
        yield server, data, code, out
    finally:
        server.stop()


def test_tasks_and_progress_appear_in_the_scheduler(single_run):
    luigid, data, code, out = single_run
    assert code == 0, out

    done = luigid.api("task_list", status="DONE")
    assert {t["name"] for t in done.values()} == AUDIO_FAMILIES, sorted(done)
    assert Counter(t["name"] for t in done.values())["Spectrograms"] == 6
    for task_id, task in done.items():
        # What the web UI shows beside each task: how far it got, and a status line.
        assert task["progress_percentage"] == 100, (task_id, task["progress_percentage"])
        assert task["status_message"], f"{task_id} reported no status message"
    assert luigid.api("task_list", status="FAILED") == {}

    # Task history (README: [scheduler] record_task_history) recorded every run.
    with sqlite3.connect(luigid.history) as db:
        events = db.execute("SELECT t.task_id, e.event_name FROM tasks t "
                            "JOIN task_events e ON e.task_id = t.id").fetchall()
    for task_id in done:
        assert (task_id, "RUNNING") in events and (task_id, "DONE") in events, task_id
    with urllib.request.urlopen(f"{luigid.url}/history", timeout=10) as page:
        assert page.status == 200


def tree_digest(root):
    """``{relative path: digest}`` of every file under ``root``, by content.

    Paths to the data root and wall-clock timings (``"seconds": ...``) inside
    text are blanked; HDF5 files are compared by their datasets and
    attributes, SQLite files by their (sorted) dump.
    """
    import h5py
    import numpy as np

    def normal(text):
        text = text.replace(str(root), "<ROOT>")
        return re.sub(r'"seconds": [-+0-9.eE]+', '"seconds": <T>', text)

    digests = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_dir():
            continue
        h = hashlib.sha256()
        if path.suffix == ".h5":
            with h5py.File(path, "r") as f:
                def visit(name, obj, h=h):
                    h.update(name.encode())
                    for key in sorted(obj.attrs):
                        h.update(key.encode() + repr(np.asarray(obj.attrs[key]).tolist()).encode())
                    if isinstance(obj, h5py.Dataset):
                        h.update(repr(obj[()].tolist()).encode())
                f.visititems(visit)
        elif path.suffix in (".sqlite", ".db"):
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                for line in sorted(db.iterdump()):
                    h.update(normal(line).encode())
        elif path.suffix in (".json", ".txt"):
            h.update(normal(path.read_text()).encode())
        else:
            h.update(path.read_bytes())
        digests[str(path.relative_to(root))] = h.hexdigest()
    return digests


def test_two_machines_both_run_shards_on_the_first_run(luigid, single_run, tmp_path):
    """Two ``luigi`` processes started together on a fresh data root (as two
    machines would be) both take shard tasks, each shard runs once, and the
    outputs are those of one process alone."""
    data = tmp_path / "data"
    log = tmp_path / "runs.log"
    args = ["--module", "scheduler_dag", "SpectrogramIndex", "--SpectrogramIndex-shard-size", "5",
            # One worker each, so that neither can take every ready shard at once.
            "--workers", "1",
            # --no-lock: Luigi refuses a second identical command on one machine;
            # on several machines there is nothing to lift.
            "--no-lock", "--worker-keep-alive", *POLL,
            "--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid.port),
            "--krotos-data-root", str(data), *TINY]
    # KROTOS_RUN_BARRIER (tests/scheduler_dag.py): each process's first shard
    # waits until the other has started one, so the outcome does not hang on
    # which process finished importing first.
    first = start_luigi(args, log, "A", KROTOS_RUN_BARRIER=1)
    second = start_luigi(args, log, "B", KROTOS_RUN_BARRIER=1)
    results = [finish(first), finish(second)]

    # Each command's summary covers its own share of the work: a process whose
    # tasks were run by the other one ends with [retcode] already_running (10)
    # or not_run (25), never with a failure.
    for code, out in results:
        assert code in (0, 10, 25), out

    events = run_log(log)
    started = Counter(task_id for _, event, task_id in events if event == "START")
    succeeded = Counter(task_id for _, event, task_id in events if event == "SUCCESS")
    assert started == succeeded
    assert set(started.values()) == {1}, started
    assert Counter(family(t) for t in started) == Counter(
        {"DemoDataset": 1, "TagDatabase": 1, "FetchPreviews": 6, "Spectrograms": 6,
         "SpectrogramIndex": 1})
    shard_runs = Counter(tag for tag, event, task_id in events
                         if event == "START" and family(task_id) in ("FetchPreviews",
                                                                     "Spectrograms"))
    assert set(shard_runs) == {"A", "B"}, f"shards ran only in {dict(shard_runs)}"

    # Done means done for everyone: the same command again runs nothing, exits 0.
    code, out = finish(start_luigi(args, log, "C"))
    assert code == 0, out
    assert not [e for e in run_log(log) if e[0] == "C"]

    # And the outputs are those one process alone makes, the manifest included.
    _, alone, code, out = single_run
    assert code == 0, out
    assert tree_digest(data) == tree_digest(alone)


def test_failed_task_exits_nonzero_naming_task_and_reason(tmp_path):
    data = tmp_path / "data"
    code, out = finish(start_luigi(
        ["--module", "scheduler_dag", "BrokenInput", "--local-scheduler", "--no-lock",
         "--krotos-data-root", str(data), *TINY]))
    assert code == 30, out  # luigi.cfg [retcode] task_failed
    summary = out[out.index("===== Luigi Execution Summary"):]
    assert "1 failed:" in summary and "BrokenInput" in summary, summary
    assert "ValueError: tags.sqlite: no track has a preview (row 1)" in out
    # The failed task left nothing that looks like, or could become, an output.
    assert not (data / "BrokenInput").exists() or not any((data / "BrokenInput").iterdir())


def test_scheduler_not_running_says_how_to_start_it(tmp_path):
    # Without the check Luigi would retry; one quick attempt keeps a regression fast.
    config = tmp_path / "client.cfg"
    config.write_text("[core]\nrpc-retry-attempts = 1\nrpc-retry-wait = 1\n")
    code, out = finish(start_luigi(
        ["--module", "pipeline", "DemoDataset", "--no-lock", "--scheduler-host", "127.0.0.1",
         "--scheduler-port", str(free_port()), "--krotos-data-root", str(tmp_path / "data"),
         *TINY], LUIGI_CONFIG_PATH=config), timeout=60)
    assert code != 0
    assert "Cannot reach the Luigi central scheduler" in out, out
    assert "python -m krotos.scheduler --port" in out and "--local-scheduler" in out, out
    assert "Traceback" not in out, out
    assert not (tmp_path / "data" / "DemoDataset").exists()
