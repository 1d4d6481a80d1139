"""Readers of the MSD HDF5 files and the text lists, on real fixture files and broken copies."""

import shutil

import numpy as np
import pytest

from conftest import real_fixture
from krotos.msd import (
    BadInputLog, InputFileError, MSDFile, iter_msd_h5_folder, iter_triplet_chunks, iter_triplets,
    read_msd_h5, read_sid_mismatches, read_unique_tracks)

# -- MSD HDF5 ------------------------------------------------------------------------------


def test_real_per_track_h5_files():
    folder = real_fixture("msd_h5")
    paths = sorted(folder.glob("TR*.h5"))
    assert len(paths) == 8
    for path in paths:
        with MSDFile(path) as f:
            assert len(f) == 1
            song = f.song(0)
            # Fixed-width byte strings come back as str without NUL padding.
            assert song["track_id"] == path.stem
            assert song["song_id"].startswith("SO") and len(song["song_id"]) == 18
            assert isinstance(song["artist_name"], str) and song["artist_name"]
            assert song["track_7digitalid"] > 0 and song["duration"] > 30
            segments = f.segments()
            n = len(segments["segments_start"])
            assert n > 100
            assert segments["segments_timbre"].shape == (n, 12)
            assert segments["segments_pitches"].shape == (n, 12)
            assert np.all(np.diff(segments["segments_start"]) >= 0)
            assert segments["segments_start"][-1] < song["duration"]
            # Chroma is normalized to a maximum of 1 per segment.
            assert segments["segments_pitches"].max() <= 1.0 + 1e-9
    kid_cudi = read_msd_h5(folder / "TRABFDT12903CADD73.h5")[0]
    assert (kid_cudi["artist_name"], kid_cudi["title"], kid_cudi["year"]) == (
        "Kid Cudi", "Up Up & Away", 2009)
    assert kid_cudi["song_id"] == "SOARUPP12AB01842E0" and kid_cudi["track_7digitalid"] == 6394026
    with MSDFile(folder / "TRABFDT12903CADD73.h5") as f:
        assert "hip hop" in list(f.array("artist_terms"))
        assert f.array("beats_start").ndim == 1
        assert "segments_timbre" in f.array_names()
        with pytest.raises(KeyError, match="no array 'nonsense'"):
            f.array("nonsense")


def _aggregate_copy(sources, target):
    """Write two real songs into one file the way the MSD aggregate/summary files do."""
    import h5py

    with h5py.File(target, "w") as out:
        files = [h5py.File(p, "r") for p in sources]
        try:
            for group in ("metadata", "analysis", "musicbrainz"):
                rows = np.concatenate([f[f"{group}/songs"][:] for f in files])
                for name in files[0][group]:
                    if name == "songs":
                        continue
                    parts = [f[group][name][:] for f in files]
                    index = f"idx_{name}"
                    if index in rows.dtype.names:
                        rows[index] = np.cumsum([0] + [len(p) for p in parts[:-1]])
                    out.create_dataset(f"{group}/{name}", data=np.concatenate(parts))
                out.create_dataset(f"{group}/songs", data=rows)
        finally:
            for f in files:
                f.close()


def test_aggregate_file_slices_arrays_per_song(tmp_path):
    folder = real_fixture("msd_h5")
    sources = [folder / "TRABFDT12903CADD73.h5", folder / "TRCECVD128F9313C63.h5"]
    _aggregate_copy(sources, tmp_path / "aggregate.h5")
    with MSDFile(tmp_path / "aggregate.h5") as f:
        assert len(f) == 2
        assert [s["track_id"] for s in f.songs()] == [p.stem for p in sources]
        for i, source in enumerate(sources):
            with MSDFile(source) as single:
                np.testing.assert_array_equal(f.array("segments_timbre", i),
                                              single.array("segments_timbre"))
                assert list(f.array("artist_terms", i)) == list(single.array("artist_terms"))


def test_truncated_h5_fails_alone_and_is_skipped_in_a_folder(tmp_path):
    folder = real_fixture("msd_h5")
    for path in sorted(folder.glob("TR*.h5"))[:3]:
        shutil.copy(path, tmp_path / path.name)
    victim = tmp_path / "TRCECVD128F9313C63.h5"
    victim.write_bytes(victim.read_bytes()[:50_000])
    with pytest.raises(InputFileError, match=r"TRCECVD128F9313C63\.h5: cannot open as HDF5"):
        MSDFile(victim)
    errors = BadInputLog()
    songs = list(iter_msd_h5_folder(tmp_path, errors, with_segments=True))
    assert [s["track_id"] for s in songs] == ["TRABFDT12903CADD73", "TRDWTVM128F92EC39C"]
    assert songs[0]["segments"]["segments_timbre"].shape[1] == 12
    assert errors.counts_by_reason() == {"unreadable HDF5": 1}
    assert str(errors.examples[0]).startswith(f"{victim}: unreadable HDF5 (cannot open as HDF5")


def test_h5_that_is_not_msd(tmp_path):
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(InputFileError, match=r"other\.h5: no metadata/songs table"):
        MSDFile(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(InputFileError, match=r"text\.h5: cannot open as HDF5"):
        read_msd_h5(tmp_path / "text.h5")


# -- unique_tracks.txt ---------------------------------------------------------------------

def test_real_unique_tracks():
    rows = read_unique_tracks(real_fixture("lists", "subset_unique_tracks_head120.txt"))
    assert len(rows) == 120
    assert rows[0] == ("TRAACOW128F933E35F", "SOVYKGO12AB0187199", "Faye Adams", "Crazy Mixed Up World")
    assert all(r.track_id.startswith("TR") and r.song_id.startswith("SO") for r in rows)
    assert len({r.track_id for r in rows}) == 120


def test_unique_tracks_bad_lines(tmp_path):
    path = tmp_path / "unique_tracks.txt"
    path.write_bytes(b"TRA<SEP>SOA<SEP>Artist<SEP>Title\n"
                     b"TRB<SEP>SOB<SEP>only three\n"
                     b"<SEP>SOC<SEP>Artist<SEP>Title\n"
                     b"\n"
                     b"TRD<SEP>SOD<SEP>Caf\xe9<SEP>Title\n"
                     b"TRE<SEP>SOE<SEP>A<SEP>Title with <SEP> inside\n"
                     b"TRF<SEP>SOF<SEP>Sigur R\xc3\xb3s<SEP>Hopp\xc3\xadpolla")
    errors = BadInputLog()
    rows = read_unique_tracks(path, errors)
    assert rows == [("TRA", "SOA", "Artist", "Title"), ("TRF", "SOF", "Sigur Rós", "Hoppípolla")]
    assert errors.counts_by_reason() == {
        "wrong field count": 2, "empty track or song id": 1, "empty line": 1, "line not UTF-8": 1}
    assert [e.line for e in errors.examples] == [2, 3, 4, 5, 6]


# -- Taste Profile triplets ----------------------------------------------------------------

def test_real_triplets_stream_and_chunks_agree():
    path = real_fixture("taste_profile", "triplets_head2000.txt")
    plays = list(iter_triplets(path))
    assert len(plays) == 2000
    assert plays[0] == ("b80344d063b5ccb3212f76538f3d9e43d87dca9e", "SOAKIMP12A8C130995", 1)
    assert len({u for u, _, _ in plays}) == 60
    errors = BadInputLog()
    chunks = list(iter_triplet_chunks(path, chunk_lines=700, errors=errors))
    assert [len(c[0]) for c in chunks] == [700, 700, 600]
    users = np.concatenate([c[0] for c in chunks])
    songs = np.concatenate([c[1] for c in chunks])
    counts = np.concatenate([c[2] for c in chunks])
    assert users.dtype.kind == "U" and songs.dtype.kind == "U" and counts.dtype == np.int64
    assert list(zip(users.tolist(), songs.tolist(), counts.tolist())) == plays
    assert errors.total == 0


BAD_TRIPLETS = (
    b"u1\tSOAAAAA12A8C130995\t3\n"         # 1 good
    b"u1\tSOBBBBB12A8C130995\n"            # 2 wrong field count
    b"u1\tSOCCCCC12A8C130995\tmany\n"      # 3 non-integer count
    b"u2\t\t4\n"                           # 4 empty song id
    b"\tSODDDDD12A8C130995\t1\n"           # 5 empty user
    b"u2\tSOEEEEE12A8C130995\t0\n"         # 6 non-positive count
    b"u2\tSOFFFFF12A8C130995\t2\t9\n"      # 7 wrong field count
    b"\n"                                  # 8 empty line
    b"u\xe9\tSOGGGGG12A8C130995\t1\n"      # 9 not UTF-8
    b"u3\tSOHHHHH12A8C130995\t7\r\n"       # 10 good (CRLF)
    b"u3\tSOIIIII12A8C130995\t1.5\n"       # 11 non-integer count
    b"u3\tSOJJJJJ12A8C130995\t12")         # 12 good, no final newline
GOOD = [("u1", "SOAAAAA12A8C130995", 3), ("u3", "SOHHHHH12A8C130995", 7),
        ("u3", "SOJJJJJ12A8C130995", 12)]
BAD_LINES = {2: "wrong field count", 3: "non-integer count", 4: "empty song id",
             5: "empty user id", 6: "non-positive count", 7: "wrong field count",
             8: "empty line", 9: "line not UTF-8", 11: "non-integer count"}


def test_triplets_bad_lines_are_reported_by_line(tmp_path):
    path = tmp_path / "train_triplets.txt"
    path.write_bytes(BAD_TRIPLETS)
    errors = BadInputLog(max_examples=10)
    assert list(iter_triplets(path, errors)) == GOOD
    assert {e.line: e.reason for e in errors.examples} == BAD_LINES
    assert all(e.path == str(path) for e in errors.examples)
    assert "train_triplets.txt:3: non-integer count ('many')" in str(errors.examples[1])
    assert errors.summary()["by_file"] == {str(path): 9}


@pytest.mark.parametrize("chunk_lines", [1, 4, 5, 100])
def test_triplet_chunks_keep_good_lines_and_line_numbers(tmp_path, chunk_lines):
    path = tmp_path / "train_triplets.txt"
    path.write_bytes(BAD_TRIPLETS)
    errors = BadInputLog(max_examples=10)
    chunks = list(iter_triplet_chunks(path, chunk_lines=chunk_lines, errors=errors))
    got = [(u, s, int(c)) for users, songs, counts in chunks
           for u, s, c in zip(users.tolist(), songs.tolist(), counts.tolist())]
    assert got == GOOD
    assert all(len(c[0]) > 0 for c in chunks)
    assert {e.line: e.reason for e in errors.examples} == BAD_LINES


def test_triplets_missing_file(tmp_path):
    with pytest.raises(InputFileError, match=r"train_triplets\.txt: cannot open"):
        next(iter_triplet_chunks(tmp_path / "train_triplets.txt"))
    with pytest.raises(ValueError, match="chunk_lines"):
        next(iter_triplet_chunks(tmp_path / "train_triplets.txt", chunk_lines=0))


# -- sid_mismatches.txt --------------------------------------------------------------------

def test_real_sid_mismatches():
    pairs = read_sid_mismatches(real_fixture("taste_profile", "sid_mismatches_head100.txt"))
    assert len(pairs) == 100
    assert ("SOUMNSI12AB0182807", "TRMMGKQ128F9325E10") in pairs
    assert all(s.startswith("SO") and t.startswith("TR") for s, t in pairs)


def test_sid_mismatches_bad_lines(tmp_path):
    path = tmp_path / "sid_mismatches.txt"
    path.write_bytes(
        b"ERROR: <SOUMNSI12AB0182807 TRMMGKQ128F9325E10> Digital Underground  -  The Way"
        b" We Swing  !=  Linkwood  -  Whats up with the Underground\n"
        b"ERROR: <SOCMRBE12AB018C546 TRMMREB12903CEB1B1> Caf\xe9  -  x  !=  y  -  z\n"
        b"WARNING: something else\n"
        b"ERROR: <TRMMREB12903CEB1B1 SOCMRBE12AB018C546> swapped  !=  ids\n"
        b"\n")
    errors = BadInputLog()
    pairs = read_sid_mismatches(path, errors)
    assert pairs == {("SOUMNSI12AB0182807", "TRMMGKQ128F9325E10"),
                     ("SOCMRBE12AB018C546", "TRMMREB12903CEB1B1")}
    assert [(e.line, e.reason) for e in errors.examples] == [
        (3, "not an 'ERROR: <SONG TRACK>' line"), (4, "ids are not <SO... TR...>")]


def test_bad_input_log_caps_examples_but_counts_all():
    errors = BadInputLog(max_examples=2)
    for line in range(1, 6):
        errors.add("f.txt", line, "wrong field count")
    errors.add("g.txt", "tid_tag rowid 3", "duplicate (track, tag)", "kept max", count=4)
    assert errors.counts_by_reason() == {"wrong field count": 5, "duplicate (track, tag)": 4}
    assert errors.total == 9 and len(errors.examples) == 3
    assert str(errors.examples[-1]) == "g.txt:tid_tag rowid 3: duplicate (track, tag) (kept max)"
    assert errors.summary()["by_file"] == {"f.txt": 5, "g.txt": 4}


# -- Files fed the wrong way: compressed, with a BOM, counts past int64 --------------------

def _compressed(tmp_path, source, kind):
    import bz2
    import gzip
    import lzma

    compress = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[kind]
    # Named .txt on purpose: the first bytes decide, not the name.
    path = tmp_path / source.name
    path.write_bytes(compress(source.read_bytes()))
    return path


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_compressed_text_files_are_read_as_their_plain_text(tmp_path, kind):
    triplets = real_fixture("taste_profile", "triplets_head2000.txt")
    mismatches = real_fixture("taste_profile", "sid_mismatches_head100.txt")
    unique = real_fixture("lists", "subset_unique_tracks_head120.txt")
    errors = BadInputLog()
    packed = _compressed(tmp_path, triplets, kind)
    assert list(iter_triplets(packed, errors)) == list(iter_triplets(triplets))
    chunks = list(iter_triplet_chunks(packed, chunk_lines=700, errors=errors))
    assert sum(len(c[0]) for c in chunks) == 2000 and errors.total == 0
    assert read_sid_mismatches(_compressed(tmp_path, mismatches, kind)) == \
        read_sid_mismatches(mismatches)
    assert read_unique_tracks(_compressed(tmp_path, unique, kind)) == read_unique_tracks(unique)


def test_truncated_gzip_fails_naming_the_file_and_the_last_line(tmp_path):
    import gzip

    data = gzip.compress(real_fixture("taste_profile", "triplets_head2000.txt").read_bytes())
    path = tmp_path / "train_triplets.txt.gz"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(InputFileError, match=r"train_triplets\.txt\.gz: read failed after line "
                                             r"\d+ .*damaged or truncated"):
        list(iter_triplets(path))
    with pytest.raises(InputFileError, match="damaged or truncated"):
        list(iter_triplet_chunks(path, chunk_lines=100))


@pytest.mark.parametrize("data, what", [
    (b"PK\x03\x04 zip", "a zip archive, not a text file: unzip it"),
    (b"\x28\xb5\x2f\xfd zstd", "zstd-compressed, not a text file: decompress it first"),
    (b"\xff\xfeu\x001\x00", "UTF-16 text, not a text file: convert it to UTF-8"),
    (b"SQLite format 3\x00 ...", "a SQLite database, not a text file"),
])
def test_files_that_are_not_text_are_refused_by_name(tmp_path, data, what):
    path = tmp_path / "list.txt"
    path.write_bytes(data)
    for read in (lambda p: list(iter_triplets(p)), read_sid_mismatches, read_unique_tracks):
        with pytest.raises(InputFileError, match=f"list.txt: {what}"):
            read(path)


def test_byte_order_mark_is_not_part_of_the_first_id(tmp_path):
    bom = b"\xef\xbb\xbf"
    triplets = tmp_path / "train_triplets.txt"
    triplets.write_bytes(bom + b"b80344\tSOAKIMP12A8C130995\t1\nu2\tSOB\t2\n")
    assert [u for u, _, _ in iter_triplets(triplets)] == ["b80344", "u2"]
    assert [c[0].tolist() for c in iter_triplet_chunks(triplets)] == [["b80344", "u2"]]
    unique = tmp_path / "unique_tracks.txt"
    unique.write_bytes(bom + b"TRAACOW128F933E35F<SEP>SOVYKGO12AB0187199<SEP>Faye<SEP>Crazy\n")
    assert read_unique_tracks(unique)[0].track_id == "TRAACOW128F933E35F"
    mismatches = tmp_path / "sid_mismatches.txt"
    mismatches.write_bytes(bom + b"ERROR: <SOUMNSI12AB0182807 TRMMGKQ128F9325E10> a  !=  b\n")
    errors = BadInputLog()
    assert read_sid_mismatches(mismatches, errors) == {("SOUMNSI12AB0182807", "TRMMGKQ128F9325E10")}
    assert errors.total == 0


def test_counts_past_int64_and_odd_digits_are_bad_lines(tmp_path):
    path = tmp_path / "train_triplets.txt"
    path.write_bytes(b"u1\tS1\t100000000000000000000\n"   # 1: past int64
                     b"u1\tS2\t9223372036854775807\n"     # 2: int64 max: kept
                     b"u1\tS3\t1_000\n"                   # 3: int() would say 1000
                     b"u1\tS4\t\xd9\xa3\n"                # 4: an Arabic-Indic 3
                     b"u1\tS5\t" + b"9" * 5000 + b"\n"    # 5: more digits than int() converts
                     b"u1\tS6\t007\n")                    # 6: kept
    for chunk_lines in (1, 100):
        errors = BadInputLog(max_examples=10)
        chunks = list(iter_triplet_chunks(path, chunk_lines=chunk_lines, errors=errors))
        got = [(s, int(c)) for _, songs, counts in chunks for s, c in zip(songs, counts)]
        assert got == [("S2", 9223372036854775807), ("S6", 7)]
        assert {e.line: e.reason for e in errors.examples} == {
            1: "count out of int64 range", 3: "non-integer count", 4: "non-integer count",
            5: "count out of int64 range"}
