"""krotos.staging.atomic_path / atomic_write: a file appears only when complete."""

import os

import numpy as np
import pytest

from krotos.progress import Progress, no_progress
from krotos.staging import atomic_path, atomic_write


def test_write_appears_complete(tmp_path):
    out = tmp_path / "a.json"
    with atomic_write(out, encoding="utf-8") as f:
        f.write("{")
        assert not out.exists()
        f.write("}\n")
    assert out.read_text() == "{}\n"
    assert os.listdir(tmp_path) == ["a.json"]


def test_error_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    out = tmp_path / "a.json"
    out.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(out) as f:
            f.write("half")
            raise RuntimeError("killed")
    assert out.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["a.json"]


def test_error_before_anything_was_written(tmp_path):
    with pytest.raises(KeyError):
        with atomic_path(tmp_path / "b.h5"):
            raise KeyError("x")
    assert os.listdir(tmp_path) == []


def test_temporary_is_hidden_beside_and_keeps_the_extension(tmp_path):
    out = tmp_path / "epoch-0001.optimizer.npz"
    with atomic_path(out) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert os.path.basename(tmp).startswith(".tmp-")
        assert tmp.endswith("epoch-0001.optimizer.npz")
        np.savez(tmp, np.arange(3))
        assert os.path.exists(tmp) and not out.exists()
    assert np.load(out)["arr_0"].tolist() == [0, 1, 2]
    assert os.listdir(tmp_path) == [out.name]


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "c.json"):
            pass
    assert os.listdir(tmp_path) == []


def test_no_progress_takes_a_message_or_none():
    progress: Progress = no_progress
    assert progress(0.5) is None
    assert progress(1.0, "done") is None
