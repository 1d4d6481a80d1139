"""The cold-start evaluation: four song representations ranked on the same users."""

import dataclasses
import json

import numpy as np
import pytest
import scipy.sparse as sp

from krotos.shards.writer import ShardWriter
from krotos.cf.als import write_factors
from krotos.cf.playmatrix import PlaySplit, write_play_split
from krotos.coldstart.evaluate import evaluate_cold_start
from krotos.coldstart.params import ColdStartParams
from krotos.coldstart.vectors import write_latents

N_USERS, N_SONGS, F, N_MELS = 120, 60, 4, 6


def _write_predictions(path, track_ids, factors):
    write_latents(str(path), track_ids, factors)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Users play the songs closest to their taste; a third of the songs are cold."""
    folder = tmp_path_factory.mktemp("cold")
    rng = np.random.default_rng(0)
    users = rng.normal(size=(N_USERS, F))
    songs = rng.normal(size=(N_SONGS, F))
    affinity = users @ songs.T
    played = affinity > np.quantile(affinity, 0.85, axis=1, keepdims=True)
    counts = np.where(played, rng.integers(1, 6, size=played.shape), 0)
    cold = np.arange(0, N_SONGS, 3)
    is_cold = np.zeros(N_SONGS, bool)
    is_cold[cold] = True
    train = sp.csr_matrix(np.where(is_cold[None, :], 0, counts))
    heldout = sp.csr_matrix(np.where(is_cold[None, :], counts, 0))
    track_ids = np.array([f"TR{i:016d}" for i in range(N_SONGS)])
    parts = dict(train=train, heldout=heldout,
                 user_ids=np.array([f"u{i}" for i in range(N_USERS)]),
                 song_ids=np.array([f"SO{i:016d}" for i in range(N_SONGS)]),
                 track_ids=track_ids, cold_song_index=cold, attrs={})
    if "valid" in {f.name for f in dataclasses.fields(PlaySplit)}:
        parts["valid"] = sp.csr_matrix(train.shape, dtype=train.dtype)
    split = PlaySplit(**parts)
    write_play_split(str(folder / "plays.h5"), split)
    for name in ("warm", "full"):
        write_factors(str(folder / f"{name}.h5"), users, songs, split.user_ids, split.song_ids,
                      track_ids, cold, np.ones(N_USERS, bool), ~is_cold if name == "warm"
                      else np.ones(N_SONGS, bool), {"factors": F})
    # Spectrogram statistics that carry the factors (so the linear baseline can learn).
    mixing = rng.normal(size=(F, N_MELS))
    with ShardWriter(str(folder / "shard.h5"), N_MELS) as w:
        for i, tid in enumerate(track_ids):
            frames = songs[i] @ mixing + rng.normal(0, 2.0, size=(20, N_MELS))
            w.append(tid, frames)
    return folder, songs, track_ids


def test_good_predictions_approach_the_upper_bound(world):
    folder, songs, track_ids = world
    rng = np.random.default_rng(1)
    _write_predictions(folder / "pred.h5", track_ids, songs + rng.normal(0, 0.3, songs.shape))
    out = folder / "metrics.json"
    summary = evaluate_cold_start(
        str(folder / "plays.h5"), str(folder / "warm.h5"), str(folder / "full.h5"),
        str(folder / "pred.h5"), [str(folder / "shard.h5")], str(out),
        track_tags=lambda ids: [["rock"] for _ in ids],
        params=ColdStartParams(n_example_users=3, top_n=5))
    assert json.loads(out.read_text()) == json.loads(json.dumps(summary))
    assert set(summary["models"]) == {"cnn", "linear", "random", "upper_bound"}
    assert set(summary["paired"]) == {"cnn_minus_linear", "cnn_minus_random",
                                      "upper_bound_minus_cnn"}
    for name, metrics in {**summary["models"], **summary["paired"]}.items():
        assert set(metrics) == {"auc", "map_at_500", "precision_at_10", "recall_at_10",
                                "ndcg_at_10"}, name
        for iv in metrics.values():
            assert iv["ci_low"] <= iv["value"] <= iv["ci_high"]
    assert summary["bootstrap"] == {"unit": "user", "n_units": summary["n_users"],
                                    "n_resamples": 1000, "confidence": 0.95, "seed": 0,
                                    "method": "percentile"}
    assert not {"auc", "random_auc", "linear_map_at_500"} & set(summary)
    models = {name: {m: iv["value"] for m, iv in metrics.items()}
              for name, metrics in summary["models"].items()}
    assert summary["n_cold_songs_evaluated"] == 20
    assert abs(models["random"]["auc"] - 0.5) < 0.1
    assert models["upper_bound"]["auc"] > 0.9
    assert summary["relative_auc"] > 0.7
    assert summary["relative_auc"] == pytest.approx(
        (models["cnn"]["auc"] - models["random"]["auc"])
        / (models["upper_bound"]["auc"] - models["random"]["auc"]))
    assert models["cnn"]["map_at_500"] > models["random"]["map_at_500"]
    assert models["linear"]["auc"] > models["random"]["auc"]
    assert summary["paired"]["cnn_minus_random"]["auc"]["ci_low"] > 0
    assert summary["paired"]["cnn_minus_random"]["auc"]["value"] == pytest.approx(
        models["cnn"]["auc"] - models["random"]["auc"])
    assert summary["linear_baseline_fit_songs"] == 40
    examples = summary["examples"]
    assert len(examples) == 3 and len(examples[0]["top"]) == 5
    assert examples[0]["top"][0]["tags"] == ["rock"]
    assert any(item["played"] for ex in examples for item in ex["top"])


def test_useless_predictions_score_like_random(world):
    folder, songs, track_ids = world
    rng = np.random.default_rng(2)
    _write_predictions(folder / "noise.h5", track_ids, rng.normal(size=songs.shape))
    summary = evaluate_cold_start(
        str(folder / "plays.h5"), str(folder / "warm.h5"), str(folder / "full.h5"),
        str(folder / "noise.h5"), [str(folder / "shard.h5")], str(folder / "m2.json"))
    assert summary["relative_auc"] < 0.3


def test_missing_predictions_are_counted_not_fatal(world):
    folder, songs, track_ids = world
    keep = [i for i in range(N_SONGS) if i not in (0, 3)]  # two cold songs lost
    _write_predictions(folder / "part.h5", track_ids[keep], songs[keep])
    summary = evaluate_cold_start(
        str(folder / "plays.h5"), str(folder / "warm.h5"), str(folder / "full.h5"),
        str(folder / "part.h5"), [str(folder / "shard.h5")], str(folder / "m3.json"))
    assert summary["n_cold_songs_evaluated"] == 18
    assert summary["n_cold_songs_skipped"] == {"no prediction or spectrogram": 2}


def test_factors_of_another_matrix_are_refused(world, tmp_path):
    folder, songs, track_ids = world
    write_factors(str(tmp_path / "other.h5"), np.zeros((3, F)), np.zeros((2, F)),
                  ["a", "b", "c"], ["x", "y"], ["t1", "t2"], [0], np.ones(3, bool),
                  np.ones(2, bool), {})
    with pytest.raises(ValueError, match="do not belong to the play matrix"):
        evaluate_cold_start(str(folder / "plays.h5"), str(tmp_path / "other.h5"),
                            str(folder / "full.h5"), str(folder / "pred.h5"),
                            [str(folder / "shard.h5")], str(tmp_path / "m.json"))


def test_linear_baseline_fits_only_on_the_given_tracks(world, tmp_path):
    folder, songs, track_ids = world
    _write_predictions(tmp_path / "pred.h5", track_ids, songs)
    warm = [t for i, t in enumerate(track_ids) if i % 3]
    args = (str(folder / "plays.h5"), str(folder / "warm.h5"), str(folder / "full.h5"),
            str(tmp_path / "pred.h5"), [str(folder / "shard.h5")])
    summary = evaluate_cold_start(*args, str(tmp_path / "m4.json"), fit_tracks=warm[:25],
                                  params=ColdStartParams(n_resamples=200))
    assert summary["linear_baseline_fit_songs"] == 25
    # Cold songs in fit_tracks are not fitted on: only warm songs are.
    summary = evaluate_cold_start(*args, str(tmp_path / "m5.json"),
                                  fit_tracks=list(track_ids[:30]),
                                  params=ColdStartParams(n_resamples=200))
    assert summary["linear_baseline_fit_songs"] == 20
    with pytest.raises(ValueError, match="fewer than two warm songs of fit_tracks"):
        evaluate_cold_start(*args, str(tmp_path / "m6.json"), fit_tracks=warm[:1])


def test_narrow_interval_limits_are_warned_about(world, tmp_path):
    folder, songs, track_ids = world
    _write_predictions(tmp_path / "pred.h5", track_ids, songs)
    summary = evaluate_cold_start(
        str(folder / "plays.h5"), str(folder / "warm.h5"), str(folder / "full.h5"),
        str(tmp_path / "pred.h5"), [str(folder / "shard.h5")], str(tmp_path / "m.json"),
        params=ColdStartParams(n_resamples=300, max_interval_width=0.02))
    # 120 users: enough units, but not for intervals as narrow as 0.02.
    assert summary["warnings"]
    assert not any(w.startswith("only") for w in summary["warnings"])
    assert any(w.startswith("random auc: 95% interval wider than 0.02") and
               w.endswith(f", {summary['n_users']} users)") for w in summary["warnings"])
