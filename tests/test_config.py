"""Configuration errors are caught before any work starts, with clear messages."""

import pytest

from conftest import run_tasks
from krotos.config import ConfigError, check_data_root, check_dataset_inputs
from pipeline.dataset import RealDataset, dataset_task
from pipeline.demo import DemoDataset


def test_no_dataset_configured_means_demo(data_root):
    assert isinstance(dataset_task(), DemoDataset)


def test_missing_dataset_path_names_setting_and_path(tmp_path, luigi_config, data_root):
    present = tmp_path / "track_metadata.db"
    present.write_bytes(b"")
    luigi_config.set("krotos", "track_metadata", str(present))
    luigi_config.set("krotos", "lastfm_tags", str(tmp_path / "nope" / "lastfm_tags.db"))
    luigi_config.set("krotos", "triplets", str(present))
    with pytest.raises(ConfigError) as info:
        dataset_task()
    message = str(info.value)
    assert "[krotos] lastfm_tags" in message
    assert str(tmp_path / "nope" / "lastfm_tags.db") in message
    assert "track_metadata" not in message


def test_partial_real_dataset_is_refused(tmp_path):
    present = tmp_path / "train_triplets.txt"
    present.write_text("")
    with pytest.raises(ConfigError, match=r"\[krotos\] lastfm_tags is empty"):
        check_dataset_inputs({"triplets": str(present)})


def test_real_dataset_is_used_when_configured(tmp_path, luigi_config, data_root):
    for name in ("track_metadata", "lastfm_tags", "triplets"):
        (tmp_path / name).write_text("")
        luigi_config.set("krotos", name, str(tmp_path / name))
    task = dataset_task()
    assert isinstance(task, RealDataset)
    assert task.complete()
    assert task.paths()["triplets"] == str(tmp_path / "triplets")
    assert task.paths()["previews"] is None


def test_unwritable_data_root(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="data_root .* is not a writable folder"):
        check_data_root(str(blocker / "data"))


def test_bad_config_fails_the_build_before_work(tmp_path, luigi_config, data_root):
    luigi_config.set("krotos", "triplets", str(tmp_path / "missing.txt"))

    from pipeline.base import KrotosTask

    class NeedsData(KrotosTask):
        def requires(self):
            return dataset_task()

        def run(self):
            raise AssertionError("must not run")

    ok, ran = run_tasks([NeedsData()])
    assert not ok and ran == []


def test_cli_exits_non_zero_on_unwritable_data_root(tmp_path, luigi_cli):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = luigi_cli("--module", "pipeline", "DemoDataset", "--local-scheduler",
                       "--krotos-data-root", str(blocker / "data"))
    assert result.returncode != 0
    assert f"data_root = {blocker / 'data'} is not a writable folder" in result.stderr


def test_data_root_with_stray_whitespace_is_not_created(tmp_path):
    for root in (str(tmp_path / "data") + " ", str(tmp_path / " data" / "x")):
        with pytest.raises(ConfigError, match=r"data_root = .* begins or ends with whitespace"):
            check_data_root(root)
    assert list(tmp_path.iterdir()) == []
    # A folder of that name made on purpose is used as it is.
    (tmp_path / "data ").mkdir()
    assert check_data_root(str(tmp_path / "data") + " ") == str(tmp_path / "data") + " "
