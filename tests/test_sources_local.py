"""Local preview folders: lookup by 7digital id or track id, any of four formats."""

import collections
import json

import pytest

from krotos.shards import status as st
from krotos.sources.fetch import fetch_shard, open_source, read_previews_json
from krotos.sources.local import LocalPreviews

Track = collections.namedtuple("Track", "track_id track_7digitalid")


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "previews"
    d.mkdir()
    for name in ("1001.mp3", "TRBBB.ogg", "TRCCC.wav", "TRDDD.FLAC", "1005.ogg",
                 "TREEE.mp3", "notes.txt", "TRFFF.txt"):
        (d / name).write_bytes(b"x")
    return d


def test_lookup_order_and_extensions(folder):
    src = LocalPreviews(folder)
    assert src.find("TRAAA", 1001) == str(folder / "1001.mp3")
    assert src.find("TRBBB", 9999) == str(folder / "TRBBB.ogg")   # id file absent
    assert src.find("TRCCC", None) == str(folder / "TRCCC.wav")
    assert src.find("TRDDD") == str(folder / "TRDDD.FLAC")
    assert src.find("TREEE", 1005) == str(folder / "1005.ogg")    # 7digital id first
    assert src.find("TRFFF") is None                               # not an audio extension


def test_missing_preview_record_names_what_was_looked_for(folder):
    record = LocalPreviews(folder).get(Track("TRZZZ", 42))
    assert record["status"] == st.MISSING_PREVIEW and record["path"] is None
    assert "42 or TRZZZ" in record["reason"] and "[krotos] previews" in record["reason"]


def test_fetch_shard_names_local_files_relative_to_their_folder(folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    tracks = [Track("TRAAA", 1001), Track("TRXXX", None), Track("TRBBB", None)]
    fetch_shard(tracks, open_source("local", previews_folder=str(folder)), str(out))
    raw = json.loads((out / "previews.json").read_text())
    assert raw["summary"] == {"ok": 2, "missing_preview": 1}
    assert (raw["previews"][0]["path"], raw["previews"][0]["root"]) == ("1001.mp3", "previews")
    assert str(tmp_path) not in json.dumps(raw)  # no absolute path: the folders may move
    assert not (out / "previews").exists()  # nothing copied
    records = read_previews_json(out / "previews.json", folder)
    assert [r["status"] for r in records] == ["ok", "missing_preview", "ok"]
    assert records[0]["path"] == str(folder / "1001.mp3") and records[0]["name"] == "1001.mp3"
    # The previews folder moved: the same file resolves against its new place.
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    assert read_previews_json(out / "previews.json", moved)[2]["path"] == str(moved / "TRBBB.ogg")
    with pytest.raises(ValueError, match=r"record 0 \(TRAAA\) is relative to \[krotos\] previews"):
        read_previews_json(out / "previews.json")


def test_configuration_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match=r"\[krotos\] previews"):
        open_source("local", previews_folder=None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_source("local", previews_folder=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="unknown preview source"):
        open_source("soundcloud")


def test_malformed_previews_json_names_the_record(tmp_path):
    path = tmp_path / "previews.json"
    path.write_text(json.dumps({"previews": [{"track_id": "A", "status": "ok", "path": "a"},
                                             {"track_id": "B", "status": "weird"}]}))
    with pytest.raises(ValueError, match=r"previews\.json: record 1"):
        read_previews_json(path)
