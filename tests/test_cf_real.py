"""PlayMatrix + Factorize + EvaluateCF library functions on real Taste Profile triplets."""

import json
from pathlib import Path

import numpy as np
import pytest

from krotos.cf.als import factorize_play_split, read_factors
from krotos.cf.params import ALSParams, PlayMatrixParams
from krotos.cf.evaluate import evaluate_cf
from krotos.cf.playmatrix import build_play_split, read_play_split

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real" / "taste_profile"
TRIPLETS = REAL / "triplets_head2000.txt"
MISMATCHES = REAL / "sid_mismatches_head100.txt"

pytestmark = pytest.mark.skipif(not TRIPLETS.exists(),
                                reason=f"real Taste Profile fixture not found at {REAL}")


def _song_to_track(drop=()):
    """A song -> track map as TagDB.song_to_track() gives it: mismatched pairs removed."""
    from krotos.msd.mismatches import read_sid_mismatches
    from krotos.msd.triplets import iter_triplets

    bad = {song for song, _ in read_sid_mismatches(MISMATCHES)}
    songs = sorted({song for _, song, _ in iter_triplets(TRIPLETS)})
    return {s: "TR" + s[2:] for s in songs if s not in bad and s not in drop}


def test_real_triplets_keep_the_plays_of_songs_missing_from_the_track_list(tmp_path):
    lines = [line.split("\t") for line in TRIPLETS.read_text().splitlines()]
    s2t = _song_to_track()
    dropped = sorted(s2t)[:10]
    for song in dropped:
        del s2t[song]
    summary = build_play_split(str(TRIPLETS), str(tmp_path / "plays.h5"), s2t,
                               params=PlayMatrixParams(seed=0, chunk_lines=300))
    assert summary["read"]["lines"] == len(lines) == 2000
    assert summary["bad_lines"]["total"] == 0
    # Songs without a track (10 dropped here, and the mismatched ones) stay items.
    no_track = {s for _, s, _ in lines} - set(s2t)
    assert len(no_track) >= 10 and set(dropped) <= no_track
    assert summary["read"]["songs_without_track"] == len(no_track)
    assert summary["read"]["plays_of_songs_without_track"] == sum(
        1 for u, s, c in lines if s in no_track)
    split = read_play_split(str(tmp_path / "plays.h5"))
    total = split.train + split.valid + split.heldout
    assert total.sum() == sum(int(c) for u, s, c in lines)
    # Spot-check that ids and counts line up with the text file.
    for u, s, c in (lines[123], next(x for x in lines if x[1] in dropped)):
        i, j = list(split.user_ids).index(u), list(split.song_ids).index(s)
        assert total[i, j] == int(c)
    assert set(split.track_ids) - {""} <= set(s2t.values())
    assert {s for s, t in zip(split.song_ids, split.track_ids) if t == ""} == no_track


def test_als_beats_random_and_popularity_on_real_plays(tmp_path):
    # The slice is tiny (60 users), so a single split is noisy: average over seeds.
    # On so few users, holding a play out lowers exactly that song's training
    # popularity, which puts the popularity baseline below chance here.
    s2t = _song_to_track()
    results = []
    for seed in range(4):
        plays, factors = tmp_path / f"plays{seed}.h5", tmp_path / f"factors{seed}.h5"
        songs = sorted(s2t)
        cold = np.random.default_rng(seed).choice(songs, size=len(songs) // 10, replace=False)
        build_play_split(str(TRIPLETS), str(plays), s2t, cold_songs=cold,
                         params=PlayMatrixParams(min_song_users=2, holdout_fraction=0.2,
                                                 seed=seed))
        factorize_play_split(str(plays), str(factors),
                             ALSParams(factors=20, regularization=1.0, alpha=2.0, iterations=15,
                                       seed=seed))
        out = tmp_path / f"metrics{seed}.json"
        evaluate_cf(str(plays), str(factors), str(out), seed=seed)
        results.append(json.loads(out.read_text())["models"])
    mean = {model: {m: np.mean([r[model][m]["value"] for r in results])
                    for m in ("auc", "map_at_500")}
            for model in ("als", "popularity", "random")}
    assert mean["als"]["map_at_500"] > 1.8 * mean["random"]["map_at_500"]
    assert mean["als"]["auc"] > mean["random"]["auc"] + 0.05
    assert mean["als"]["map_at_500"] > mean["popularity"]["map_at_500"]
    assert mean["als"]["auc"] > mean["popularity"]["auc"]
    f = read_factors(str(tmp_path / "factors0.h5"))
    split = read_play_split(str(tmp_path / "plays0.h5"))
    assert f["song_factors"].shape == (len(split.song_ids), 20)
    assert f["user_factors"].shape == (len(split.user_ids), 20)
