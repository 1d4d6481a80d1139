"""The TagDatabase Luigi task, end to end on a tiny demo dataset."""

import json
import os

import pytest

from conftest import run_tasks
from krotos.msd import read_sid_mismatches, read_track_metadata
from krotos.tagdb import TagDB
from pipeline.tagdb import TagDatabase


@pytest.mark.slow  # builds a demo dataset and runs the task (about 25 s)
def test_tag_database_from_demo(tiny_demo, luigi_config):
    task = TagDatabase()
    ok, ran = run_tasks([task])
    assert ok
    assert task.task_id in ran
    assert sorted(os.listdir(task.output_dir)) == ["params.json", "summary.json", "tags.sqlite"]
    with open(task.file("summary.json")) as f:
        summary = json.load(f)
    paths = task.requires().paths()
    demo_tracks = read_track_metadata(paths["track_metadata"])
    mismatches = read_sid_mismatches(paths["sid_mismatches"])
    with TagDB(task.file("tags.sqlite")) as db:
        tracks = db.tracks()
        assert [t.track_id for t in tracks] == sorted(t.track_id for t in demo_tracks)
        assert all(t.track_7digitalid and os.path.exists(
            os.path.join(paths["previews"], f"{t.track_7digitalid}.mp3")) for t in tracks)
        vocab = db.vocabulary()
        assert 0 < len(vocab) <= 50 and len(set(vocab)) == len(vocab)
        matrix = db.tag_matrix([t.track_id for t in tracks])
        assert matrix.shape == (len(tracks), len(vocab)) and matrix.sum() > 0
        song_map = db.song_to_track()
        assert not set(song_map.items()) & {(s, t) for s, t in mismatches}
        assert summary["tracks"]["kept"] == len(tracks)
        assert summary["tags"]["vocabulary"] == len(vocab)
        assert summary["bad_rows"]["total"] == 0

    # Nothing changed: nothing runs. A new vocabulary size: only TagDatabase reruns.
    ok, ran = run_tasks([TagDatabase()])
    assert ok and ran == []
    luigi_config.set("TagDatabase", "n_tags", "5")
    smaller = TagDatabase()
    ok, ran = run_tasks([smaller])
    assert ok and ran == [smaller.task_id]
    assert smaller.output_dir != task.output_dir
    with TagDB(smaller.file("tags.sqlite")) as db:
        assert db.vocabulary() == vocab[:5]


def _real_dataset(luigi_config, tmp_path, lastfm_tags):
    from test_msd_sqlite import song, write_track_metadata

    meta = write_track_metadata(tmp_path / "track_metadata.db", [
        song(f"TR{i:016d}", f"SO{i:016d}", f"Artist {i}", f"Song {i}", digital=100 + i)
        for i in range(20)])
    triplets = tmp_path / "train_triplets.txt"
    triplets.write_text("u1\tSO0000000000000001\t3\n")
    luigi_config.set("krotos", "track_metadata", str(meta))
    luigi_config.set("krotos", "lastfm_tags", str(lastfm_tags))
    luigi_config.set("krotos", "triplets", str(triplets))


def test_unreadable_input_fails_the_task_with_its_name(data_root, luigi_config, tmp_path, caplog):
    junk = tmp_path / "lastfm_tags.db"
    junk.write_bytes(b"this is not sqlite" * 64)
    _real_dataset(luigi_config, tmp_path, junk)
    task = TagDatabase()
    with caplog.at_level("ERROR"):
        ok, ran = run_tasks([task])
    assert not ok and ran == []
    assert f"{junk}: not a readable SQLite database" in caplog.text
    assert not os.path.exists(task.output_dir)


def test_bad_rows_are_reported_in_the_summary(data_root, luigi_config, tmp_path):
    from test_msd_sqlite import write_lastfm_db

    tags = write_lastfm_db(
        tmp_path / "lastfm_tags.db",
        tids=[f"TR{i:016d}" for i in range(20)] + ["TRNOTINMETADATA00"],
        tags=["rock", "Rock", "jazz"],
        tid_tag=[(i, 1 + i % 3, 100.0) for i in range(1, 21)]
        + [(1, 2, 50.0), (21, 1, 100.0), (2, 3, "n/a"), (99, 1, 10.0)])
    _real_dataset(luigi_config, tmp_path, tags)
    task = TagDatabase(n_tags=2)
    ok, _ = run_tasks([task])
    assert ok
    with open(task.file("summary.json")) as f:
        summary = json.load(f)
    assert summary["bad_rows"]["by_reason"] == {
        "duplicate (track, tag)": 1, "track id not in the track list": 1, "bad weight": 1,
        "refers to a missing or rejected tid": 1}
    assert summary["bad_rows"]["total"] == 4
    assert any(f"{tags}:tid_tag rowid 23: bad weight" in e for e in summary["bad_rows"]["examples"])
    with TagDB(task.file("tags.sqlite")) as db:
        assert db.vocabulary_counts() == [("rock", 13), ("jazz", 7)]
        assert len(db.tracks()) == 20
