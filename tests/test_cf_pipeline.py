"""PlayMatrix -> Factorize -> EvaluateCF as Luigi tasks on a tiny demo dataset."""

import json
import os

import numpy as np

import pytest

from conftest import run_tasks
from krotos.cf.als import read_factors
from krotos.cf.playmatrix import read_play_split
from krotos.tagdb import TagDB
from pipeline.cf import EvaluateCF, Factorize, PlayMatrix

# Runs the CF tasks on a demo dataset (about 10 s).
pytestmark = pytest.mark.slow


def test_cf_tasks_on_demo(tiny_demo, luigi_config):
    luigi_config.set("DemoDataset", "n_users", 300)
    luigi_config.set("Factorize", "factors", 8)
    luigi_config.set("Factorize", "iterations", 8)
    luigi_config.set("Factorize", "regularization", "[0.5, 5.0]")
    luigi_config.set("Factorize", "alpha", 2.0)
    task = EvaluateCF()
    ok, ran = run_tasks([task])
    assert ok
    plays, factors = PlayMatrix(), Factorize(include_cold=False)
    tuning = factors.requires()["tuning"]
    assert {plays.task_id, tuning.task_id, factors.task_id, task.task_id} <= set(ran)
    assert sorted(os.listdir(plays.output_dir)) == ["params.json", "plays.h5", "summary.json"]
    assert sorted(os.listdir(factors.output_dir)) == ["factors.h5", "params.json", "summary.json"]

    with open(plays.file("summary.json")) as f:
        summary = json.load(f)
    with TagDB(plays.requires()["tagdb"].file("tags.sqlite")) as db:
        song_to_track = db.song_to_track()
    split = read_play_split(plays.file("plays.h5"))
    # The demo's sid_mismatches songs have no track in the tag database: counted, kept.
    assert summary["read"]["songs_without_track"] > 0
    assert summary["read"]["plays_of_songs_without_track"] > 0
    reasons = summary["songs_without_track_by_reason"]
    assert reasons["its track pair is in sid_mismatches"] > 0
    assert sum(reasons.values()) == summary["read"]["songs_without_track"]
    assert all(song_to_track.get(s, "") == t for s, t in zip(split.song_ids, split.track_ids))
    assert summary["bad_lines"]["total"] == 0
    # The cold songs are exactly the song split's test songs that have plays.
    test_tracks = set(plays.requires()["split"].read().tracks("test"))
    assert set(split.track_ids[split.cold_song_index]) == test_tracks & set(split.track_ids)
    assert len(split.cold_song_index) > 0

    # The regularization was chosen on the validation plays, among the grid's points.
    with open(tuning.file("tuning.json")) as fh:
        tuned = json.load(fh)
    assert len(tuned["grid"]) == 2 and "validation" in tuned["split"]
    best = max(tuned["grid"], key=lambda g: g["map_at_500"])
    f = read_factors(factors.file("factors.h5"))
    assert f["song_factors"].shape == (len(split.song_ids), 8)
    assert f["attrs"]["regularization"] == best["regularization"] == tuned["chosen"]["regularization"]
    # The final factors fit training and validation plays, never the test plays.
    assert f["song_trained"].sum() == (np.bincount(split.fit_plays.indices,
                                                   minlength=split.fit_plays.shape[1]) > 0).sum()

    with open(task.file("metrics.json")) as fh:
        result = json.load(fh)
    metrics = {name: {m: iv["value"] for m, iv in model.items()}
               for name, model in result["models"].items()}
    als, pop, rnd = metrics["als"], metrics["popularity"], metrics["random"]
    assert als["auc"] > pop["auc"] and als["auc"] > rnd["auc"] + 0.1
    assert als["map_at_500"] > pop["map_at_500"] and als["map_at_500"] > 2 * rnd["map_at_500"]
    for name in ("auc", "map_at_500", "precision_at_10", "recall_at_10", "ndcg_at_10"):
        assert all(np.isfinite(m[name]) for m in metrics.values())
        assert all(iv[name]["ci_low"] <= iv[name]["value"] <= iv[name]["ci_high"]
                   for iv in result["models"].values())
    assert set(result["paired"]) == {"als_minus_popularity", "als_minus_random"}
    assert result["paired"]["als_minus_random"]["auc"]["ci_low"] > 0
    assert result["bootstrap"]["unit"] == "user"
    assert isinstance(result["warnings"], list)

    # A new evaluation seed reruns only EvaluateCF.
    luigi_config.set("EvaluateCF", "seed", 1)
    ok, ran = run_tasks([EvaluateCF()])
    assert ok and ran == [EvaluateCF().task_id]
