"""FetchPreviews -> Spectrograms -> SpectrogramIndex with Luigi on a tiny demo dataset."""

import http.server
import json
import os
import shutil
import threading

import pytest

from conftest import run_tasks
from krotos.shards.manifest import read_manifest
from krotos.shards.reader import ShardReader
from krotos.shards.sharding import shard_items
from krotos.tagdb import TagDB
from pipeline.audio import FetchPreviews, SpectrogramIndex, Spectrograms
from pipeline.tagdb import TagDatabase

# Each test runs the audio tasks on a demo dataset (about 8 s each).
pytestmark = pytest.mark.slow


def families(task_ids):
    return sorted(t.split("_")[0] for t in task_ids)


def outputs(root):
    """``{output folder: inode}`` of every finished task output under ``root``."""
    found = {}
    for family in os.listdir(root) if os.path.isdir(root) else []:
        for sig in os.listdir(os.path.join(root, family)):
            path = os.path.join(root, family, sig)
            if os.path.isdir(path) and ".tmp-" not in sig and not sig.endswith(".work"):
                found[path] = os.stat(path).st_ino
    return found


def run_parallel(tasks, root, workers=2):
    """Run with forked workers; return (ok, sorted families of the tasks that ran).

    Event handlers fire in the forked workers, so what ran is read from the
    data root: output folders that are new or were replaced.
    """
    before = outputs(root)
    ok, _ = run_tasks(tasks, workers=workers)
    after = outputs(root)
    ran = [path for path, ino in after.items() if before.get(path) != ino]
    return ok, sorted(os.path.basename(os.path.dirname(p)) for p in ran)


def test_spectrogram_index_end_to_end(tiny_demo, luigi_config):
    # One test, one tiny demo dataset (building it dominates the time).
    luigi_config.set("SpectrogramIndex", "shard_size", 15)
    luigi_config.set("Spectrograms", "min_seconds", 2.0)  # tiny demo clips last 4 s
    index = SpectrogramIndex()
    ok, ran = run_parallel([index], tiny_demo)
    assert ok

    with TagDB(TagDatabase().file("tags.sqlite")) as db:
        track_ids = [t.track_id for t in db.tracks()]
    n_shards = -(-len(track_ids) // 15)  # the demo keeps all its tracks: the count is exact
    assert ran.count("Spectrograms") == n_shards >= 2
    assert ran.count("FetchPreviews") == n_shards

    m = read_manifest(index.file("manifest.json"))
    assert sorted(m["tracks"]) == track_ids
    assert len(m["shards"]) == n_shards
    assert m["params"]["n_mels"] == 128 and m["params"]["min_seconds"] == 2.0
    assert m["summary"] == {"ok": len(track_ids)}
    stored = []
    for i, shard in enumerate(m["shards"]):
        assert os.path.isabs(shard["path"])
        with ShardReader(shard["path"]) as reader:
            assert (reader.track_ids == shard["track_ids"]
                    == shard_items(track_ids, i, n_shards))
            assert len(reader.track_ids) <= 15
            tid, mel = next(iter(reader))
            assert mel.shape[1] == 128 and mel.shape[0] > 100
        stored += shard["track_ids"]
    assert stored == track_ids

    # Nothing changed: nothing runs.
    # (the rest runs in-process, workers=1, where Luigi's events say what ran)
    ok, ran = run_tasks([SpectrogramIndex()])
    assert ok and ran == []

    # A shard lost (as if its worker had been killed): only it and the index rerun.
    lost = Spectrograms(shard=1, n_shards=n_shards)
    shutil.rmtree(lost.output_dir)
    shutil.rmtree(index.output_dir)
    ok, ran = run_tasks([SpectrogramIndex()])
    assert ok and sorted(ran) == sorted([index.task_id, lost.task_id])

    # n_mels changes spectrograms and the index, not the previews or the tag DB.
    luigi_config.set("Spectrograms", "n_mels", 40)
    smaller = SpectrogramIndex()
    assert smaller.output_dir != index.output_dir
    ok, ran = run_tasks([smaller])
    assert ok
    assert families(ran) == ["SpectrogramIndex"] + ["Spectrograms"] * n_shards
    m40 = read_manifest(smaller.file("manifest.json"))
    with ShardReader(m40["shards"][0]["path"]) as reader:
        assert reader.n_channels == 40

    # Bad previews (damaged after the tag DB was built; a new shard_size makes
    # new FetchPreviews shards that see the damage) are counted by reason.
    luigi_config.set("SpectrogramIndex", "shard_size", 25)
    with TagDB(TagDatabase().file("tags.sqlite")) as db:
        tracks = db.tracks()
    previews = TagDatabase().requires().paths()["previews"]
    os.remove(os.path.join(previews, f"{tracks[0].track_7digitalid}.mp3"))
    with open(os.path.join(previews, f"{tracks[1].track_7digitalid}.mp3"), "wb") as f:
        f.write(b"<html><body>404 Not Found</body></html>")
    ok, ran = run_tasks([SpectrogramIndex()])
    assert ok and "TagDatabase" not in families(ran)
    m = read_manifest(SpectrogramIndex().file("manifest.json"))
    assert m["tracks"][tracks[0].track_id]["status"] == "missing_preview"
    assert m["tracks"][tracks[1].track_id]["status"] == "undecodable"
    assert "HTML" in m["tracks"][tracks[1].track_id]["reason"]
    assert m["summary"] == {"ok": len(tracks) - 2, "missing_preview": 1, "undecodable": 1}
    assert tracks[0].track_id not in m["shards"][0]["track_ids"]
    fetched = FetchPreviews(shard=0, n_shards=2)
    with open(fetched.file("previews.json")) as f:
        listing = json.load(f)
    assert listing["summary"] == {"ok": 19, "missing_preview": 1}
    # Local previews are named relative to [krotos] previews: the data root can move.
    found = [r for r in listing["previews"] if r["path"]]
    assert {r["root"] for r in found} == {"previews"}
    assert not [r for r in listing["previews"] if os.path.isabs(r["path"] or "")]
    assert str(tiny_demo) not in json.dumps(listing)


def test_fetch_previews_from_a_7digital_server(tiny_demo, luigi_config, monkeypatch):
    """FetchPreviews(source=7digital) against a loopback server that serves the
    demo's previews by 7digital id (and 404 for one of them)."""
    luigi_config.set("Spectrograms", "min_seconds", 2.0)  # tiny demo clips last 4 s
    ok, _ = run_tasks([TagDatabase()])
    assert ok
    folder = TagDatabase().requires().paths()["previews"]
    with TagDB(TagDatabase().file("tags.sqlite")) as db:
        tracks = db.tracks()[:6]
    gone = str(tracks[2].track_7digitalid)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            name = self.path.split("?")[0].rsplit("/", 1)[-1]
            path = os.path.join(folder, f"{name}.mp3")
            if name == gone or not os.path.exists(path) or "oauth_signature=" not in self.path:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = open(path, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("KROTOS_7DIGITAL_KEY", "key")
        monkeypatch.setenv("KROTOS_7DIGITAL_SECRET", "secret")
        luigi_config.set("FetchPreviews", "source", "7digital")
        luigi_config.set("FetchPreviews", "base_url", f"http://127.0.0.1:{httpd.server_port}/clip/")
        luigi_config.set("FetchPreviews", "rate_limit", 0)
        task = Spectrograms(shard=0, n_shards=6)  # 40 demo tracks: 6 in shard 0
        ok, _ = run_tasks([task])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert ok
    fetched = task.requires()
    with open(fetched.file("previews.json")) as f:
        listing = json.load(f)
    assert listing["summary"] == {"ok": 5, "missing_preview": 1}
    downloaded = sorted(os.listdir(fetched.file("previews")))
    assert downloaded == sorted(f"{t.track_7digitalid}.mp3" for t in tracks
                                if str(t.track_7digitalid) != gone)
    assert not os.path.exists(fetched.output_dir + ".work")  # scratch removed when done
    assert {r["root"] for r in listing["previews"] if r["path"]} == {"shard"}
    assert all(r["path"].startswith("previews/") for r in listing["previews"] if r["path"])
    with open(task.file("results.json")) as f:
        results = json.load(f)["tracks"]
    assert results[tracks[2].track_id]["status"] == "missing_preview"
    with ShardReader(task.file("shard.h5")) as reader:
        assert len(reader) == 5


def test_index_lists_every_shard_before_the_tag_database_exists(tiny_demo, luigi_config):
    """So that every worker, on every machine, takes shards on the very first run."""
    luigi_config.set("Spectrograms", "min_seconds", 2.0)  # tiny demo clips last 4 s
    luigi_config.set("SpectrogramIndex", "shard_size", 16)
    assert not os.path.exists(TagDatabase().output_dir)
    listed = SpectrogramIndex().requires()
    shards = [t for t in listed if isinstance(t, Spectrograms)]
    # 40 demo tracks, at most 16 a shard, counted without the database.
    assert [(t.shard, t.n_shards) for t in shards] == [(0, 3), (1, 3), (2, 3)]
    assert not os.path.exists(TagDatabase().output_dir)
