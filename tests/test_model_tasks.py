"""TrainTagModel and EvaluateTags wired to the real upstream tasks on a tiny demo dataset."""

import json
import os

import pytest

pytest.importorskip("tensorflow")

from conftest import run_tasks  # noqa: E402


def test_evaluate_tags_on_tiny_demo(tiny_demo, luigi_config):
    from pipeline.tags_model import EvaluateTags, TrainTagModel

    for key, value in {"window_seconds": 1.5, "filters": "8,8", "pool_sizes": "2",
                       "dense_units": "16", "epochs": 2, "batch_size": 8,
                       "threads": 2}.items():
        luigi_config.set("TrainTagModel", key, value)
    luigi_config.set("SongSplit", "valid_fraction", 0.25)     # 40 songs: a usable valid split
    luigi_config.set("Spectrograms", "min_seconds", 2.0)      # the tiny demo's clips are 4 s
    ok, ran = run_tasks([EvaluateTags()])
    assert ok
    assert any(t.startswith("TrainTagModel") for t in ran)

    train_task, evaluate_task = TrainTagModel(), EvaluateTags()
    assert train_task.resources == {"training": 1}
    files = set(os.listdir(train_task.output_dir))
    assert {"model.keras", "normalization.json", "vocabulary.json", "training.json",
            "params.json"} <= files
    assert not os.path.exists(train_task.output_dir + ".work")     # checkpoints dropped
    training = json.loads(open(train_task.file("training.json")).read())
    assert training["config"]["window_frames"] == 65                # 1.5 s at 22050 / 512
    assert [h["epoch"] for h in training["history"]] == [1, 2]

    metrics = json.loads(open(evaluate_task.file("metrics.json")).read())
    vocabulary = json.loads(open(train_task.file("vocabulary.json")).read())
    assert set(metrics["per_tag"]) == set(vocabulary)
    assert metrics["n_test_clips_scored"] > 0
    scored = [e["roc_auc"] for e in metrics["per_tag"].values() if e["status"] == "ok"]
    cnn = metrics["models"]["cnn"]["roc_auc_macro"]
    assert cnn["value"] == pytest.approx(sum(scored) / len(scored))
    assert cnn["ci_low"] <= cnn["value"] <= cnn["ci_high"]
    assert "cnn_minus_bag_of_frames" in metrics["paired"]
    assert metrics["bootstrap"]["unit"] == "clip"

    ok, ran = run_tasks([EvaluateTags()])                           # nothing left to do
    assert ok and ran == []
