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


def _features(style_index, seed):
    mix = np.zeros(len(STYLES))
    mix[style_index] = 1.0
    audio = render_song(mix, STYLES, 4.0, 22050, np.random.default_rng(seed)).mean(axis=1)
    onsets = librosa.onset.onset_strength(y=audio, sr=22050).mean()
    flatness = librosa.feature.spectral_flatness(y=audio).mean()
    return onsets, flatness


def test_styles_are_audibly_different():
    """One simple feature separates two styles, song after song."""
    ambient = [_features(3, s) for s in range(4)]
    metal = [_features(6, s) for s in range(4)]
    classical = [_features(5, s) for s in range(4)]
    hip_hop = [_features(4, s) for s in range(4)]
    # Slow pads have weak onsets; metal is all attacks.
    assert max(o for o, _ in ambient) < min(o for o, _ in metal)
    # A clean piano is tonal; hip hop's drums and hiss are noisy.
    assert max(f for _, f in classical) < min(f for _, f in hip_hop)


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


def test_cli_builds_demo_and_second_run_does_nothing(tmp_path, luigi_cli):
    args = ("--module", "pipeline", "DemoDataset", "--local-scheduler",
            "--krotos-data-root", str(tmp_path), "--DemoDataset-n-songs", "6",
            "--DemoDataset-n-users", "5", "--DemoDataset-clip-seconds", "1")
    first = luigi_cli(*args)
    assert first.returncode == 0, first.stderr
    (signature,) = os.listdir(tmp_path / "DemoDataset")
    assert len(os.listdir(tmp_path / "DemoDataset" / signature / "previews")) == 6
    second = luigi_cli(*args)
    assert second.returncode == 0
    assert "1 complete ones were encountered" in second.stderr + second.stdout
    assert "ran successfully" not in second.stderr + second.stdout
