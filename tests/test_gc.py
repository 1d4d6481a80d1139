"""``krotos gc``: stale outputs are listed, removed only when asked, reachable ones never."""

import os
import subprocess
import sys

import pytest

from conftest import run_tasks
from krotos import gc
from krotos.cli import main
from krotos.staging import lock_work_folder

SIG = ["%012x" % n for n in range(1, 8)]


def _folder(path, size=1000):
    os.makedirs(path)
    with open(os.path.join(path, "blob"), "wb") as f:
        f.write(b"x" * size)


def test_stale_entries_keep_reachable_live_and_unknown(tmp_path):
    root = tmp_path / "data"
    _folder(root / "TagDatabase" / SIG[0])                  # reachable output
    _folder(root / "TagDatabase" / f"{SIG[0]}.work")        # its resumable scratch
    held = lock_work_folder(str(root / "TagDatabase" / f"{SIG[4]}.work"))  # a live run's scratch
    _folder(root / "TagDatabase" / SIG[1])                  # stale output
    _folder(root / "TagDatabase" / f"{SIG[1]}.work")        # stale scratch
    _folder(root / "TagDatabase" / f"{SIG[0]}.tmp-dead")    # killed writer, no .owner
    live = root / "TagDatabase" / f"{SIG[2]}.tmp-live"      # writer still running
    _folder(live)
    (live / ".owner").write_text(f"{os.uname().nodename} {os.getpid()}")
    _folder(root / "luigid")                                # not a task's folder
    _folder(root / "TagDatabase" / "notes")                 # not a signature
    (root / "TagDatabase" / SIG[3]).write_text("a file, not an output")

    stale = gc.stale_entries(str(root), {("TagDatabase", SIG[0])})
    names = sorted(os.path.basename(e.path) for e in stale)
    assert names == sorted([SIG[1], f"{SIG[1]}.work", f"{SIG[0]}.tmp-dead"])
    assert all(e.size >= 1000 for e in stale)

    freed = gc.remove_entries(stale)
    assert freed == sum(e.size for e in stale)
    left = sorted(os.listdir(root / "TagDatabase"))
    assert left == sorted([SIG[0], f"{SIG[0]}.work", f"{SIG[2]}.tmp-live", f"{SIG[4]}.work",
                           "notes", SIG[3]])
    assert (root / "luigid" / "blob").exists()
    assert gc.stale_entries(str(root), {("TagDatabase", SIG[0])}) == []
    held.release()  # its run ended: now the scratch is stale
    assert [os.path.basename(e.path) for e in gc.stale_entries(
        str(root), {("TagDatabase", SIG[0])})] == [f"{SIG[4]}.work"]


@pytest.fixture
def small_demo(luigi_config, data_root):
    # The smallest demo the pipeline accepts (krotos.demo.checks) with 3 s windows.
    for key, value in {"n_songs": 30, "n_users": 50, "clip_seconds": 3.0,
                       "processes": 1}.items():
        luigi_config.set("DemoDataset", key, value)
    luigi_config.set("Spectrograms", "min_seconds", 1.0)
    luigi_config.set("SpectrogramIndex", "shard_size", 10)  # three shards of 10 songs
    return data_root


def _outputs(root, family):
    folder = root / family
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.slow  # runs the pipeline under two configurations (about 5 s)
def test_gc_command_on_two_configurations(small_demo, luigi_config, capsys):
    from pipeline.tagdb import TagDatabase

    root = small_demo
    luigi_config.set("TagDatabase", "n_tags", 5)
    ok, _ = run_tasks([TagDatabase()])
    old = TagDatabase().signature()
    luigi_config.set("TagDatabase", "n_tags", 8)
    ok2, _ = run_tasks([TagDatabase()])
    new = TagDatabase().signature()
    assert ok and ok2 and old != new
    assert _outputs(root, "TagDatabase") == sorted([old, new])

    # Listing only: the stale configuration is named with its size, nothing goes.
    assert main(["gc", "--task", "TagDatabase", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert str(root / "TagDatabase" / old) in out and new not in out
    assert "1 stale folder(s)" in out and "--delete" in out
    assert _outputs(root, "TagDatabase") == sorted([old, new])

    assert main(["gc", "--task", "TagDatabase", "--data-root", str(root), "--delete"]) == 0
    assert "freed" in capsys.readouterr().out
    assert _outputs(root, "TagDatabase") == [new]
    assert len(_outputs(root, "DemoDataset")) == 1  # shared by both: kept

    # What is left is exactly what the configuration needs: nothing reruns.
    ok, ran = run_tasks([TagDatabase()])
    assert ok and ran == []


@pytest.mark.slow  # runs the pipeline, then again after a change (about 5 s)
def test_gc_keeps_every_shard_and_drops_only_what_a_change_made_stale(
        small_demo, luigi_config, capsys):
    from pipeline.audio import SpectrogramIndex

    root = small_demo
    ok, _ = run_tasks([SpectrogramIndex()], workers=1)
    assert ok and len(_outputs(root, "Spectrograms")) == 3
    # Only shard 0 stands in SpectrogramIndex's signature; all three are kept.
    assert gc.stale_entries(str(root), gc.reachable_signatures([SpectrogramIndex()])) == []

    # A spectrogram setting changes: the spectrograms and the index are stale,
    # the previews, the tag database and the dataset are not.
    luigi_config.set("Spectrograms", "n_mels", 32)
    assert main(["gc", "--task", "SpectrogramIndex"]) == 0
    out = capsys.readouterr().out
    stale = [line.split()[-1] for line in out.splitlines() if "  output  " in line]
    families = sorted(os.path.basename(os.path.dirname(p)) for p in stale)
    assert families == ["SpectrogramIndex"] + ["Spectrograms"] * 3, out


def test_gc_unknown_task_is_a_clear_error(tmp_path, capsys):
    assert main(["gc", "--task", "NoSuchTask", "--data-root", str(tmp_path)]) == 1
    assert "no task named 'NoSuchTask'" in capsys.readouterr().err


def test_krotos_gc_help_runs_as_a_command():
    out = subprocess.run([sys.executable, "-m", "krotos.cli", "gc", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--delete" in out and "--task" in out
