"""Readers of the SQLite and JSON inputs: track_metadata.db, lastfm_tags.db, Last.fm JSON.

The files are built here in the exact real schemas (the real ones are
hundreds of MB), including the broken variants the readers must survive.
"""

import json
import sqlite3

import pytest

from krotos.msd import (
    BadInputLog, InputFileError, LastfmTagsDB, iter_lastfm_json, iter_lastfm_json_tags,
    iter_lastfm_tags_db, read_track_metadata)

#: The real schema of MSD track_metadata.db.
TRACK_METADATA_SCHEMA = (
    "CREATE TABLE songs (track_id text PRIMARY KEY, title text, song_id text, release text, "
    "artist_id text, artist_mbid text, artist_name text, duration real, "
    "artist_familiarity real, artist_hotttnesss real, year int, track_7digitalid int, "
    "shs_perf int, shs_work int)")

#: The real schema of the Last.fm dataset's lastfm_tags.db.
LASTFM_SCHEMA = (
    "CREATE TABLE tags (tag TEXT, UNIQUE(tag))",
    "CREATE TABLE tids (tid TEXT, UNIQUE(tid))",
    "CREATE TABLE tid_tag (tid INT, tag INT, val FLOAT)",
    "CREATE INDEX tid_tag_tid ON tid_tag(tid)",
    "CREATE INDEX tid_tag_tag ON tid_tag(tag)",
)


def song(track_id, song_id, artist="Artist", title="Title", digital=1000, artist_id=None,
         year=2000, duration=200.0):
    """One row of ``songs`` as a dict (real column names)."""
    return dict(track_id=track_id, title=title, song_id=song_id, release="Release",
                artist_id=artist_id if artist_id is not None else "AR" + artist[:8].upper(),
                artist_mbid="", artist_name=artist, duration=duration, artist_familiarity=0.5,
                artist_hotttnesss=0.4, year=year, track_7digitalid=digital, shs_perf=-1, shs_work=0)


def write_track_metadata(path, rows, schema=TRACK_METADATA_SCHEMA):
    with sqlite3.connect(path) as con:
        con.execute(schema)
        con.executemany(
            "INSERT INTO songs VALUES (:track_id, :title, :song_id, :release, :artist_id, "
            ":artist_mbid, :artist_name, :duration, :artist_familiarity, :artist_hotttnesss, "
            ":year, :track_7digitalid, :shs_perf, :shs_work)", rows)
    con.close()
    return path


def write_lastfm_db(path, tids, tags, tid_tag, schema=LASTFM_SCHEMA):
    """``tids``/``tags``: values in ROWID order (1-based); ``tid_tag``: (tid rowid, tag rowid, val)."""
    with sqlite3.connect(path) as con:
        for statement in schema:
            con.execute(statement)
        con.executemany("INSERT INTO tids (tid) VALUES (?)", [(t,) for t in tids])
        con.executemany("INSERT INTO tags (tag) VALUES (?)", [(t,) for t in tags])
        con.executemany("INSERT INTO tid_tag VALUES (?, ?, ?)", tid_tag)
    con.close()
    return path


def write_lastfm_tags(path, rows):
    """Write ``(track_id, tag, weight)`` rows into a real-schema lastfm_tags.db."""
    tids, tags, links = {}, {}, []
    for track_id, tag, weight in rows:
        tids.setdefault(track_id, len(tids) + 1)
        tags.setdefault(tag, len(tags) + 1)
        links.append((tids[track_id], tags[tag], weight))
    return write_lastfm_db(path, list(tids), list(tags), links)


def write_lastfm_json(root, track_id, tags, artist="Artist", title="Title", similars=()):
    """Write one track in the Last.fm JSON layout ``root/A/B/C/TRABC....json``."""
    folder = root / track_id[2] / track_id[3] / track_id[4]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{track_id}.json"
    path.write_text(json.dumps({"artist": artist, "timestamp": "2011-08-15 09:22:23.040064",
                                "similars": [list(s) for s in similars],
                                "tags": [list(t) for t in tags],
                                "track_id": track_id, "title": title}))
    return path


# -- track_metadata.db ---------------------------------------------------------------------

def test_track_metadata_reads_real_schema(tmp_path):
    path = write_track_metadata(tmp_path / "track_metadata.db", [
        song("TRAAAAW128F429D538", "SOMZWCG12A8C13C480", "Casual", "I Didn't Mean To",
             digital=3401791, year=0, duration=218.93179),
        song("TRAAABD128F429CF47", "SOCIWDW12A8C13D406", "The Box Tops", "Soul Deep",
             digital=-1, year=1969),
    ])
    tracks = read_track_metadata(path)
    assert [t.track_id for t in tracks] == ["TRAAAAW128F429D538", "TRAAABD128F429CF47"]
    first, second = tracks
    assert first.song_id == "SOMZWCG12A8C13C480" and first.artist_name == "Casual"
    assert first.title == "I Didn't Mean To" and first.duration == pytest.approx(218.93179)
    assert first.track_7digitalid == 3401791
    # MSD writes 0 for an unknown year and -1 for an unknown id.
    assert first.year is None and second.year == 1969
    assert second.track_7digitalid is None


def test_track_metadata_bad_rows_are_counted_and_skipped(tmp_path):
    path = tmp_path / "track_metadata.db"
    # No PRIMARY KEY, so that a broken copy can hold a duplicate track id.
    write_track_metadata(path, [
        song("TRGOOD00000000001", "SO1"),
        song("", "SO2"),
        song("TRNOSONG000000003", ""),
        song("TRGOOD00000000001", "SO4"),
        song("TRGOOD00000000005", "SO5", title="caf\xe9"),
    ], schema=TRACK_METADATA_SCHEMA.replace(" PRIMARY KEY", ""))
    with sqlite3.connect(path) as con:
        # Latin-1 bytes where UTF-8 text belongs.
        con.execute("UPDATE songs SET title = CAST(X'63616665e9' AS TEXT) "
                    "WHERE track_id = 'TRGOOD00000000005'")
    con.close()
    errors = BadInputLog()
    tracks = read_track_metadata(path, errors)
    assert [t.track_id for t in tracks] == ["TRGOOD00000000001", "TRGOOD00000000005"]
    assert tracks[1].title == "cafe\ufffd"
    assert errors.counts_by_reason() == {
        "bad track_id": 1, "bad song_id": 1, "duplicate track_id": 1, "text not UTF-8 (replaced)": 1}
    messages = [str(e) for e in errors.examples]
    assert any(m.startswith(f"{path}:songs rowid 2: bad track_id") for m in messages)
    assert any(m.startswith(f"{path}:songs rowid 4: duplicate track_id") for m in messages)


def test_not_sqlite_fails_with_the_file_name(tmp_path):
    path = tmp_path / "track_metadata.db"
    path.write_bytes(b"track_id,title\nTRX,not a database\n" * 10)
    with pytest.raises(InputFileError, match=r"track_metadata\.db: not a readable SQLite database"):
        read_track_metadata(path)
    with pytest.raises(InputFileError, match=r"lastfm_tags\.db: not a readable SQLite"):
        list(iter_lastfm_tags_db(path.rename(tmp_path / "lastfm_tags.db")))


def test_missing_file_and_missing_table_fail_clearly(tmp_path):
    with pytest.raises(InputFileError, match=r"nothing\.db: no such file"):
        read_track_metadata(tmp_path / "nothing.db")
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE tracks (x)")
    con.close()
    with pytest.raises(InputFileError, match=r"other\.db: table 'songs' missing \(found: tracks\)"):
        read_track_metadata(path)
    with pytest.raises(InputFileError, match=r"other\.db: table 'tids' missing"):
        LastfmTagsDB(path)


def test_empty_compressed_and_locked_databases_are_named_as_such(tmp_path, monkeypatch):
    import gzip

    import krotos.msd.sqlite_input

    empty = tmp_path / "track_metadata.db"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"track_metadata\.db: empty \(0 bytes\), not a "
                                             r"SQLite database"):
        read_track_metadata(empty)
    real = write_track_metadata(tmp_path / "real.db", [song("TR1", "SO1")])
    packed = tmp_path / "lastfm_tags.db"
    packed.write_bytes(gzip.compress(real.read_bytes()))
    with pytest.raises(InputFileError, match=r"lastfm_tags\.db: gzip-compressed, not a SQLite "
                                             r"database: decompress it first \(gunzip\)"):
        LastfmTagsDB(packed)
    # A writer holding the lock past the timeout: "locked", not "not a database".
    monkeypatch.setattr(krotos.msd.sqlite_input, "LOCK_TIMEOUT", 0.1)
    writer = sqlite3.connect(real, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(InputFileError, match=r"real\.db: locked by another process"):
            read_track_metadata(real)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert [t.track_id for t in read_track_metadata(real)] == ["TR1"]


def test_table_without_a_needed_column(tmp_path):
    path = tmp_path / "track_metadata.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE songs (track_id text, song_id text, title text)")
    con.close()
    with pytest.raises(InputFileError, match="lacks column.*release.*track_7digitalid"):
        read_track_metadata(path)


# -- lastfm_tags.db ----------------------------------------------------------------------

def test_lastfm_tags_db_joins_by_rowid(tmp_path):
    path = write_lastfm_db(
        tmp_path / "lastfm_tags.db",
        tids=["TRCCCYE12903CFF0E9", "TRCCCFH12903CEBC70"],
        tags=["Hip-Hop", "rap", "90s"],
        tid_tag=[(1, 1, 100.0), (1, 2, 55.0), (2, 3, 7.0)])
    rows = list(iter_lastfm_tags_db(path))
    assert rows == [("TRCCCYE12903CFF0E9", "Hip-Hop", 100.0), ("TRCCCYE12903CFF0E9", "rap", 55.0),
                    ("TRCCCFH12903CEBC70", "90s", 7.0)]
    with LastfmTagsDB(path) as db:
        assert [db.count(t) for t in ("tids", "tags", "tid_tag")] == [2, 3, 3]


def test_lastfm_tags_db_bad_rows(tmp_path):
    path = tmp_path / "lastfm_tags.db"
    write_lastfm_db(
        path,
        tids=["TRA0000000000000A", "TRB0000000000000B"],
        tags=["rock", "placeholder-latin1", "", "jazz"],
        tid_tag=[(1, 1, 100.0),       # good
                 (1, 2, 50.0),        # tag in a non-UTF-8 encoding
                 (9, 1, 50.0),        # dangling tid ROWID
                 (1, 99, 50.0),       # dangling tag ROWID
                 (2, 4, "lots"),      # weight is not a number
                 (2, 4, 250.0),       # weight out of range
                 (2, 3, 10.0),        # empty tag
                 (2, 4, 80.0),        # good
                 ("TRB", 4, 80.0)])   # a track id where a ROWID belongs
    with sqlite3.connect(path) as con:
        con.execute("UPDATE tags SET tag = CAST(X'726f636b20e97465' AS TEXT) WHERE ROWID = 2")
    con.close()
    errors = BadInputLog()
    rows = list(iter_lastfm_tags_db(path, errors))
    assert rows == [("TRA0000000000000A", "rock", 100.0), ("TRB0000000000000B", "jazz", 80.0)]
    assert errors.counts_by_reason() == {
        "refers to a missing or rejected tag": 3, "bad weight": 2, "bad tag text": 2,
        "refers to a missing or rejected tid": 1, "tid is not a ROWID": 1}
    messages = "\n".join(str(e) for e in errors.examples)
    assert f"{path}:tags rowid 2: bad tag text (not UTF-8" in messages
    assert f"{path}:tid_tag rowid 3: refers to a missing or rejected tid (tid rowid 9)" in messages
    assert f"{path}:tid_tag rowid 5: bad weight (weight 'lots' is not a number)" in messages
    assert f"{path}:tid_tag rowid 6: bad weight (weight 250.0 outside 0..100)" in messages
    assert f"{path}:tid_tag rowid 9: tid is not a ROWID ('TRB')" in messages


def test_lastfm_tags_db_stored_as_blob_or_text_numbers(tmp_path):
    # SQLite is dynamically typed: real-world copies hold UTF-8 BLOBs and numeric strings.
    path = write_lastfm_db(tmp_path / "lastfm_tags.db", tids=["TRA0000000000000A"],
                           tags=["électro"], tid_tag=[(1, 1, "42")])
    with sqlite3.connect(path) as con:
        con.execute("UPDATE tags SET tag = CAST(tag AS BLOB)")
    con.close()
    assert list(iter_lastfm_tags_db(path)) == [("TRA0000000000000A", "électro", 42.0)]


# -- Last.fm JSON folders ----------------------------------------------------------------

def test_lastfm_json_folder(tmp_path):
    root = tmp_path / "lastfm_train"
    write_lastfm_json(root, "TRAAAAK128F9318786", [["alternative rock", "100"], ["90s", 33]],
                      artist="Adelitas Way", title="Scream",
                      similars=[["TRABCDE128F9318786", 0.87]])
    write_lastfm_json(root, "TRAAAAV128F421A322", [["Hip-Hop", "100"]])
    tracks = list(iter_lastfm_json(root))
    assert [t.track_id for t in tracks] == ["TRAAAAK128F9318786", "TRAAAAV128F421A322"]
    assert tracks[0].artist == "Adelitas Way" and tracks[0].title == "Scream"
    assert tracks[0].tags == [("alternative rock", 100.0), ("90s", 33.0)]
    assert tracks[0].similars == [("TRABCDE128F9318786", 0.87)]
    assert tracks[0].path.endswith("A/A/A/TRAAAAK128F9318786.json")
    assert list(iter_lastfm_json_tags(root))[-1] == ("TRAAAAV128F421A322", "Hip-Hop", 100.0)


def test_lastfm_json_bad_files_and_entries(tmp_path):
    root = tmp_path / "lastfm_test"
    good = write_lastfm_json(root, "TRAAAAK128F9318786",
                             [["rock", "100"], ["bad", "heavy"], ["x"], ["", 5], ["pop", 101]])
    broken = root / "A" / "B" / "C" / "TRABCXX128F9318786.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"track_id": "TRABCXX128F9318786", "tags": [')
    latin = root / "A" / "B" / "C" / "TRABCYY128F9318786.json"
    latin.write_bytes(b'{"track_id": "TRABCYY128F9318786", "tags": [["caf\xe9", "1"]]}')
    wrong = write_lastfm_json(root, "TRABCZZ128F9318786", [["rock", 1]])
    wrong.write_text(wrong.read_text().replace("TRABCZZ128F9318786", "TROTHER128F9318786"))
    errors = BadInputLog()
    tracks = list(iter_lastfm_json(root, errors))
    assert [(t.track_id, t.tags) for t in tracks] == [("TRAAAAK128F9318786", [("rock", 100.0)])]
    assert errors.counts_by_reason() == {
        "bad weight": 2, "bad tags entry": 2, "invalid JSON": 1, "file not UTF-8": 1,
        "track_id differs from file name": 1}
    messages = "\n".join(str(e) for e in errors.examples)
    assert f"{good}:tags[1]: bad weight (weight 'heavy' is not a number)" in messages
    assert f"{good}:tags[2]: bad tags entry" in messages
    assert f"{broken}:1: invalid JSON" in messages


def test_lastfm_json_missing_folder(tmp_path):
    with pytest.raises(InputFileError, match="lastfm_train: no such folder"):
        list(iter_lastfm_json(tmp_path / "lastfm_train"))
