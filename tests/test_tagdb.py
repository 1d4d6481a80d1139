"""The tag database: builder (canonical tags, vocabulary, song map, bad input) and TagDB."""

import csv
import json
import os
import sqlite3

import numpy as np
import pytest

from conftest import real_fixture
from krotos.msd import BadInputLog, InputFileError, MSDFile
from krotos.tagdb import TagDatabaseParams, TagDB, Track, build_tag_database, canonical_tag
from krotos.tagdb import reader as tagdb_reader
from test_msd_sqlite import (
    song, write_lastfm_db, write_lastfm_json, write_lastfm_tags, write_track_metadata)


def tid(n):
    return f"TR{n:016d}"


def sid(n):
    return f"SO{n:016d}"


@pytest.fixture
def small(tmp_path):
    """Six tracks, spellings to merge, a duplicate song, a mismatch, a track without audio."""
    meta = write_track_metadata(tmp_path / "track_metadata.db", [
        song(tid(1), sid(1), "Kid Cudi", "Up Up & Away", digital=11),
        song(tid(2), sid(2), "Montell Jordan", "This Is How We Do It", digital=12),
        song(tid(3), sid(3), "Mae", "Just Let Go", digital=13),
        song(tid(4), sid(4), "Allister", "Somewhere On Fullerton", digital=14),
        song(tid(5), sid(4), "Allister", "Somewhere On Fullerton (live)", digital=15),
        song(tid(6), sid(6), "Nobody", "No Audio", digital=-1),
    ])
    tags = write_lastfm_tags(tmp_path / "lastfm_tags.db", [
        (tid(1), "Hip-Hop", 100), (tid(1), "rap", 40), (tid(1), "chill", 5),
        (tid(2), "hip hop", 100), (tid(2), "90s", 60), (tid(2), "HIP_HOP", 20),
        (tid(3), "Hip-Hop", 30), (tid(3), "rock", 100), (tid(3), "indie rock", 80),
        (tid(5), "rock", 100), (tid(5), "punk", 90),
        (tid(6), "rock", 100),
    ])
    mismatches = tmp_path / "sid_mismatches.txt"
    mismatches.write_text(f"ERROR: <{sid(3)} {tid(3)}> Mae  -  Just Let Go  !=  Other  -  Song\n")
    return dict(track_metadata=str(meta), lastfm_tags=str(tags), sid_mismatches=str(mismatches))


def build(tmp_path, sources, name="tags.sqlite", **params):
    path = tmp_path / name
    errors = BadInputLog(max_examples=20)
    summary = build_tag_database(path, errors=errors, params=TagDatabaseParams(**params),
                                 **sources)
    return path, summary, errors


def test_canonical_tag_merges_spellings():
    spellings = ["Hip-Hop", "hip hop", "HIP_HOP", "hip-hop", " hip   hop ", "hip\u2013hop",
                 "Ｈｉｐ－Ｈｏｐ", "hip\u200b hop\u200b", "HIP\thop"]
    assert {canonical_tag(s) for s in spellings} == {"hip hop"}
    # NFC and NFD spellings of the same accented word are one tag.
    assert canonical_tag("\u00e9lectro") == canonical_tag("e\u0301lectro") == "\u00e9lectro"
    assert canonical_tag("drum_and_bass") == "drum and bass"
    assert canonical_tag("r&b") != canonical_tag("rnb")
    assert canonical_tag(" - _ ") == ""


def test_build_vocabulary_and_tag_matrix(tmp_path, small):
    path, summary, errors = build(tmp_path, small, n_tags=3, min_weight=10)
    assert errors.total == 0
    with TagDB(path) as db:
        # hip hop: tracks 1, 2, 3; rock: 3, 5 (6 has no audio); then ties by name.
        assert db.vocabulary() == ["hip hop", "rock", "90s"]
        assert db.vocabulary_counts() == [("hip hop", 3), ("rock", 2), ("90s", 1)]
        ids = [tid(3), tid(1), tid(5), tid(4), tid(1)]
        matrix = db.tag_matrix(ids)
        assert matrix.dtype == np.float32 and matrix.shape == (5, 3)
        np.testing.assert_array_equal(matrix, [[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]])
        # Merged spellings keep the highest weight; the threshold is the build's.
        np.testing.assert_array_equal(db.tag_weights([tid(2)]), [[100, 0, 60]])
        np.testing.assert_array_equal(db.tag_matrix([tid(3)], min_weight=50), [[0, 1, 0]])
        assert db.tags_of(tid(1)) == [("hip hop", 100.0), ("rap", 40.0), ("chill", 5.0)]
        assert db.min_weight == 10.0 and db.params["n_tags"] == 3
        with pytest.raises(KeyError, match=f"1 track id.*{tid(99)}"):
            db.tag_matrix([tid(1), tid(99)])
    with sqlite3.connect(path) as con:
        display, n_spellings = con.execute(
            "SELECT display, n_spellings FROM tags WHERE name = 'hip hop'").fetchone()
        assert (display, n_spellings) == ("Hip-Hop", 3)
    con.close()
    assert summary["tracks"]["kept"] == 5 and summary["tracks"]["left_out_no_audio_source"] == 1
    assert summary["tags"]["vocabulary"] == 3
    assert summary["tags"]["track_tag_pairs_with_merged_spellings"] == 1
    assert summary["tag_rows"] == dict(read=12, kept=11, on_tracks_left_out=1, on_unknown_tracks=0)
    json.dumps(summary)


def test_tracks_and_song_map(tmp_path, small):
    path, _, _ = build(tmp_path, small, min_weight=10)
    with TagDB(path) as db:
        tracks = db.tracks()
        assert [t.track_id for t in tracks] == [tid(n) for n in (1, 2, 3, 4, 5)]
        assert tracks[0] == Track(tid(1), sid(1), 11, "Kid Cudi", tracks[0].artist_id,
                                  "Up Up & Away", 200.0)
        assert db.track_ids(tagged=False) == [tid(4)]
        assert [t.track_id for t in db.tracks(tagged=True)] == [tid(n) for n in (1, 2, 3, 5)]
        song_map = db.song_to_track()
        # sid(3)/tid(3) is a listed mismatch; sid(4) has two tracks, the tagged one wins;
        # sid(6)'s only track has no audio source.
        assert song_map == {sid(1): tid(1), sid(2): tid(2), sid(4): tid(5)}
        assert db.mismatches() == {(sid(3), tid(3))}


def test_audio_filter(tmp_path, small):
    previews = tmp_path / "previews"
    previews.mkdir()
    (previews / f"{tid(6)}.ogg").write_bytes(b"")   # by track id
    (previews / "11.mp3").write_bytes(b"")           # by 7digital id
    path, summary, _ = build(tmp_path, dict(small, previews=str(previews)), name="any.sqlite")
    assert summary["tracks"]["kept"] == 6
    path, summary, _ = build(tmp_path, dict(small, previews=str(previews)), name="local.sqlite",
                             audio_filter="local")
    with TagDB(path) as db:
        assert db.track_ids() == [tid(1), tid(6)]
    path, summary, _ = build(tmp_path, small, name="none.sqlite", audio_filter="none")
    assert summary["tracks"]["kept"] == 6


def test_bad_tag_rows_are_counted_and_good_rows_kept(tmp_path, small):
    tags = tmp_path / "broken_lastfm_tags.db"
    write_lastfm_db(
        tags,
        tids=[tid(1), tid(2), "TRUNKNOWN00000000"],
        tags=["rock", "ROCK", "latin1-placeholder", "électro", "e\u0301lectro", "—"],
        tid_tag=[(1, 1, 100), (1, 1, 60),      # duplicate (track, tag): keep the highest
                 (1, 2, 30),                   # another spelling: merged, not a duplicate
                 (2, 3, 100),                  # tag not UTF-8
                 (2, 4, 80), (1, 5, 70),       # NFC and NFD: one tag
                 (3, 1, 100),                  # track not in track_metadata
                 (2, 6, 50),                   # nothing left after canonicalization
                 (2, 1, None)])                # weight NULL
    with sqlite3.connect(tags) as con:
        con.execute("UPDATE tags SET tag = CAST(X'6d6574616c20e974e9' AS TEXT) WHERE ROWID = 3")
    con.close()
    path, summary, errors = build(tmp_path, dict(small, lastfm_tags=str(tags)), min_weight=10)
    assert errors.counts_by_reason() == {
        "duplicate (track, tag)": 1, "bad tag text": 1, "refers to a missing or rejected tag": 2,
        "track id not in the track list": 1, "tag empty after canonicalization": 1, "bad weight": 1}
    messages = "\n".join(str(e) for e in errors.examples)
    assert f"{tags}:tid_tag rowid 2: duplicate (track, tag) (same tid and tag as rowid 1" in messages
    assert f"{tags}:tids rowid 3: track id not in the track list (TRUNKNOWN00000000)" in messages
    assert summary["bad_rows"]["by_reason"] == errors.counts_by_reason()
    with TagDB(path) as db:
        assert db.vocabulary_counts() == [("électro", 2), ("rock", 1)]
        np.testing.assert_array_equal(db.tag_weights([tid(1), tid(2)]), [[70, 100], [80, 0]])


def test_duplicate_tags_in_json(tmp_path, small):
    root = tmp_path / "lastfm_train"
    write_lastfm_json(root, tid(1), [["rock", "100"], ["Rock", "50"], ["rock", "20"]])
    write_lastfm_json(root, tid(2), [["jazz", "100"]])
    write_lastfm_json(root, "TRUNKNOWN12345678", [["jazz", "100"]])
    sources = dict(track_metadata=small["track_metadata"], lastfm_json=[str(root)])
    path, summary, errors = build(tmp_path, sources, min_weight=10)
    assert errors.counts_by_reason() == {"duplicate (track, tag)": 1, "track id not in the track list": 1}
    assert summary["tag_rows"]["on_unknown_tracks"] == 1
    with TagDB(path) as db:
        assert db.vocabulary() == ["jazz", "rock"]
        np.testing.assert_array_equal(db.tag_weights([tid(1)]), [[0, 100]])
        assert db.song_to_track()[sid(2)] == tid(2)


def test_unreadable_input_fails_and_leaves_no_output(tmp_path, small):
    junk = tmp_path / "lastfm_tags.db"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(InputFileError, match=r"lastfm_tags\.db: not a readable SQLite database"):
        build(tmp_path, dict(small, lastfm_tags=str(junk)))
    assert sorted(os.listdir(tmp_path)) == ["lastfm_tags.db", "sid_mismatches.txt", "track_metadata.db"]


def test_nothing_to_build_fails_clearly(tmp_path, small):
    with pytest.raises(ValueError, match="no tag source"):
        build(tmp_path, dict(small, lastfm_tags=None))
    with pytest.raises(ValueError, match="no tag has weight >= min_weight=100.5"):
        build(tmp_path, small, min_weight=100.5)
    with pytest.raises(ValueError, match="no usable track"):
        build(tmp_path, small, audio_filter="local")
    assert not (tmp_path / "tags.sqlite").exists()


def test_no_tagged_track_fails_saying_where_the_tag_rows_went(tmp_path, small):
    from krotos.msd.errors import EmptyResultError

    tags = write_lastfm_tags(tmp_path / "other_tags.db", [("TRUNKNOWN", "rock", 100),
                                                          (tid(6), "rock", 100)])
    with pytest.raises(EmptyResultError, match=r"other_tags\.db: no tagged track: .*2 tag rows "
                                               r"read, 0 on kept tracks, 1 on tracks not in the "
                                               r"track list, 1 on tracks left out for want of "
                                               r"audio; 1 row\(s\) rejected: 1 track id not in"):
        build(tmp_path, dict(small, lastfm_tags=str(tags)))
    assert not (tmp_path / "tags.sqlite").exists()


def test_same_msd_file_under_two_names_is_kept_once_and_both_are_named(tmp_path):
    import shutil

    folder = tmp_path / "msd"
    folder.mkdir()
    real = real_fixture("msd_h5")
    for h5 in sorted(real.glob("TR*.h5"))[:3]:
        shutil.copy(h5, folder / h5.name)
    shutil.copy(real / "TRABFDT12903CADD73.h5", folder / "copy of TRABFDT12903CADD73.h5")
    tags = write_lastfm_tags(tmp_path / "lastfm_tags.db", [("TRABFDT12903CADD73", "rock", 100)])
    path, summary, errors = build(tmp_path, dict(msd_h5=str(folder), lastfm_tags=str(tags)),
                                  audio_filter="none")
    assert summary["tracks"]["kept"] == 3
    assert errors.counts_by_reason() == {"duplicate track_id": 1}
    assert str(errors.examples[0]) == (
        f"{folder / 'copy of TRABFDT12903CADD73.h5'}: duplicate track_id (TRABFDT12903CADD73 "
        f"already read from {folder / 'TRABFDT12903CADD73.h5'}; kept that one)")


def test_tagdb_says_when_its_file_is_empty_or_locked(tmp_path, small, monkeypatch):
    import krotos.msd.sqlite_input

    (tmp_path / "empty.sqlite").write_bytes(b"")
    with pytest.raises(InputFileError, match=r"empty\.sqlite: empty \(0 bytes\)"):
        TagDB(tmp_path / "empty.sqlite")
    path, _, _ = build(tmp_path, small)
    monkeypatch.setattr(krotos.msd.sqlite_input, "LOCK_TIMEOUT", 0.1)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(InputFileError, match=r"tags\.sqlite: locked by another process"):
            TagDB(path)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_unique_tracks_as_track_list(tmp_path, small):
    lines = tmp_path / "unique_tracks.txt"
    lines.write_text(f"{tid(1)}<SEP>{sid(1)}<SEP>Kid Cudi<SEP>Up Up & Away\n"
                     f"{tid(3)}<SEP>{sid(3)}<SEP>Mae<SEP>Just Let Go\n")
    path, summary, _ = build(tmp_path, dict(small, track_metadata=None, unique_tracks=str(lines)),
                             audio_filter="none")
    with TagDB(path) as db:
        first = db.tracks()[0]
        assert first == Track(tid(1), sid(1), None, "Kid Cudi", first.artist_id, "Up Up & Away", None)
        assert summary["bad_rows"]["by_reason"] == {"track id not in the track list": 3}


def test_tag_matrix_large_request_path(tmp_path, small, monkeypatch):
    path, _, _ = build(tmp_path, small, min_weight=10)
    with TagDB(path) as db:
        ids = db.track_ids() * 3
        expected = db.tag_matrix(ids)
        # Many tracks: the reader scans the vocabulary rows once instead of IN (...) lists.
        monkeypatch.setattr(tagdb_reader, "_FULL_SCAN_FROM", 2)
        np.testing.assert_array_equal(db.tag_matrix(ids), expected)
        assert expected.sum() > 0


def test_tagdb_opens_read_only_and_rejects_other_files(tmp_path, small):
    path, _, _ = build(tmp_path, small)
    with TagDB(path) as db:
        with pytest.raises(Exception, match="readonly"):
            db._conn.execute("DELETE FROM tracks")
    with pytest.raises(InputFileError, match=r"track_metadata\.db: not a krotos tag database"):
        TagDB(small["track_metadata"])
    (tmp_path / "junk.sqlite").write_bytes(b"junk" * 100)
    with pytest.raises(InputFileError, match=r"junk\.sqlite: not a krotos tag database"):
        TagDB(tmp_path / "junk.sqlite")
    with pytest.raises(InputFileError, match="no such file"):
        TagDB(tmp_path / "absent.sqlite")


def test_real_msd_tracks_with_their_lastfm_top50_labels(tmp_path):
    """Real MSD metadata and real Last.fm top-50 labels in, the same labels out."""
    folder = real_fixture("msd_h5")
    rows = []
    for path in sorted(folder.glob("TR*.h5")):
        with MSDFile(path) as f:
            s = f.song(0)
        rows.append(dict(song(s["track_id"], s["song_id"], s["artist_name"], s["title"],
                              digital=s["track_7digitalid"], artist_id=s["artist_id"],
                              year=s["year"], duration=s["duration"])))
    meta = write_track_metadata(tmp_path / "track_metadata.db", rows)
    with open(folder / "lastfm_top50_labels.tsv", newline="") as f:
        labels = {r["track_id"]: r["tags"].split(",") for r in csv.DictReader(f, delimiter="\t")}
    tags = write_lastfm_tags(tmp_path / "lastfm_tags.db",
                             [(t, tag, 100) for t, names in labels.items() for tag in names])
    mismatches = real_fixture("taste_profile", "sid_mismatches_head100.txt")
    path, summary, errors = build(tmp_path, dict(track_metadata=str(meta), lastfm_tags=str(tags),
                                                 sid_mismatches=str(mismatches)), n_tags=50)
    assert errors.total == 0
    with TagDB(path) as db:
        vocab = db.vocabulary()
        # Two tracks each, then one each; ties in name order.
        assert vocab == ["hip hop", "jazz", "rnb", "rock", "90s", "dance", "indie", "indie rock",
                         "pop", "punk"]
        assert set(vocab) == {canonical_tag(t) for names in labels.values() for t in names}
        ids = sorted(labels)
        matrix = db.tag_matrix(ids)
        for row, track_id in zip(matrix, ids):
            assert {vocab[j] for j in np.flatnonzero(row)} == {canonical_tag(t) for t in labels[track_id]}
        assert db.tracks()[0].track_7digitalid == 6394026
        assert len(db.song_to_track()) == 8 and len(db.mismatches()) == 100


def test_paths_with_uri_characters(tmp_path, small):
    folder = tmp_path / "odd dir?%23#x"
    folder.mkdir()
    path, _, _ = build(folder, small, n_tags=2)
    with TagDB(path) as db:
        assert db.vocabulary() == ["hip hop", "rock"]
    assert sorted(p.name for p in folder.iterdir()) == ["tags.sqlite"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lastfm_tags.db", "odd dir?%23#x", "sid_mismatches.txt", "track_metadata.db"]


def test_track_list_from_msd_h5_files_when_no_track_metadata(tmp_path):
    """The real MSD HDF5 files give the track list when track_metadata.db is absent."""
    import shutil
    import sqlite3

    from conftest import real_fixture
    from krotos.tagdb import TagDB, build_tag_database

    real = real_fixture("msd_h5")
    tree = tmp_path / "msd"
    for h5 in sorted(real.glob("TR*.h5")):
        folder = tree / h5.name[2] / h5.name[3] / h5.name[4]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(h5, folder / h5.name)
    ids = [h5.stem for h5 in sorted(real.glob("TR*.h5"))]
    tags = tmp_path / "lastfm_tags.db"
    with sqlite3.connect(tags) as db:
        db.executescript("CREATE TABLE tids (tid TEXT); CREATE TABLE tags (tag TEXT);"
                         "CREATE TABLE tid_tag (tid INT, tag INT, val FLOAT);"
                         "INSERT INTO tags VALUES ('rock');")
        db.executemany("INSERT INTO tids VALUES (?)", [(t,) for t in ids])
        db.executemany("INSERT INTO tid_tag VALUES (?, 1, 100.0)",
                       [(i + 1,) for i in range(len(ids))])
    db.close()
    out = tmp_path / "tags.sqlite"
    build_tag_database(out, msd_h5=str(tree), lastfm_tags=str(tags),
                       params=TagDatabaseParams(audio_filter="none"))
    with TagDB(str(out)) as built:
        tracks = built.tracks()
    assert [t.track_id for t in tracks] == sorted(ids)
    kid_cudi = next(t for t in tracks if t.track_id == "TRABFDT12903CADD73")
    assert kid_cudi.song_id == "SOARUPP12AB01842E0" and kid_cudi.track_7digitalid == 6394026
    assert kid_cudi.artist == "Kid Cudi"
