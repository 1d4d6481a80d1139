"""The demo's tag ceiling: tags predicted from what each track is truly made of."""

import json

import numpy as np
import pytest

from conftest import run_tasks
from krotos.demo.catalogue import generate_catalogue
from krotos.demo.ceiling import audible_attributes


def test_attributes_are_those_of_the_audio_a_track_carries():
    cat = generate_catalogue(120, 60, seed=3, mismatch_fraction=0.05)
    ids, x = audible_attributes(cat)
    assert ids == list(cat.track_ids)
    assert x.shape[0] == len(ids) and np.all(np.isfinite(x))
    wrong = np.flatnonzero(cat.mismatched)
    assert len(wrong) > 0
    for i in wrong:
        # A mismatched track sounds like the song whose audio it has.
        np.testing.assert_array_equal(x[i], x[cat.donor[i]])
    # Songs differ: the attributes tell most tracks apart.
    assert len({row.tobytes() for row in x}) > 0.9 * len(ids)


@pytest.mark.slow  # runs the DAG up to the ceiling (about 20 s)
def test_ceiling_task_scores_the_test_clips_of_its_split(tiny_dag):
    from pipeline import DemoTagCeiling, SongSplit

    ok, ran = run_tasks([DemoTagCeiling()])
    assert ok and any(t.startswith("DemoTagCeiling") for t in ran)
    # Nothing that trains a model is needed to know the ceiling.
    assert not any(t.startswith(("TrainTagModel", "Factorize")) for t in ran)
    metrics = json.load(open(DemoTagCeiling().file("metrics.json")))
    roc = metrics["models"]["audible_attributes"]["roc_auc_macro"]
    assert 0.0 <= roc["ci_low"] <= roc["value"] <= roc["ci_high"] <= 1.0
    assert metrics["bootstrap"]["unit"] == "clip"
    test = SongSplit().read().tracks("test")
    assert 0 < metrics["probe"]["n_test"] <= len(test)
    assert metrics["probe"]["n_train"] > metrics["probe"]["n_test"]
    # Another seed's split is scored on its own test clips.
    ok, _ = run_tasks([DemoTagCeiling(replicate=1)])
    assert ok
    other = json.load(open(DemoTagCeiling(replicate=1).file("metrics.json")))
    assert other["models"] != metrics["models"]


def test_ceiling_refuses_a_real_dataset(tiny_dag, luigi_config, tmp_path):
    from pipeline import DemoTagCeiling

    triplets = tmp_path / "train_triplets.txt"
    triplets.write_text("b80344d063b5ccb3212f76538f3d9e43d87dca9e\tSOAKIMP12A8C130995\t1\n")
    unique = tmp_path / "unique_tracks.txt"
    unique.write_text("TRMMMYQ128F932D901<SEP>SOQMMHC12AB0180CB8<SEP>Faster Pussy cat<SEP>Silent Night\n")
    (tmp_path / "lastfm_train").mkdir()
    for key, path in (("triplets", triplets), ("unique_tracks", unique),
                      ("lastfm_json", tmp_path / "lastfm_train")):
        luigi_config.set("krotos", key, str(path))
    with pytest.raises(ValueError, match="needs the built-in demo dataset"):
        DemoTagCeiling().requires()
