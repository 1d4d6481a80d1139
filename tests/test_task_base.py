"""Signatures, signed output folders and atomic writes of the task base class."""

import json
import os

import luigi

from conftest import run_tasks
from krotos.signature import compute_signature
from krotos.staging import staged_directory
from pipeline.base import KrotosTask


class Upstream(KrotosTask):
    size = luigi.IntParameter(default=1)

    def run(self):
        with self.staging() as tmp:
            with open(os.path.join(tmp, "value.txt"), "w") as f:
                f.write(str(self.size))


class Middle(KrotosTask):
    scale = luigi.IntParameter(default=2)
    size = luigi.IntParameter(default=1)
    note = luigi.Parameter(default="", significant=False)

    def requires(self):
        return Upstream(size=self.size)

    def run(self):
        with open(self.requires().file("value.txt")) as f:
            value = int(f.read())
        with self.staging() as tmp:
            with open(os.path.join(tmp, "value.txt"), "w") as f:
                f.write(str(value * self.scale))


class Downstream(KrotosTask):
    scale = luigi.IntParameter(default=2)
    size = luigi.IntParameter(default=1)

    def requires(self):
        return {"middle": Middle(scale=self.scale, size=self.size)}

    def run(self):
        with self.staging() as tmp:
            open(os.path.join(tmp, "done"), "w").close()


class Exploding(KrotosTask):
    def run(self):
        with self.staging() as tmp:
            with open(os.path.join(tmp, "partial.txt"), "w") as f:
                f.write("half")
            raise RuntimeError("killed mid-write")


def test_same_parameters_same_path(data_root):
    assert Downstream().output_dir == Downstream(scale=2, size=1).output_dir
    assert Downstream().output_dir.startswith(str(data_root / "Downstream") + os.sep)


def test_parameter_change_propagates_downstream_only(data_root):
    base = {t: t().signature() for t in (Upstream, Middle, Downstream)}
    changed_middle = {"Upstream": Upstream().signature(),
                      "Middle": Middle(scale=3).signature(),
                      "Downstream": Downstream(scale=3).signature()}
    assert changed_middle["Upstream"] == base[Upstream]
    assert changed_middle["Middle"] != base[Middle]
    assert changed_middle["Downstream"] != base[Downstream]
    # A change at the root moves everything.
    assert Upstream(size=5).signature() != base[Upstream]
    assert Downstream(size=5).signature() != base[Downstream]


def test_insignificant_parameter_does_not_change_signature(data_root):
    assert Middle(note="a").signature() == Middle(note="b").signature()


def test_version_constant_enters_signature(data_root):
    class Bumped(Upstream):
        version = 2
    # Same family name is needed to compare only the version.
    assert compute_signature("Upstream", {"size": "1"}, 1, {}) == Upstream().signature()
    assert compute_signature("Upstream", {"size": "1"}, 2, {}) != Upstream().signature()


def test_run_writes_params_json_and_reruns_nothing(data_root):
    ok, ran = run_tasks([Downstream()])
    assert ok
    assert sorted(t.split("_")[0] for t in ran) == ["Downstream", "Middle", "Upstream"]
    with open(Middle().file("params.json")) as f:
        params = json.load(f)
    assert params["family"] == "Middle"
    assert params["params"] == {"scale": "2", "size": "1"}
    assert params["signature"] == Middle().signature()
    assert list(params["upstream"].values()) == [Upstream().signature()]
    with open(Middle().file("value.txt")) as f:
        assert f.read() == "2"

    ok, ran = run_tasks([Downstream()])
    assert ok and ran == []

    ok, ran = run_tasks([Downstream(scale=5)])
    assert ok
    assert sorted(t.split("_")[0] for t in ran) == ["Downstream", "Middle"]


def test_failed_run_leaves_nothing_that_looks_complete(data_root):
    ok, _ = run_tasks([Exploding()])
    assert not ok
    task = Exploding()
    assert not task.complete()
    parent = os.path.dirname(task.output_dir)
    assert os.listdir(parent) == []  # no temporary folder left either


def test_stale_temporary_of_dead_process_is_cleaned(tmp_path):
    final = tmp_path / "Task" / "abc"
    stale = tmp_path / "Task" / "abc.tmp-dead"
    stale.mkdir(parents=True)
    (stale / ".owner").write_text(f"{os.uname().nodename} 999999999")
    with staged_directory(str(final), metadata={"x": 1}) as tmp:
        (tmp_path / "Task" / os.path.basename(tmp) / "out.txt").write_text("ok")
    assert not stale.exists()
    assert (final / "out.txt").read_text() == "ok"
    assert json.loads((final / "params.json").read_text()) == {"x": 1}
    assert not (final / ".owner").exists()


def test_losing_a_rename_race_keeps_the_winner(tmp_path):
    final = tmp_path / "Task" / "abc"
    with staged_directory(str(final)) as first:
        (tmp_path / "Task" / os.path.basename(first) / "who").write_text("first")
        with staged_directory(str(final)) as second:
            (tmp_path / "Task" / os.path.basename(second) / "who").write_text("second")
    assert (final / "who").read_text() == "second"
    assert sorted(os.listdir(tmp_path / "Task")) == ["abc"]


def test_work_dir_is_dropped_after_success(data_root):
    task = Upstream(size=9)
    scratch = os.path.join(task.work_dir, "checkpoint")
    open(scratch, "w").close()
    assert not task.complete()
    ok, _ = run_tasks([task])
    assert ok and task.complete()
    assert not os.path.exists(task.output_dir + ".work")


def test_settings_of_an_unused_source_do_not_move_outputs(data_root):
    from pipeline.audio import FetchPreviews

    local = FetchPreviews(shard=0, n_shards=1)
    assert FetchPreviews(shard=0, n_shards=1, country="DE").signature() == local.signature()
    remote = FetchPreviews(shard=0, n_shards=1, source="7digital")
    assert remote.signature() != local.signature()
    assert (FetchPreviews(shard=0, n_shards=1, source="7digital", country="DE").signature()
            != remote.signature())
