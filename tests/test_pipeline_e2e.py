"""The whole DAG on a tiny demo: it runs, and reruns only what a change made stale."""

import json
import os

import pytest

from conftest import run_tasks

pytest.importorskip("tensorflow")

TINY = {
    "DemoDataset": {"n_songs": 60, "n_users": 80, "clip_seconds": 4.0, "seed": 5, "processes": 1},
    "SongSplit": {"valid_fraction": 0.2, "test_fraction": 0.2},
    "SpectrogramIndex": {"shard_size": 30},
    "Spectrograms": {"min_seconds": 2.0, "n_mels": 16},
    "Factorize": {"factors": 8, "iterations": 3, "regularization": "[1, 10]", "alpha": 2},
    "EvaluateCF": {"max_users": 0},
    "TrainTagModel": {"filters": "8,8", "pool_sizes": "2", "dense_units": "16",
                      "window_seconds": 1.0, "epochs": 2, "crops_per_track": 1},
    "FinetuneLatents": {"epochs": 2, "freeze_epochs": 1, "crops_per_track": 1},
    "Report": {"n_example_tags": 2, "examples_per_tag": 1},
}


def families(task_ids):
    return sorted(t.split("_", 1)[0] for t in task_ids)


@pytest.fixture
def tiny_dag(luigi_config, data_root):
    for section, values in TINY.items():
        for key, value in values.items():
            luigi_config.set(section, key, value)
    return data_root


def test_dag_runs_and_reruns_only_what_is_stale(tiny_dag, luigi_config, capsys):
    from pipeline import FinetuneLatents, EvaluateRecommendation, Report

    ok, ran = run_tasks([FinetuneLatents()])
    assert ok
    assert set(families(ran)) == {
        "DemoDataset", "TagDatabase", "SongSplit", "FetchPreviews", "Spectrograms",
        "SpectrogramIndex", "PlayMatrix", "TuneALS", "Factorize", "EvaluateCF", "TrainTagModel",
        "EvaluateTags",
        "FinetuneLatents", "EvaluateRecommendation", "Report"}
    assert families(ran).count("Spectrograms") == 2
    assert families(ran).count("Factorize") == 2  # without and with the cold songs' plays
    out = capsys.readouterr().out
    assert "krotos results:" in out and "report/index.html" in out
    metrics = json.load(open(EvaluateRecommendation().file("metrics.json")))
    assert set(metrics["models"]) == {"cnn", "linear", "random", "upper_bound"}
    assert os.path.exists(Report().file(os.path.join("report", "index.html")))

    ok, ran = run_tasks([FinetuneLatents()])
    assert ok and ran == []

    luigi_config.set("FinetuneLatents", "learning_rate", 0.002)
    ok, ran = run_tasks([FinetuneLatents()])
    assert ok
    assert families(ran) == ["EvaluateRecommendation", "FinetuneLatents", "Report"]

    luigi_config.set("Spectrograms", "n_mels", 12)
    ok, ran = run_tasks([FinetuneLatents()])
    assert ok
    assert sorted(set(families(ran))) == [
        "EvaluateRecommendation", "EvaluateTags", "FinetuneLatents", "Report",
        "SpectrogramIndex", "Spectrograms", "TrainTagModel"]
