"""Echo Nest segment features: real MSD track files, the grids, and every bad input."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest

from krotos.shards import status as st
from krotos.shards.manifest import index_shards, read_manifest
from krotos.shards.reader import ShardReader
from krotos.demo.msd_h5 import write_msd_track_arrays
from krotos.features import echonest as en
from krotos.features.echonest_shard import (
    TrackFiles, extract_echonest_shard, extract_echonest_shard_files, msd_h5_path)
from conftest import real_fixture

REAL_IDS = ["TRABFDT12903CADD73", "TRCECVD128F9313C63", "TRDWTVM128F92EC39C",
            "TRDXXXL128F930304F", "TRFMOEF128F42AA4D1", "TRFNRQK128F147A04E",
            "TRFRTXJ128F422890A", "TRGRUXA128F4292BD0"]


@pytest.fixture(scope="module")
def real_dir():
    return real_fixture("msd_h5")


def _real(real_dir, track_id):
    return str(real_dir / f"{track_id}.h5")


# --------------------------------------------------------------------------- real files

@pytest.mark.parametrize("track_id", REAL_IDS)
def test_real_track_fixed_grid(real_dir, track_id):
    path = _real(real_dir, track_id)
    matrix, warnings = en.features_of_file(path, en.EchonestParams(), track_id=track_id)
    with h5py.File(path, "r") as f:
        duration = float(f["analysis/songs"][0]["duration"])
        n_segments = len(f["analysis/segments_start"])
    assert warnings == []
    assert matrix.dtype == np.float32
    assert matrix.shape == (int(np.floor(duration * 10)), 25)
    assert np.all(np.isfinite(matrix))
    pitches, loudness = matrix[:, 12:24], matrix[:, 24]
    assert pitches.min() >= 0 and pitches.max() <= 1 + 1e-6
    assert -60 - 1e-6 <= loudness.min() and loudness.max() <= 6
    # Hundreds of distinct frames: the segments really vary over time.
    assert len(np.unique(matrix[:, 0])) > min(100, n_segments // 4)


@pytest.mark.parametrize("track_id", REAL_IDS[:3])
def test_real_track_beat_grid(real_dir, track_id):
    path = _real(real_dir, track_id)
    matrix, _ = en.features_of_file(path, en.EchonestParams(grid="beats"))
    with h5py.File(path, "r") as f:
        beats = f["analysis/beats_start"][()]
    assert matrix.shape == (len(beats), 25)
    assert np.all(np.isfinite(matrix))


def test_fixed_grid_holds_each_segment_over_its_duration(real_dir):
    path = _real(real_dir, REAL_IDS[0])
    analysis = en.read_track_analysis(path, loudness="max")
    matrix, _ = en.echonest_matrix(analysis, grid="fixed", frame_rate=10)
    starts = analysis["segments_start"]
    ends = np.append(starts[1:], analysis["duration"])
    long_ones = np.flatnonzero(ends - starts > 0.35)
    assert len(long_ones) > 5
    for i in long_ones:
        # a frame wholly inside segment i carries exactly its values
        k = int(np.ceil(starts[i] * 10))
        assert (k + 1) / 10 <= ends[i]
        np.testing.assert_allclose(matrix[k, :12], analysis["segments_timbre"][i], rtol=1e-6)
        np.testing.assert_allclose(matrix[k, 12:24], analysis["segments_pitches"][i],
                                   rtol=1e-6)
        assert matrix[k, 24] == pytest.approx(analysis["loudness"][i], rel=1e-6)


def test_frames_spanning_segments_are_duration_weighted_means():
    analysis = _analysis(starts=[0.0, 0.05, 0.2], duration=0.3)
    analysis["segments_timbre"][:, 0] = [10.0, 20.0, 30.0]
    matrix, _ = en.echonest_matrix(analysis, grid="fixed", frame_rate=10)
    # frame 0 = [0, 0.1): half segment 0, half segment 1; frame 1 = segment 1; frame 2 = 2
    np.testing.assert_allclose(matrix[:, 0], [15.0, 20.0, 30.0], rtol=1e-6)
    beats = dict(analysis, beats_start=np.array([0.05, 0.15]))
    matrix, _ = en.echonest_matrix(beats, grid="beats")
    np.testing.assert_allclose(matrix[:, 0], [20.0, (0.05 * 20 + 0.1 * 30) / 0.15], rtol=1e-6)


def test_frame_rate_and_loudness_choice(real_dir):
    path = _real(real_dir, REAL_IDS[1])
    m10, _ = en.features_of_file(path, en.EchonestParams(frame_rate=10))
    m4, _ = en.features_of_file(path, en.EchonestParams(frame_rate=4))
    assert m4.shape[0] == pytest.approx(m10.shape[0] * 0.4, abs=1)
    start, _ = en.features_of_file(path, en.EchonestParams(loudness="start"))
    assert np.all(start[:, 24] <= m10[:, 24] + 1e-4)  # a segment's start is below its max
    assert not np.allclose(start[:, 24], m10[:, 24])


# --------------------------------------------------------------------------- shards

def test_shard_of_real_files_in_msd_tree(real_dir, tmp_path):
    tree = tmp_path / "msd"
    for tid in REAL_IDS:
        target = msd_h5_path(tree, tid)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(_real(real_dir, tid), target)
    assert TrackFiles(tree).locate(REAL_IDS[0]) == (msd_h5_path(tree, REAL_IDS[0]), 0)
    tracks = REAL_IDS + ["TRZZZZZ128F0000000"]
    shard_dirs = []
    for k, part in enumerate((tracks[:5], tracks[5:])):
        out = tmp_path / "EchonestFeatures" / f"s{k}"
        out.mkdir(parents=True)
        fractions = []
        extract_echonest_shard_files(part, str(tree), str(out), en.EchonestParams(),
                                     progress=lambda f, m, fractions=fractions: fractions.append(f))
        assert fractions[-1] == 1.0
        shard_dirs.append(str(out))
    index_dir = tmp_path / "EchonestIndex" / "sig"
    index_dir.mkdir(parents=True)
    index_shards(shard_dirs, str(index_dir))
    manifest = read_manifest(index_dir / "manifest.json")
    assert manifest["summary"] == {"ok": 8, "missing_h5": 1}
    assert manifest["params"]["feature"] == "echonest"
    assert manifest["params"]["sample_rate"] / manifest["params"]["hop_length"] == 10
    missing = manifest["tracks"]["TRZZZZZ128F0000000"]
    assert missing["status"] == "missing_h5" and "TRZZZZZ128F0000000" in missing["reason"]
    seen = []
    for shard in manifest["shards"]:
        with ShardReader(shard["path"]) as reader:
            assert reader.n_channels == 25
            assert reader.params["grid"] == "fixed" and reader.params["frame_rate"] == 10
            for tid, frames in reader:
                assert np.all(np.isfinite(frames)) and frames.shape[1] == 25
                seen.append(tid)
    assert seen == REAL_IDS


def test_flat_folder_and_aggregate_file(real_dir, tmp_path):
    flat = TrackFiles(real_dir)
    assert flat.locate(REAL_IDS[2]) == (_real(real_dir, REAL_IDS[2]), 0)
    assert flat.locate("TRNOTHERE12345678A") is None
    # An aggregate file: two tracks' rows and arrays end to end, idx_* pointing in.
    agg = tmp_path / "aggregate.h5"
    sources = [h5py.File(_real(real_dir, t), "r") for t in REAL_IDS[:2]]
    with h5py.File(agg, "w") as out:
        for group in ("metadata", "analysis", "musicbrainz"):
            rows = np.concatenate([s[f"{group}/songs"][()] for s in sources])
            for name in sources[0][group]:
                if name == "songs":
                    continue
                parts = [s[f"{group}/{name}"][()] for s in sources]
                if f"idx_{name}" in rows.dtype.names:
                    rows[f"idx_{name}"] = [0, len(parts[0])]
                out[f"{group}/{name}"] = np.concatenate(parts)
            out[f"{group}/songs"] = rows
    for s in sources:
        s.close()
    files = TrackFiles(agg)
    assert files.locate(REAL_IDS[1]) == (os.path.abspath(agg), 1)
    results = extract_echonest_shard(REAL_IDS[:2], files, str(tmp_path / "agg.h5"),
                                     en.EchonestParams())
    assert [r["status"] for r in results.values()] == ["ok", "ok"]
    with ShardReader(tmp_path / "agg.h5") as reader:
        direct, _ = en.features_of_file(_real(real_dir, REAL_IDS[1]), en.EchonestParams())
        np.testing.assert_array_equal(reader[REAL_IDS[1]], direct)


def test_summary_file_without_arrays_is_refused(tmp_path):
    summary = tmp_path / "msd_summary_file.h5"
    write_msd_track_arrays(summary, {"track_id": "TRAAAAA128F0000000"}, {"duration": 1.0})
    with h5py.File(summary, "a") as f:
        del f["analysis/segments_start"]
    with pytest.raises(ValueError, match="no analysis/segments_start"):
        TrackFiles(summary)
    with pytest.raises(ValueError, match="does not exist"):
        TrackFiles(tmp_path / "nowhere")


# --------------------------------------------------------------------------- bad input

GOOD_ID = "TRAAAAA128F0000001"


def _analysis(starts=None, duration=20.0, seed=0):
    rng = np.random.default_rng(seed)
    starts = np.arange(0, duration - 0.1, 0.25) if starts is None else np.asarray(starts, float)
    n = len(starts)
    return {
        "track_id": GOOD_ID,
        "duration": float(duration),
        "segments_start": starts,
        "segments_timbre": rng.normal(0, 50, (n, 12)),
        "segments_pitches": rng.uniform(0, 1, (n, 12)),
        "loudness": rng.uniform(-40, -5, n),
        "beats_start": np.arange(0.1, duration, 0.5),
    }


def _write(path, analysis, track_id=GOOD_ID):
    arrays = {k: v for k, v in analysis.items() if k not in ("track_id", "loudness")}
    arrays["segments_loudness_max"] = analysis["loudness"]
    arrays["segments_loudness_start"] = analysis["loudness"] - 3
    write_msd_track_arrays(path, {"track_id": track_id}, arrays)
    return str(path)


def _status(tmp_path, name, analysis=None, mutate=None, params=None, track_id=GOOD_ID):
    path = _write(tmp_path / f"{name}.h5", _analysis() if analysis is None else analysis)
    if mutate:
        with h5py.File(path, "a") as f:
            mutate(f)
    try:
        matrix, warnings = en.features_of_file(path, params or en.EchonestParams(),
                                               track_id=track_id)
    except st.Rejected as rej:
        assert path in rej.reason  # every reason names the file
        return rej.status, rej.reason, None
    return st.OK, "; ".join(warnings), matrix


def _replace(f, name, values):
    del f[name]
    f[name] = values


def test_a_good_synthetic_file_is_ok(tmp_path):
    status, reason, matrix = _status(tmp_path, "good")
    assert (status, reason) == ("ok", "")
    assert matrix.shape == (200, 25)


def test_missing_segment_arrays(tmp_path):
    status, reason, _ = _status(tmp_path, "no_timbre",
                                mutate=lambda f: f.__delitem__("analysis/segments_timbre"))
    assert status == st.BAD_ANALYSIS and "analysis/segments_timbre" in reason
    status, reason, _ = _status(tmp_path, "no_loud",
                                mutate=lambda f: f.__delitem__("analysis/segments_loudness_max"))
    assert status == st.BAD_ANALYSIS and "segments_loudness_max" in reason
    # the other loudness array is enough when it is the one asked for
    status, _, _ = _status(tmp_path, "no_loud2",
                           mutate=lambda f: f.__delitem__("analysis/segments_loudness_max"),
                           params=en.EchonestParams(loudness="start"))
    assert status == st.OK


def test_zero_segments(tmp_path):
    status, reason, _ = _status(tmp_path, "zero", analysis=_analysis(starts=[]))
    assert status == st.BAD_ANALYSIS and "zero segments" in reason


def test_arrays_of_different_lengths(tmp_path):
    status, reason, _ = _status(
        tmp_path, "short_pitches",
        mutate=lambda f: _replace(f, "analysis/segments_pitches",
                                  f["analysis/segments_pitches"][:-3]))
    assert status == st.BAD_ANALYSIS and "segments_pitches" in reason


@pytest.mark.parametrize("array", ["segments_loudness_max", "segments_timbre", "segments_start"])
def test_nan_values(tmp_path, array):
    def mutate(f):
        values = f[f"analysis/{array}"][()]
        values.flat[7] = np.nan
        _replace(f, f"analysis/{array}", values)
    status, reason, _ = _status(tmp_path, f"nan_{array}", mutate=mutate)
    assert status == st.BAD_ANALYSIS and "NaN" in reason


def test_segments_out_of_order_are_sorted_with_a_warning(tmp_path):
    good = _analysis()
    _, _, expected = _status(tmp_path, "in_order", analysis=good)
    swapped = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in good.items()}
    order = np.arange(len(good["segments_start"]))
    order[[10, 11]] = order[[11, 10]]  # two rows swapped, values travel with them
    for key in ("segments_start", "segments_timbre", "segments_pitches", "loudness"):
        swapped[key] = good[key][order]
    status, reason, matrix = _status(tmp_path, "swapped", analysis=swapped)
    assert status == st.OK and "sorted by start time" in reason
    np.testing.assert_array_equal(matrix, expected)


def test_duplicate_and_out_of_range_starts_are_dropped_with_a_warning(tmp_path):
    analysis = _analysis()
    starts = analysis["segments_start"].copy()
    starts[5] = starts[4]          # zero-length segment 4
    starts[-1] = 25.0              # starts after the end of the track
    analysis["segments_start"] = starts
    status, reason, matrix = _status(tmp_path, "dups", analysis=analysis)
    assert status == st.OK
    assert "duplicate start" in reason and "outside [0, duration" in reason
    # of the two rows starting together, the later one holds
    np.testing.assert_allclose(matrix[int(starts[4] * 10) + 1, :12],
                               analysis["segments_timbre"][5], rtol=1e-5)


def test_heavily_disordered_segments_are_rejected(tmp_path):
    analysis = _analysis()
    analysis["segments_start"] = np.random.default_rng(1).permutation(
        analysis["segments_start"])
    status, reason, _ = _status(tmp_path, "scrambled", analysis=analysis)
    assert status == st.BAD_ANALYSIS and "corrupt segment table" in reason


def test_too_short_and_no_beats(tmp_path):
    status, reason, _ = _status(tmp_path, "short", analysis=_analysis(duration=3.0))
    assert status == st.TOO_SHORT and "min_seconds" in reason
    no_beats = _analysis()
    no_beats["beats_start"] = np.zeros(0)
    status, reason, _ = _status(tmp_path, "nobeats", analysis=no_beats,
                                params=en.EchonestParams(grid="beats"))
    assert status == st.BAD_ANALYSIS and "no beats" in reason
    status, _, _ = _status(tmp_path, "nobeats_fixed", analysis=no_beats)
    assert status == st.OK  # the fixed grid does not need beats


def test_missing_duration_is_estimated_with_a_warning(tmp_path):
    def mutate(f):
        rows = f["analysis/songs"][()]
        rows["duration"] = np.nan
        _replace(f, "analysis/songs", rows)
    status, reason, matrix = _status(tmp_path, "nodur", mutate=mutate)
    assert status == st.OK and "duration" in reason
    assert matrix.shape[0] == 200


def test_files_that_are_not_msd_track_files(tmp_path):
    text = tmp_path / "TRAAAAA128F0000001.h5"
    text.write_text("this is not HDF5\n")
    with pytest.raises(st.Rejected) as info:
        en.features_of_file(str(text), en.EchonestParams())
    assert info.value.status == st.UNREADABLE_H5 and str(text) in info.value.reason

    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(st.Rejected) as info:
        en.features_of_file(str(empty), en.EchonestParams())
    assert info.value.status == st.UNREADABLE_H5

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["frames"] = np.zeros((3, 2))
    with pytest.raises(st.Rejected) as info:
        en.features_of_file(str(other), en.EchonestParams())
    assert info.value.status == st.NOT_MSD_TRACK and "metadata/songs" in info.value.reason

    no_analysis = _write(tmp_path / "noanalysis.h5", _analysis())
    with h5py.File(no_analysis, "a") as f:
        del f["analysis/songs"]
    with pytest.raises(st.Rejected) as info:
        en.features_of_file(no_analysis, en.EchonestParams())
    assert info.value.status == st.NOT_MSD_TRACK and "analysis/songs" in info.value.reason

    status, reason, _ = _status(tmp_path, "wrong_track", track_id="TRBBBBB128F0000002")
    assert status == st.NOT_MSD_TRACK and "TRBBBBB128F0000002" in reason


def test_bad_tracks_are_recorded_and_the_shard_goes_on(tmp_path):
    tree = tmp_path / "msd"
    ids = [f"TRAB{c}XYZ128F00000{i:02d}" for i, c in enumerate("CDEFGH")]
    _write(msd_h5_path(tree, ids[0]), _analysis(), ids[0])
    nan = _analysis()
    nan["loudness"][3] = np.nan
    _write(msd_h5_path(tree, ids[1]), nan, ids[1])
    _write(msd_h5_path(tree, ids[2]), _analysis(starts=[]), ids[2])
    os.makedirs(os.path.dirname(msd_h5_path(tree, ids[3])))
    with open(msd_h5_path(tree, ids[3]), "w") as f:
        f.write("garbage")
    # ids[4] has no file; ids[5] is fine again
    _write(msd_h5_path(tree, ids[5]), _analysis(seed=5), ids[5])
    out = tmp_path / "shard"
    out.mkdir()
    results = extract_echonest_shard_files(ids, str(tree), str(out), en.EchonestParams())
    assert [r["status"] for r in results.values()] == [
        "ok", "bad_analysis", "bad_analysis", "unreadable_h5", "missing_h5", "ok"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["tracks"] == results
    assert saved["summary"] == {"ok": 2, "bad_analysis": 2, "unreadable_h5": 1, "missing_h5": 1}
    with ShardReader(out / "shard.h5") as reader:
        assert reader.track_ids == [ids[0], ids[5]]
    assert not [p for p in os.listdir(out) if p.startswith(".tmp")]


def test_a_crash_leaves_no_shard(tmp_path, monkeypatch):
    tree = tmp_path / "msd"
    _write(msd_h5_path(tree, GOOD_ID), _analysis())

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(en, "features_of_file", boom)
    with pytest.raises(KeyboardInterrupt):
        extract_echonest_shard([GOOD_ID], str(tree), str(tmp_path / "shard.h5"),
                               en.EchonestParams())
    assert os.listdir(tmp_path) == ["msd"]


def test_params_are_checked():
    with pytest.raises(ValueError, match="grid"):
        en.EchonestParams(grid="bars")
    with pytest.raises(ValueError, match="frame_rate"):
        en.EchonestParams(frame_rate=0)
    with pytest.raises(ValueError, match="loudness"):
        en.EchonestParams(loudness="mean")
    beats = en.EchonestParams(grid="beats").as_dict()
    assert beats["frames_per_second"] == en.NOMINAL_BEATS_PER_SECOND
    assert beats["channels"][12] == "pitch_C" and beats["n_channels"] == 25


def test_copy_of_real_file_with_missing_arrays(real_dir, tmp_path):
    # A real file with its segment arrays removed (what a damaged download looks like).
    path = tmp_path / f"{REAL_IDS[0]}.h5"
    shutil.copy(_real(real_dir, REAL_IDS[0]), path)
    os.chmod(path, 0o644)
    with h5py.File(path, "a") as f:
        del f["analysis/segments_pitches"]
        del f["analysis/segments_start"]
    with pytest.raises(st.Rejected) as info:
        en.features_of_file(str(path), en.EchonestParams(), track_id=REAL_IDS[0])
    assert info.value.status == st.BAD_ANALYSIS
    assert "analysis/segments_start" in info.value.reason
    assert "analysis/segments_pitches" in info.value.reason
