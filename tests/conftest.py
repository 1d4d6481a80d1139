"""Shared fixtures (an isolated Luigi configuration and data root per test) and the
test helpers (tiny_model, service_harness, soundcloud_standin), re-exported."""

import os
import sys
from pathlib import Path

import luigi
import luigi.configuration
import pytest
from luigi.task_register import Register

# The helper modules beside this file, re-exported for the test modules
# (``from conftest import tiny_model``): pytest puts tests/ on sys.path to load
# this conftest, so no test module has to insert it there itself.
import tiny_model  # noqa: F401 - the tiny, really trained model
from service_harness import (  # noqa: F401 - redis-server, workers, the app over HTTP
    RedisServer, free_port, make_standin, serving, start_worker, stop_worker, submit,
    wait_healthy, wait_job)
from soundcloud_standin import (  # noqa: F401 - the SoundCloud stand-in servers
    CLIENT_ID, CLIENT_SECRET, NAMES, XSS_NAME, XSS_TITLE, StandIn, loopback_resolves)

REPO = Path(__file__).resolve().parents[1]
REAL_FIXTURES = REPO.parent / "shared" / "fixtures" / "real"

# The session-wide record of which tasks actually ran (Luigi event handlers
# cannot be removed, so one handler feeds a list each test clears).
_RAN = []


@luigi.Task.event_handler(luigi.Event.SUCCESS)
def _record_success(task):
    _RAN.append(task.task_id)


def real_fixture(*parts):
    """Path under ../shared/fixtures/real, or skip the test with the reason."""
    path = REAL_FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real fixture {path} is absent (../shared/fixtures/real is not "
                    f"beside this checkout)")
    return path


#: The real music of ../shared/fixtures/real/audio (its README says what each is).
REAL_AUDIO = ["TRWJAZW128F42760DD_test.mp3", "joram-moments_of_clarity-08-solipsism-59-88.mp3",
              "Kevin_MacLeod_-_Vibe_Ace.ogg", "Karissa_Hobbs_-_Lets_Go_Fishin.ogg"]


@pytest.fixture(scope="module")
def real_files():
    """Paths of :data:`REAL_AUDIO`; skips where the real fixtures are absent."""
    return [str(real_fixture("audio", name)) for name in REAL_AUDIO]


class LuigiConfig:
    """Set luigi.cfg values for one test; everything is restored afterwards."""

    def __init__(self):
        self._config = luigi.configuration.get_config()
        self._saved = []

    def set(self, section, key, value):
        config = self._config
        if not config.has_section(section):
            config.add_section(section)
            self._saved.append((section, None, None, True))
        else:
            old = config.get(section, key, None)
            self._saved.append((section, key, old, False))
        config.set(section, key, str(value))
        Register.clear_instance_cache()

    def restore(self):
        config = self._config
        for section, key, old, added_section in reversed(self._saved):
            if added_section:
                config.remove_section(section)
            elif old is None:
                config.remove_option(section, key)
            else:
                config.set(section, key, old)
        Register.clear_instance_cache()


@pytest.fixture
def luigi_config():
    cfg = LuigiConfig()
    yield cfg
    cfg.restore()


@pytest.fixture
def data_root(tmp_path, luigi_config):
    """A fresh ``[krotos] data_root`` with the demo dataset selected."""
    root = tmp_path / "data"
    luigi_config.set("krotos", "data_root", str(root))
    from krotos.config import DATASET_INPUTS

    for key in DATASET_INPUTS:
        luigi_config.set("krotos", key, "")
    return root


@pytest.fixture
def tiny_demo(luigi_config, data_root):
    """Configure a demo dataset small enough for a test (seconds to build)."""
    for key, value in {"n_songs": 40, "n_users": 60, "clip_seconds": 4.0,
                       "seed": 7, "processes": 1}.items():
        luigi_config.set("DemoDataset", key, value)
    # The demo refuses clips shorter than what the spectrograms accept (issue 14).
    luigi_config.set("Spectrograms", "min_seconds", 2.0)
    return data_root


def run_tasks(tasks, workers=1):
    """Run tasks with a local scheduler; return (succeeded, ids of tasks that ran)."""
    del _RAN[:]
    ok = luigi.build(tasks, local_scheduler=True, workers=workers,
                     log_level="WARNING")
    return ok, list(_RAN)


@pytest.fixture
def luigi_cli(tmp_path):
    """Run the ``luigi`` command in the repository root (so luigi.cfg applies)."""
    import subprocess

    def run(*args, timeout=600):
        env = dict(os.environ, PYTHONPATH=str(REPO))
        return subprocess.run(
            [sys.executable, "-m", "luigi", *args], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=timeout)
    return run


#: A whole-DAG configuration small enough for a test (about 10 s per run).
TINY = {
    "DemoDataset": {"n_songs": 60, "n_users": 80, "clip_seconds": 4.0, "seed": 5, "processes": 1},
    "SongSplit": {"valid_fraction": 0.2, "test_fraction": 0.2},
    "SpectrogramIndex": {"shard_size": 30},
    "Spectrograms": {"min_seconds": 2.0, "n_mels": 16},
    "Factorize": {"factors": 8, "iterations": 3, "regularization": "[1, 10]", "alpha": 2},
    "EvaluateCF": {"max_users": 0},
    "TrainTagModel": {"architecture": "dieleman", "filters": "[8, 8]", "kernel_size": 4,
                      "pool_sizes": "[2]", "dense_units": "[16]",
                      "window_seconds": 1.0, "epochs": 2, "crops_per_track": 1},
    "FinetuneModel": {"epochs": 2, "freeze_epochs": 1, "crops_per_track": 1},
    "Report": {"n_example_tags": 2, "examples_per_tag": 1},
}


@pytest.fixture
def tiny_dag(luigi_config, data_root):
    for section, values in TINY.items():
        for key, value in values.items():
            luigi_config.set(section, key, value)
    return data_root
