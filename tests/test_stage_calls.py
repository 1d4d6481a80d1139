"""The library calls the pipeline's run() methods make, without a scheduler (issue 17: every
task's run() is wiring only), and a check that the run() methods stay wiring."""

import ast
import json
import os

import pytest

from krotos.cf.stages import describe_cf_metrics, describe_play_matrix
from krotos.model.stages import window_frames
from krotos.report.stage import frame_rate_of, present_variants
from krotos.shards.manifest import describe_statuses
from krotos.splits import describe_song_split, make_song_split, read_song_split
from krotos.tagdb import Track

PIPELINE = os.path.join(os.path.dirname(__file__), os.pardir, "pipeline")


def _tracks(n=200, n_artists=40):
    return [Track(f"TR{i:016d}", f"SO{i:016d}", i + 1, f"Artist {i % n_artists}",
                  f"AR{i % n_artists:05d}", f"Song {i}", 30.0) for i in range(n)]


def test_make_song_split_draws_writes_and_describes(tmp_path):
    split_path, summary_path = str(tmp_path / "split.tsv"), str(tmp_path / "summary.json")
    summary = make_song_split(_tracks(), split_path, summary_path, "artist",
                              valid_fraction=0.1, test_fraction=0.2, seed=3)
    with open(summary_path) as f:
        assert json.load(f) == summary
    split = read_song_split(split_path, summary["params"])
    assert split.counts() == summary["counts"]
    assert sum(c["tracks"] for c in summary["counts"].values()) == 200
    line = describe_song_split(summary, "artist")
    assert line.startswith(f"train {summary['counts']['train']['tracks']:,} tracks (")
    assert "artists)" in line


def test_make_song_split_from_lists_names_the_settings(tmp_path):
    tracks = _tracks(30)
    lists = {}
    for name, part in (("train", tracks[:20]), ("valid", tracks[20:24]), ("test", tracks[24:28])):
        path = tmp_path / f"{name}.txt"
        path.write_text("".join(t.track_id + "\n" for t in part) + ("TRUNKNOWN\n" if name == "test"
                                                                    else ""))
        lists[name] = (f"{name}_file", str(path))
    summary = make_song_split(tracks, str(tmp_path / "split.tsv"), str(tmp_path / "s.json"),
                              "file", lists=lists, where="[SongSplit]")
    assert summary["params"]["train_file"] == "train.txt"
    assert {n: c["tracks"] for n, c in summary["counts"].items()} == {
        "train": 20, "valid": 4, "test": 4}
    assert summary["lists"]["left_out"] == 2
    line = describe_song_split(summary, "file")
    assert "2 tracks in no list left out" in line and "1 listed ids not in the track list" in line


def test_report_frame_rate_and_variants(tmp_path):
    assert frame_rate_of({"sample_rate": 22050, "hop_length": 512}) == pytest.approx(43.066, 1e-3)
    assert frame_rate_of({"frame_rate": 10.0}) == 10.0
    assert frame_rate_of({}) is None
    here = {"tag_metrics": "a", "cold_metrics": "b"}
    absent = {"tag_metrics": str(tmp_path / "no"), "cold_metrics": str(tmp_path / "none")}
    assert present_variants({"mel": here, "echonest": absent}, "mel") is None
    (tmp_path / "no").write_text("{}")
    assert list(present_variants({"echonest": absent, "mel": here}, "mel")) == ["mel", "echonest"]


def test_window_frames_needs_a_frame_rate():
    assert window_frames(3.0, {"sample_rate": 22050, "hop_length": 512}) == 129
    with pytest.raises(ValueError, match="window_seconds"):
        window_frames(3.0, {"frame_rate": 10.0})


def test_describe_lines():
    assert describe_statuses({"summary": {"too_short": 2, "ok": 5}}) == "ok: 5, too_short: 2"
    iv = {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}
    assert describe_cf_metrics({"models": {"als": {"map_at_500": iv, "auc": iv}}}) == (
        "als: MAP@500 0.5000 AUC 0.500")
    summary = {"users": 1000, "songs": 20, "read": {"songs_without_track": 1,
                                                    "duplicate_lines": 3},
               "split": {"cold_songs": 4}, "bad_lines": {"total": 0}}
    assert describe_play_matrix(summary) == ("1,000 users x 20 songs (1 without a track, kept), "
                                             "4 cold; 0 bad lines, 3 duplicates summed")


def _run_methods():
    for name in sorted(os.listdir(PIPELINE)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(PIPELINE, name)) as f:
            tree = ast.parse(f.read())
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "run":
                    yield f"{name}:{cls.name}.run", fn


#: Statements a run() may hold at its top level: imports, reading inputs,
#: the call inside ``with self.staging()``, the status message.
MAX_RUN_STATEMENTS = 8


@pytest.mark.parametrize("where, fn", list(_run_methods()), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_run_is_wiring_only(where, fn):
    # Work (loops, assembling results) belongs in one krotos function tested there.
    loops = [n for n in ast.walk(fn) if isinstance(n, (ast.For, ast.While, ast.AsyncFor))]
    assert not loops, f"{where}: a loop at line {loops[0].lineno}; move it into krotos/"
    assert len(fn.body) <= MAX_RUN_STATEMENTS, (
        f"{where}: {len(fn.body)} statements; keep run() to inputs, one library call, outputs")
