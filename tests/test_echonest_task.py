"""The EchonestFeatures / EchonestIndex tasks on the tiny demo dataset."""

import json
import os

import numpy as np
import pytest

from conftest import run_tasks


@pytest.fixture
def echonest_demo(tiny_demo, luigi_config):
    luigi_config.set("krotos", "features", "echonest")
    luigi_config.set("DemoMSDFiles", "processes", 1)
    luigi_config.set("EchonestIndex", "shard_size", 16)
    luigi_config.set("EchonestFeatures", "min_seconds", 2.0)  # tiny demo clips are 4 s
    return tiny_demo


@pytest.mark.slow  # analyses a demo dataset's audio into MSD files (about 10 s)
def test_index_over_demo_msd_h5_files(echonest_demo, luigi_config):
    from krotos.shards.manifest import read_manifest
    from krotos.shards.reader import ShardReader
    from krotos.tagdb import TagDB
    from pipeline.echonest import EchonestFeatures, EchonestIndex
    from pipeline.tagdb import TagDatabase

    index = EchonestIndex()
    ok, _ = run_tasks([index], workers=2)
    assert ok
    with TagDB(TagDatabase().file("tags.sqlite")) as db:
        track_ids = [t.track_id for t in db.tracks()]
    # with 2 workers the tasks run in forked processes: count their outputs instead
    shard_root = os.path.join(os.path.dirname(os.path.dirname(index.output_dir)),
                              "EchonestFeatures")
    shards = [d for d in os.listdir(shard_root) if not d.endswith(".work")]
    assert len(shards) == -(-len(track_ids) // 16)
    manifest = read_manifest(index.file("manifest.json"))
    assert manifest["params"]["feature"] == "echonest"
    assert sorted(manifest["tracks"]) == sorted(track_ids)
    assert manifest["summary"] == {"ok": len(track_ids)}
    for shard in manifest["shards"]:
        with ShardReader(shard["path"]) as reader:
            assert reader.n_channels == 25
            for _, frames in reader:
                assert frames.shape[0] >= 20 and np.all(np.isfinite(frames))
    params = json.loads(open(EchonestFeatures(shard=0, n_shards=len(shards)).file(
        "params.json")).read())
    assert params["params"]["grid"] == "fixed"
    # Reasons and paths name the MSD files relative to [krotos] msd_h5: nothing absolute.
    for shard in shards:
        with open(os.path.join(shard_root, shard, "results.json")) as f:
            assert str(echonest_demo) not in f.read()

    # Nothing changed: nothing runs. Another grid: only the echonest tasks run again.
    ok, ran = run_tasks([EchonestIndex()])
    assert ok and ran == []
    luigi_config.set("EchonestFeatures", "grid", "beats")
    beats = EchonestIndex()
    assert beats.signature() != index.signature()
    ok, ran = run_tasks([beats])
    assert ok and ran and all(r.startswith(("EchonestFeatures_", "EchonestIndex_"))
                              for r in ran)
    assert os.path.isdir(index.output_dir)  # the fixed-grid output stays


def test_missing_msd_h5_setting_is_a_clear_error(tmp_path, data_root, luigi_config):
    from krotos.config import ConfigError
    from pipeline.echonest import EchonestFeatures

    for name in ("track_metadata", "lastfm_tags", "triplets"):  # a real dataset, no msd_h5
        (tmp_path / name).write_text("")
        luigi_config.set("krotos", name, str(tmp_path / name))
    task = EchonestFeatures(shard=0, n_shards=1)
    with pytest.raises(ConfigError, match=r"\[krotos\] msd_h5"):
        task.msd_h5()


def test_feature_index_task_picks_by_setting(data_root, luigi_config):
    from krotos.config import ConfigError
    from pipeline.audio import SpectrogramIndex
    from pipeline.config import krotos
    from pipeline.echonest import EchonestIndex
    from pipeline.features import feature_index_task, feature_kinds

    # Every choice of [krotos] features has its index task, and no index task is unreachable.
    assert sorted(feature_kinds()) == sorted(krotos.features._choices)
    assert isinstance(feature_index_task("mel"), SpectrogramIndex)
    assert isinstance(feature_index_task("echonest"), EchonestIndex)
    assert feature_index_task("echonest").signature() != feature_index_task("mel").signature()
    with pytest.raises(ConfigError, match="features"):
        feature_index_task("mfcc")


def test_features_setting_finds_the_other_settings_outputs(data_root, luigi_config):
    from pipeline.audio import SpectrogramIndex
    from pipeline.echonest import EchonestIndex
    from pipeline.features import feature_index_task, features_setting
    from pipeline.tags_model import EvaluateTags

    mel = EvaluateTags().output_dir
    with features_setting("echonest"):
        assert isinstance(feature_index_task(), EchonestIndex)
        echonest = EvaluateTags().output_dir
    assert isinstance(feature_index_task(), SpectrogramIndex)
    assert EvaluateTags().output_dir == mel != echonest
