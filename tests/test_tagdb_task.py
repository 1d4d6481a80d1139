"""The TagDatabase Luigi task, end to end on a tiny demo dataset."""

import json
import os

from conftest import run_tasks
from krotos.msd import read_sid_mismatches, read_track_metadata
from krotos.tagdb import TagDB
from pipeline.tagdb import TagDatabase


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
        assert sum(s["n_tracks"] for s in db.splits().values()) == len(tracks)
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
