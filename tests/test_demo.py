"""The demo dataset: real MSD formats, deterministic, and audibly different styles."""

import hashlib
import os
import re
import sqlite3

import librosa
import numpy as np
import pytest
import soundfile as sf

from conftest import run_tasks
from krotos.demo import write_demo_dataset
from krotos.demo.catalogue import generate_catalogue
from krotos.demo.styles import STYLES
from krotos.demo.synth import render_song
from pipeline.demo import DemoDataset

TINY = dict(n_songs=24, n_users=30, clip_seconds=2.0, seed=3)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    write_demo_dataset(str(folder), **TINY)
    return folder


def _digest_tree(folder):
    digests = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def test_track_metadata_has_the_msd_schema(demo_dir):
    with sqlite3.connect(demo_dir / "track_metadata.db") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(songs)")]
        rows = db.execute("SELECT track_id, song_id, track_7digitalid, duration FROM songs").fetchall()
    assert columns == ["track_id", "title", "song_id", "release", "artist_id", "artist_mbid",
                       "artist_name", "duration", "artist_familiarity", "artist_hotttnesss",
                       "year", "track_7digitalid", "shs_perf", "shs_work"]
    assert len(rows) == TINY["n_songs"]
    assert all(re.fullmatch(r"TR[A-Z0-9]{16}", t) and re.fullmatch(r"SO[A-Z0-9]{16}", s)
               for t, s, _, _ in rows)
    assert len({r[2] for r in rows}) == len(rows)


def test_lastfm_tags_uses_rowid_references(demo_dir):
    with sqlite3.connect(demo_dir / "lastfm_tags.db") as db:
        joined = db.execute(
            "SELECT tids.tid, tags.tag, tid_tag.val FROM tid_tag "
            "JOIN tids ON tid_tag.tid = tids.ROWID JOIN tags ON tid_tag.tag = tags.ROWID").fetchall()
        n_links = db.execute("SELECT COUNT(*) FROM tid_tag").fetchone()[0]
        top = db.execute("SELECT MAX(val) FROM tid_tag GROUP BY tid").fetchall()
    assert len(joined) == n_links > 0
    assert all(1 <= val <= 100 for _, _, val in joined)
    assert {v for (v,) in top} == {100.0}  # Last.fm scales each track's top tag to 100
    raw = {tag for _, tag, _ in joined}
    # Several spellings of one tag, as on Last.fm.
    assert raw & {"rock", "Rock", "jazz", "Jazz", "Hip-Hop", "hip hop", "hip-hop", "Hip Hop"}


def test_text_files_follow_the_real_line_formats(demo_dir):
    triplets = (demo_dir / "train_triplets.txt").read_text().splitlines()
    assert triplets and all(re.fullmatch(r"[0-9a-f]{40}\tSO[A-Z0-9]{16}\t[1-9]\d*", line)
                            for line in triplets)
    users = [line.split("\t")[0] for line in triplets]
    # Grouped by user, as the real file is.
    assert len(set(users)) == sum(1 for a, b in zip([None] + users, users) if a != b)
    mismatches = (demo_dir / "sid_mismatches.txt").read_text().splitlines()
    assert mismatches
    assert all(re.fullmatch(r"ERROR: <SO[A-Z0-9]{16} TR[A-Z0-9]{16}> .+  -  .+  !=  .+  -  .+", m)
               for m in mismatches)
    unique = (demo_dir / "unique_tracks.txt").read_text().splitlines()
    assert len(unique) == TINY["n_songs"]
    assert all(len(line.split("<SEP>")) == 4 for line in unique)


def test_previews_are_44k_stereo_mp3_named_by_7digital_id(demo_dir):
    with sqlite3.connect(demo_dir / "track_metadata.db") as db:
        ids = {str(i) for (i,) in db.execute("SELECT track_7digitalid FROM songs")}
    files = sorted(os.listdir(demo_dir / "previews"))
    assert {f[:-4] for f in files} == ids and all(f.endswith(".mp3") for f in files)
    info = sf.info(str(demo_dir / "previews" / files[0]))
    assert info.format == "MP3" and info.samplerate == 44100 and info.channels == 2
    assert info.duration == pytest.approx(TINY["clip_seconds"], abs=0.1)


def test_same_seed_gives_byte_identical_files(demo_dir, tmp_path):
    write_demo_dataset(str(tmp_path), **TINY)
    assert _digest_tree(tmp_path) == _digest_tree(demo_dir)
    other = tmp_path / "other"
    other.mkdir()
    write_demo_dataset(str(other), **dict(TINY, seed=4))
    assert _digest_tree(other)["train_triplets.txt"] != _digest_tree(demo_dir)["train_triplets.txt"]


def _onset_rate(spec, seed):
    audio = render_song(spec, 4.0, 22050, np.random.default_rng(seed)).mean(axis=1)
    return librosa.onset.onset_strength(y=audio, sr=22050).mean()


def test_styles_are_audibly_different():
    """Slow drones and thrash metal differ in their onsets, song after song."""
    cat = generate_catalogue(n_songs=200, n_users=50, seed=1)
    by_groove = {}
    for spec in cat.specs:
        groove = STYLES[spec.groove_style].grooves[spec.groove].name
        if spec.harmony_style == spec.melody_style == spec.groove_style:
            by_groove.setdefault(groove, []).append(spec)
    drones = [_onset_rate(s, i) for i, s in enumerate(by_groove["drone"][:3])]
    thrash = [_onset_rate(s, i) for i, s in enumerate(by_groove["thrash"][:3])]
    assert len(drones) == len(thrash) == 3
    assert max(drones) < min(thrash)


@pytest.mark.slow  # builds the demo dataset through Luigi (about 5 s)
def test_demo_task_writes_under_its_signature_and_reruns_nothing(tiny_demo):
    task = DemoDataset()
    ok, ran = run_tasks([task])
    assert ok and ran == [task.task_id]
    assert task.output_dir == os.path.join(str(tiny_demo), "DemoDataset", task.signature())
    for path in task.paths().values():
        assert os.path.exists(path)
    assert os.path.exists(task.file("params.json"))
    ok, ran = run_tasks([DemoDataset()])
    assert ok and ran == []


@pytest.mark.slow  # builds the demo dataset through Luigi (about 5 s)
def test_cli_builds_demo_and_second_run_does_nothing(tmp_path, luigi_cli):
    # The smallest demo the pipeline accepts, with 1 s windows and clips.
    args = ("--module", "pipeline", "DemoDataset", "--local-scheduler",
            "--krotos-data-root", str(tmp_path), "--DemoDataset-n-songs", "30",
            "--DemoDataset-n-users", "50", "--DemoDataset-clip-seconds", "1",
            "--TrainTagModel-window-seconds", "1", "--Spectrograms-min-seconds", "1")
    first = luigi_cli(*args)
    assert first.returncode == 0, first.stderr
    (signature,) = os.listdir(tmp_path / "DemoDataset")
    assert len(os.listdir(tmp_path / "DemoDataset" / signature / "previews")) == 30
    second = luigi_cli(*args)
    assert second.returncode == 0
    assert "1 complete ones were encountered" in second.stderr + second.stdout
    assert "ran successfully" not in second.stderr + second.stdout


@pytest.mark.parametrize("setting, value, message", [
    ("n_songs", 20, "n_songs = 20 is too small: artist-disjoint splits with at least 3 songs "
                    "in valid (0.1) and test (0.2) need n_songs >= 30"),
    ("n_users", 30, "n_users = 30 is too small for the evaluation: it needs n_users >= 50"),
    ("clip_seconds", 2.5, "clip_seconds = 2.5 is shorter than the model window, "
                          "[TrainTagModel] window_seconds = 3: it needs clip_seconds >= 3"),
])
def test_too_small_settings_fail_before_anything_is_rendered(tiny_demo, luigi_config, caplog,
                                                             setting, value, message):
    from pipeline.split import SongSplit

    luigi_config.set("Spectrograms", "min_seconds", 1.0)
    luigi_config.set("DemoDataset", setting, value)
    with caplog.at_level("WARNING"):
        ok, ran = run_tasks([SongSplit()])
    assert not ok and ran == []
    assert message in caplog.text
    assert not (tiny_demo / "DemoDataset").exists()


def test_cli_names_the_setting_and_its_minimum(tmp_path, luigi_cli):
    result = luigi_cli("--module", "pipeline", "DemoDataset", "--local-scheduler",
                       "--krotos-data-root", str(tmp_path), "--DemoDataset-n-songs", "10",
                       "--DemoDataset-n-users", "5", "--DemoDataset-clip-seconds", "1")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "[DemoDataset] n_songs = 10 is too small" in out and "n_songs >= 30" in out
    assert "[DemoDataset] n_users = 5 is too small" in out and "n_users >= 50" in out
    assert ("[DemoDataset] clip_seconds = 1 is shorter than the shortest usable clip, "
            "[Spectrograms] min_seconds = 5: it needs clip_seconds >= 5") in out
    assert not (tmp_path / "DemoDataset").exists()
