"""The whole DAG on a tiny demo: it runs, and reruns only what a change made stale."""

import json
import os

import pytest

from conftest import run_tasks

# The whole DAG, run and rerun: minutes.
pytestmark = pytest.mark.slow

pytest.importorskip("tensorflow")


def families(task_ids):
    return sorted(t.split("_", 1)[0] for t in task_ids)


def test_dag_runs_and_reruns_only_what_is_stale(tiny_dag, luigi_config, capsys):
    from pipeline import FinetuneLatents, EvaluateRecommendation, Report

    ok, ran = run_tasks([FinetuneLatents()])
    assert ok
    assert set(families(ran)) == {
        "DemoDataset", "TagDatabase", "SongSplit", "FetchPreviews", "Spectrograms",
        "SpectrogramIndex", "PlayMatrix", "TuneALS", "Factorize", "EvaluateCF", "TrainTagModel",
        "Embed", "EvaluateTags", "FinetuneModel", "EvaluateRecommendation", "Report",
        "FinetuneLatents"}
    # The main task composes the DAG; it comes last.
    assert families(ran[-1:]) == ["FinetuneLatents"]
    assert families(ran).count("Spectrograms") == 2
    assert families(ran).count("Factorize") == 2  # without and with the cold songs' plays
    out = capsys.readouterr().out
    assert "krotos results:" in out and "report/index.html" in out
    metrics = json.load(open(EvaluateRecommendation().file("metrics.json")))
    assert set(metrics["models"]) == {"cnn", "linear", "random", "upper_bound"}
    assert os.path.exists(Report().file(os.path.join("report", "index.html")))

    ok, ran = run_tasks([FinetuneLatents()])
    assert ok and ran == []

    # A fine-tuning setting reruns the fine-tuning, what evaluates it and the report.
    luigi_config.set("FinetuneModel", "learning_rate", 0.002)
    ok, ran = run_tasks([FinetuneLatents()])
    assert ok
    assert families(ran) == ["EvaluateRecommendation", "FinetuneLatents", "FinetuneModel", "Report"]

    luigi_config.set("Spectrograms", "n_mels", 12)
    ok, ran = run_tasks([FinetuneLatents()])
    assert ok
    assert sorted(set(families(ran))) == [
        "Embed", "EvaluateRecommendation", "EvaluateTags", "FinetuneLatents", "FinetuneModel",
        "Report", "SpectrogramIndex", "Spectrograms", "TrainTagModel"]


def test_no_test_song_reaches_any_training_or_validation_set(tiny_dag):
    """The protocol: test songs are seen by no model, and are the cold-start songs."""
    import numpy as np

    from krotos.cf.als import read_factors
    from krotos.cf.playmatrix import read_play_split
    from krotos.splits import read_track_sets
    from pipeline import (EvaluateRecommendation, EvaluateTags, Factorize, FinetuneLatents,
                          FinetuneModel, PlayMatrix, SongSplit, TrainTagModel)

    ok, _ = run_tasks([FinetuneLatents()])
    assert ok
    split = SongSplit().read()
    test = set(split.tracks("test"))
    assert len(test) > 5
    learned = {
        "tag model": read_track_sets(TrainTagModel().file("tracks.json")),
        "fine-tuning": read_track_sets(FinetuneModel().file("tracks.json")),
        "linear baseline": read_track_sets(
            EvaluateRecommendation().file("linear_baseline_tracks.json")),
    }
    for model, sets in learned.items():
        assert sets["train"], model
        for name, ids in sets.items():
            assert not ids & test, f"{model} {name} set holds test tracks"
            assert ids <= set(split.tracks(name)), f"{model} {name} set strays from the split"
    # The tag evaluation scores the test songs only.
    metrics = json.load(open(EvaluateTags().file("metrics.json")))
    assert 0 < metrics["n_test_tracks"] == len(test)
    # The cold-start songs are the test songs: none of their plays is in any
    # factorization the models learn from.
    plays = read_play_split(PlayMatrix().file("plays.h5"))
    cold = plays.cold_song_index
    assert set(plays.track_ids[cold]) <= test and len(cold) > 0
    assert plays.fit_plays[:, cold].nnz == 0
    factors = read_factors(Factorize(include_cold=False).file("factors.h5"))
    assert not factors["song_trained"][cold].any()
    trained_tracks = set(np.asarray(factors["track_ids"])[factors["song_trained"]])
    assert not trained_tracks & test
