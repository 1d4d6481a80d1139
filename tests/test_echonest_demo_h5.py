"""The demo's MSD per-track HDF5 writer: real layout, sensible analysis, round trip."""

import os

import h5py
import numpy as np
import pytest
import soundfile as sf

from conftest import real_fixture
from krotos.demo.msd_h5 import (
    analyze_audio, read_track_rows, write_msd_h5_tree, write_msd_track_h5)
from krotos.features import echonest as en
from krotos.features.echonest_shard import TrackFiles, extract_echonest_shard, msd_h5_path
from krotos.msd.hdf5 import MSDFile

SR = 44100
#: A note every half second (120 BPM): A4, C5, E5, G4, then again.
NOTES = [440.0, 523.25, 659.26, 392.0]
NOTE_PITCH_CLASS = [9, 0, 4, 7]

ROW = {"track_id": "TRABCDE128F9312345", "title": "Test Tune", "song_id": "SOABCDE12A8C123456",
       "release": "Tests", "artist_id": "ARABCDE1187B9A1234", "artist_mbid": "",
       "artist_name": "Pytest Ensemble \u00e9", "duration": 8.0, "artist_familiarity": 0.5,
       "artist_hotttnesss": 0.4, "year": 2013, "track_7digitalid": 1234567, "shs_perf": -1,
       "shs_work": 0, "artist_terms": ["test", "synthetic"]}


def _tune(seconds=8.0, seed=0):
    """Struck notes at 120 BPM, each starting with a click: clear onsets, beats, pitches."""
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    for k, start in enumerate(np.arange(0, seconds, 0.5)):
        idx = (t >= start) & (t < start + 0.5)
        local = t[idx] - start
        freq = NOTES[k % len(NOTES)]
        y[idx] += 0.5 * np.exp(-4 * local) * np.sin(2 * np.pi * freq * local)
        y[idx] += 0.4 * np.exp(-300 * local) * np.random.default_rng([seed, k]).normal(
            size=idx.sum())
    return np.stack([y, 0.9 * y], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def tune_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo_h5") / "TRABCDE128F9312345.h5"
    analysis = write_msd_track_h5(path, ROW, _tune(), SR)
    return str(path), analysis


def test_analysis_finds_notes_beats_and_pitches(tune_file):
    _, a = tune_file
    starts = a["segments_start"]
    assert starts[0] == 0.0 and np.all(np.diff(starts) > 0)
    assert 14 <= len(starts) <= 40
    # every note onset (every 0.5 s) starts a segment, within two hops
    for onset in np.arange(0.5, 8.0, 0.5):
        assert np.min(np.abs(starts - onset)) < 0.05
    assert 110 <= a["tempo"] <= 130
    assert np.median(np.diff(a["beats_start"])) == pytest.approx(0.5, abs=0.03)
    assert len(a["bars_start"]) == len(a["beats_start"][::4])
    # the loudest pitch class of a segment is the note being played
    pitches = a["segments_pitches"]
    assert np.allclose(pitches.max(axis=1), 1.0) and pitches.min() >= 0
    mids = starts + 0.02
    played = [NOTE_PITCH_CLASS[int(m // 0.5) % 4] for m in mids]
    assert np.mean(np.argmax(pitches, axis=1) == played) > 0.8
    loud = a["segments_loudness_max"]
    assert np.all(loud <= 0) and np.all(loud >= -60)
    assert np.all(a["segments_loudness_start"] <= loud + 1e-9)
    assert a["segments_timbre"].shape == (len(starts), 12)
    assert a["duration"] == pytest.approx(8.0)


def test_written_file_reads_back_like_a_real_one(tune_file):
    path, a = tune_file
    with MSDFile(path) as f:
        assert len(f) == 1
        song = f.song(0)
        np.testing.assert_array_equal(f.array("segments_start"), a["segments_start"])
        np.testing.assert_array_equal(f.array("segments_timbre"), a["segments_timbre"])
        assert list(f.array("artist_terms")) == ["test", "synthetic"]
    for key in ("track_id", "title", "song_id", "artist_name", "year", "track_7digitalid",
                "artist_familiarity"):
        assert song[key] == ROW[key]
    assert song["duration"] == pytest.approx(8.0)
    assert song["analysis_sample_rate"] == 22050
    assert np.isnan(song["artist_latitude"]) and song["artist_7digitalid"] == -1
    matrix, warnings = en.features_of_file(path, en.EchonestParams(), track_id=ROW["track_id"])
    assert matrix.shape == (80, 25) and warnings == []
    beats, _ = en.features_of_file(path, en.EchonestParams(grid="beats"))
    assert beats.shape == (len(a["beats_start"]), 25)


def test_layout_matches_the_real_msd_files(tune_file):
    real = sorted(real_fixture("msd_h5").glob("TR*.h5"))[0]

    def layout(p):
        out = {}
        with h5py.File(p, "r") as f:
            out["/"] = (sorted(f.attrs), None, None, None, None)

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    out[name] = (sorted(obj.attrs), obj.dtype.descr, obj.shape[1:], obj.chunks,
                                 (obj.compression, obj.compression_opts, obj.shuffle,
                                  obj.maxshape[0]), obj.attrs["TITLE"])
                else:
                    out[name] = (sorted(obj.attrs), obj.attrs["TITLE"])
            f.visititems(visit)
        return out

    ours, theirs = layout(tune_file[0]), layout(real)
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert ours[name] == theirs[name], name


def test_tree_of_previews(tmp_path, tune_file):
    previews = tmp_path / "previews"
    previews.mkdir()
    tune = _tune(seconds=6.0, seed=1)
    sf.write(previews / "1234567.mp3", tune, SR, format="MP3")  # by 7digital id
    rows = [dict(ROW), dict(ROW, track_id="TRXYZAB128F9300002", track_7digitalid=None),
            dict(ROW, track_id="TRXYZAC128F9300003", track_7digitalid=7654321)]
    sf.write(previews / "TRXYZAB128F9300002.wav", tune[:, 0], 22050)  # by track id
    (previews / "7654321.mp3").write_bytes(b"not an mp3 at all")
    messages = []
    summary = write_msd_h5_tree(tmp_path / "msd_h5", rows, previews,
                                progress=lambda f, m: messages.append((f, m)))
    assert summary["written"] == 2
    assert list(summary["skipped"]) == ["TRXYZAC128F9300003"]
    assert summary["skipped"]["TRXYZAC128F9300003"].startswith("undecodable")
    assert messages[-1][0] == 1.0
    assert os.path.isfile(tmp_path / "msd_h5" / "A" / "B" / "C" / "TRABCDE128F9312345.h5")
    assert os.path.isfile(msd_h5_path(tmp_path / "msd_h5", "TRXYZAB128F9300002"))
    results = extract_echonest_shard([r["track_id"] for r in rows], TrackFiles(tmp_path / "msd_h5"),
                                     str(tmp_path / "shard.h5"), en.EchonestParams())
    assert [r["status"] for r in results.values()] == ["ok", "ok", "missing_h5"]


def test_track_rows_from_track_metadata_db(tmp_path):
    import sqlite3

    from krotos.demo.writer import TRACK_METADATA_SCHEMA

    db = tmp_path / "track_metadata.db"
    with sqlite3.connect(db) as con:
        con.execute(TRACK_METADATA_SCHEMA)
        con.execute("INSERT INTO songs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [ROW[k] for k in ("track_id", "title", "song_id", "release", "artist_id",
                                      "artist_mbid", "artist_name", "duration",
                                      "artist_familiarity", "artist_hotttnesss", "year",
                                      "track_7digitalid", "shs_perf", "shs_work")])
    con.close()
    rows = read_track_rows(db)
    assert rows == [{k: v for k, v in ROW.items() if k != "artist_terms"}]


def test_real_preview_gives_echo_nest_like_segments():
    from krotos.audio.decode import load_audio

    samples, sr = load_audio(real_fixture("audio", "TRWJAZW128F42760DD_test.mp3"))
    a = analyze_audio(samples, sr)
    per_second = len(a["segments_start"]) / a["duration"]
    # The Echo Nest found about 4 segments a second in the real MSD tracks.
    assert 1.5 < per_second < 12
    assert 50 < a["tempo"] < 220
    assert np.all(np.isfinite(a["segments_timbre"]))
    assert np.diff(a["segments_start"]).max() <= 1.0 + 1e-9


def test_bad_audio_is_refused(tmp_path):
    with pytest.raises(ValueError, match="track_id"):
        write_msd_track_h5(tmp_path / "x.h5", {"title": "no id"}, _tune(1.0), SR)
    with pytest.raises(ValueError, match="non-empty"):
        write_msd_track_h5(tmp_path / "x.h5", ROW, np.zeros(0, np.float32), SR)
    assert not os.path.exists(tmp_path / "x.h5")


def test_silence_still_makes_a_valid_file(tmp_path):
    path = tmp_path / "silent.h5"
    a = write_msd_track_h5(path, ROW, np.zeros(SR * 6, np.float32), SR)
    assert np.allclose(a["segments_pitches"], 1.0)
    assert np.all(a["segments_loudness_max"] == -60)
    matrix, _ = en.features_of_file(str(path), en.EchonestParams())
    assert matrix.shape == (60, 25) and np.all(np.isfinite(matrix))
