"""Evaluations with nothing to score fail by name; a metric without a value is explained.

An evaluation over no user (or no scorable tag) would write a metrics.json of
nulls that looks like a result. Each evaluation fails instead, naming its
input and why nothing could be scored; and a metric that is undefined for
every user evaluated carries a warning beside it.
"""

import dataclasses
import json
import os

import numpy as np
import pytest
import scipy.sparse as sp

from krotos.cf.als import write_factors
from krotos.cf.evaluate import evaluate_cf
from krotos.cf.playmatrix import PlaySplit, read_play_split, write_play_split
from krotos.msd.errors import EmptyResultError


def _split(train, heldout, cold=()):
    n_users, n_songs = train.shape
    return PlaySplit(train=sp.csr_matrix(train), valid=sp.csr_matrix(train.shape, dtype=np.int64),
                     heldout=sp.csr_matrix(heldout),
                     user_ids=np.array([f"u{i}" for i in range(n_users)]),
                     song_ids=np.array([f"SO{j:016d}" for j in range(n_songs)]),
                     track_ids=np.array([f"TR{j:016d}" for j in range(n_songs)]),
                     cold_song_index=np.asarray(cold, dtype=np.int64),
                     attrs={"holdout_fraction": 0.2})


def _files(tmp_path, split):
    plays, factors = tmp_path / "plays.h5", tmp_path / "factors.h5"
    write_play_split(str(plays), split)
    rng = np.random.default_rng(0)
    n_users, n_songs = split.train.shape
    write_factors(str(factors), rng.normal(size=(n_users, 3)), rng.normal(size=(n_songs, 3)),
                  split.user_ids, split.song_ids, split.track_ids, split.cold_song_index,
                  np.ones(n_users, bool), np.ones(n_songs, bool), {"factors": 3})
    return str(plays), str(factors)


def test_cf_evaluation_without_a_warm_held_out_play_fails(tmp_path):
    train = np.array([[1, 2, 0, 0], [0, 1, 3, 0]])
    heldout = np.array([[0, 0, 0, 4], [0, 0, 0, 2]])  # only the cold song 3 is held out
    plays, factors = _files(tmp_path, _split(train, heldout, cold=[3]))
    out = tmp_path / "metrics.json"
    with pytest.raises(EmptyResultError, match=r"plays\.h5: no scorable user: none of the 2 "
                                               r"users has a held-out play of one of the 3 warm"):
        evaluate_cf(plays, factors, str(out))
    assert not out.exists()


def test_cf_metric_undefined_for_every_user_is_explained(tmp_path):
    # Each user's one candidate is their held-out song: AUC has nothing to rank below it.
    train = np.array([[3, 0], [0, 2]])
    heldout = np.array([[0, 1], [5, 0]])
    plays, factors = _files(tmp_path, _split(train, heldout))
    out = tmp_path / "metrics.json"
    result = evaluate_cf(plays, factors, str(out), n_resamples=50)
    written = json.loads(out.read_text())
    assert written["models"]["als"]["auc"]["value"] is None
    assert written["models"]["als"]["map_at_500"]["value"] == 1.0
    explained = [w for w in written["warnings"] if w.startswith("als auc: no value")]
    assert explained and "AUC needs one that is not" in explained[0]
    # Every null in the file has its line under warnings.
    for group in ("models", "paired"):
        for name, metrics in result[group].items():
            for metric, iv in metrics.items():
                if iv["value"] is None:
                    assert any(w.startswith(f"{name} {metric}: no value") for w in
                               written["warnings"]), (name, metric)


@pytest.fixture(scope="module")
def tiny():
    pytest.importorskip("tensorflow")
    from conftest import tiny_model

    return tiny_model.build()


def test_cold_start_evaluation_without_a_held_out_cold_play_fails(tiny, tmp_path):
    from krotos.coldstart.evaluate import evaluate_cold_start

    folders = tiny["folders"]
    split = read_play_split(os.path.join(folders["PlayMatrix"], "plays.h5"))
    empty = dataclasses.replace(split, heldout=sp.csr_matrix(split.heldout.shape, dtype=np.int64))
    plays = tmp_path / "plays.h5"
    write_play_split(str(plays), empty)
    factors = os.path.join(folders["Factorize"], "factors.h5")
    out = tmp_path / "metrics.json"
    with pytest.raises(EmptyResultError, match=r"plays\.h5: no scorable user: no user has a "
                                               r"held-out play of the 4 cold songs"):
        evaluate_cold_start(str(plays), factors, factors,
                            os.path.join(tiny["model_dir"], "predicted_factors.h5"),
                            [tiny["shard"]], str(out))
    assert not out.exists()


def test_tag_evaluation_without_a_scorable_tag_fails(tiny):
    from conftest import tiny_model
    from krotos.model.evaluate import evaluate_tags
    from krotos.model.params import TagEvaluationParams

    ids = tiny["track_ids"]
    no_positive = {t: np.zeros(len(tiny_model.VOCAB), np.float32) for t in ids}
    model = os.path.join(tiny["folders"]["TrainTagModel"], "model.keras")
    with pytest.raises(EmptyResultError, match=r"no scorable tag on the 4 test clips .*none of "
                                               r"the 3 vocabulary tags has both positive and "
                                               r"negative clips \(3 without a positive"):
        evaluate_tags(model, [tiny["shard"]], {"train": ids[:-4], "valid": [], "test": ids[-4:]},
                      no_positive, tiny_model.VOCAB, params=TagEvaluationParams(n_resamples=20))
