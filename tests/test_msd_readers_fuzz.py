"""Property tests of the text and JSON readers: any input parses or is counted as bad.

Hypothesis writes arbitrary lines (near-valid ones, junk, odd Unicode, huge
numbers, control bytes) into real files and runs the public readers on them.
Whatever the bytes, a reader either yields rows that are well-formed or
records the line (file, line, reason) in its ``BadInputLog``; it never
raises, except :class:`InputFileError` for a file whose first bytes say it
is not text at all.

The examples are bounded and derandomized so that CI runs the same quick
cases every time; ``KROTOS_FUZZ_EXAMPLES=5000`` explores more, at random.
"""

import json
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from krotos.msd import (
    BadInputLog, InputFileError, iter_lastfm_json, iter_triplet_chunks, iter_triplets,
    iter_unique_tracks, read_sid_mismatches)
from krotos.msd.compression import sniff

_EXAMPLES = int(os.environ.get("KROTOS_FUZZ_EXAMPLES", "0"))

FUZZ = settings(
    max_examples=_EXAMPLES or 100, derandomize=not _EXAMPLES, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow])

INT64_MAX = np.iinfo(np.int64).max


def _write(folder, name, data):
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _lines(data):
    """The lines a reader sees in ``data`` (split at \\n; no empty last line)."""
    lines = data.split(b"\n")
    return lines[:-1] if lines and lines[-1] == b"" else lines


def _is_text(data):
    return sniff(data[:16])[0] == "plain"


# Pieces users' files are made of, so that near-valid lines are common.
_ids = st.one_of(
    st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
    st.from_regex(r"SO[A-Z0-9]{16}", fullmatch=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "\ufeffu1", "u\x00", "\u00e9", "\ud800", "\r", "a b"]))
_counts = st.one_of(
    st.integers(min_value=-5, max_value=2**70).map(str),
    st.sampled_from(["0", "-0", "+3", "007", "1_000", "1e3", "\u0663", " 4", "4 ", "",
                     str(INT64_MAX), str(INT64_MAX + 1), "9" * 5000]),
    st.text(max_size=6))
def _one_line(strategy):
    """Lines without their end: a newline inside would make two lines."""
    return strategy.map(lambda line: line.replace(b"\n", b""))


def _joined(sep):
    return lambda fields: sep.join(fields).encode("utf-8", "surrogatepass")


_triplet_line = _one_line(st.one_of(
    st.tuples(_ids, _ids, _counts).map(_joined("\t")),
    st.lists(_ids, max_size=5).map(_joined("\t")),
    st.binary(max_size=40)))


@FUZZ
@given(lines=st.lists(_triplet_line, max_size=12), bom=st.booleans(), crlf=st.booleans(),
       chunk_lines=st.integers(min_value=1, max_value=5))
def test_triplet_lines_parse_or_are_counted(lines, bom, crlf, chunk_lines):
    end = b"\r\n" if crlf else b"\n"
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(line + end for line in lines)
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, "train_triplets.txt", data)
        errors = BadInputLog()
        try:
            rows = list(iter_triplets(path, errors))
        except InputFileError:
            assert not _is_text(data)
            return
        assert len(rows) + errors.total == len(lines)
        for user, song, count in rows:
            assert user and song and user == user.strip() and song == song.strip()
            assert "\t" not in user + song
            assert isinstance(count, int) and 0 < count <= INT64_MAX
        assert all(item.reason and isinstance(item.line, int) for item in errors.examples)
        # The chunked reader (a numpy fast path and this line path) agrees row for row.
        chunk_errors = BadInputLog()
        chunks = list(iter_triplet_chunks(path, chunk_lines=chunk_lines, errors=chunk_errors))
        flat = [(u, s, int(c)) for users, songs, counts in chunks
                for u, s, c in zip(users.tolist(), songs.tolist(), counts.tolist())]
        assert flat == rows
        assert chunk_errors.counts_by_reason() == errors.counts_by_reason()


_mismatch_line = _one_line(st.one_of(
    st.tuples(_ids, _ids, st.text(max_size=20)).map(
        lambda f: f"ERROR: <{f[0]} {f[1]}> {f[2]}".encode("utf-8", "surrogatepass")),
    st.tuples(st.from_regex(r"SO[A-Z0-9]{16}", fullmatch=True),
              st.from_regex(r"TR[A-Z0-9]{16}", fullmatch=True), st.binary(max_size=20)).map(
        lambda f: f"ERROR: <{f[0]} {f[1]}> ".encode() + f[2]),
    st.binary(max_size=40)))


@FUZZ
@given(lines=st.lists(_mismatch_line, max_size=12), bom=st.booleans())
def test_sid_mismatch_lines_parse_or_are_counted(lines, bom):
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(line + b"\n" for line in lines)
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, "sid_mismatches.txt", data)
        errors = BadInputLog()
        try:
            pairs = read_sid_mismatches(path, errors)
        except InputFileError:
            assert not _is_text(data)
            return
        for song, track in pairs:
            assert song.startswith("SO") and track.startswith("TR")
            assert not any(c.isspace() for c in song + track)
        # Read alone, every line that is not blank gives one pair or one counted bad line.
        per_line, n_bad, n_blank = set(), 0, 0
        for line in _lines(data.removeprefix(b"\xef\xbb\xbf")):
            alone = BadInputLog()
            # After a blank line (skipped), so that no line alone looks like a .gz file.
            found = read_sid_mismatches(_write(folder, "one.txt", b"\n" + line + b"\n"), alone)
            assert len(found) + alone.total <= 1
            n_blank += len(found) + alone.total == 0
            per_line |= found
            n_bad += alone.total
        assert per_line == pairs and n_bad == errors.total
        assert n_blank == sum(1 for line in lines if not line.removeprefix(b"\xef\xbb\xbf").strip())


_unique_line = _one_line(st.one_of(
    st.lists(_ids, min_size=4, max_size=4).map(_joined("<SEP>")),
    st.lists(st.text(max_size=8), max_size=6).map(_joined("<SEP>")),
    st.binary(max_size=40)))


@FUZZ
@given(lines=st.lists(_unique_line, max_size=12), bom=st.booleans())
def test_unique_track_lines_parse_or_are_counted(lines, bom):
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(line + b"\n" for line in lines)
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, "unique_tracks.txt", data)
        errors = BadInputLog()
        try:
            rows = list(iter_unique_tracks(path, errors))
        except InputFileError:
            assert not _is_text(data)
            return
        assert len(rows) + errors.total == len(lines)
        for row in rows:
            assert row.track_id and row.song_id
            assert all("<SEP>" not in field for field in row)


# JSON values, including what json.loads accepts but strict JSON does not
# (NaN, Infinity, huge integers) and lone surrogates in strings.
_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**80, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
    st.sampled_from(["100", "1e400", "nan", "-1", "\ud800"]))
_json_values = st.recursive(
    _json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                           st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
_tag_entries = st.lists(st.one_of(
    st.tuples(st.text(max_size=10), st.one_of(_json_scalars, st.integers(min_value=-10**30,
                                                                         max_value=10**30))).map(list),
    _json_values), max_size=5)
_records = st.one_of(
    _json_values,
    st.fixed_dictionaries({"track_id": st.sampled_from(["TRAAAAK128F9318786", "", "TROTHER"]),
                           "tags": st.one_of(_tag_entries, _json_values)},
                          optional={"artist": _json_values, "title": _json_values,
                                    "similars": st.one_of(_tag_entries, _json_values)}))


def _json_bytes(value):
    return json.dumps(value, allow_nan=True).encode("utf-8")


@FUZZ
@given(files=st.lists(st.one_of(_records.map(_json_bytes), st.binary(max_size=60),
                                st.integers(min_value=1, max_value=3000).map(
                                    lambda depth: b"[" * depth + b"]" * depth),
                                st.just(b'{"track_id": "TRAAAAK128F9318786", "tags": [["x", '
                                        + b"9" * 5000 + b"]]}")),
                      min_size=1, max_size=4))
def test_lastfm_json_files_parse_or_are_counted(files):
    with tempfile.TemporaryDirectory() as root:
        paths = []
        for i, data in enumerate(files):
            folder = os.path.join(root, "A", "A", str(i))
            os.makedirs(folder)
            paths.append(_write(folder, "TRAAAAK128F9318786.json", data))
        errors = BadInputLog()
        tracks = list(iter_lastfm_json(root, errors))
        reported = set(errors.counts_by_file())
        for track in tracks:
            assert track.track_id == "TRAAAAK128F9318786"
            for text in (track.track_id, track.artist, track.title):
                text.encode("utf-8")  # a lone surrogate would fail the SQLite insert later
            for name, weight in track.tags:
                assert name.strip() and 0.0 <= weight <= 100.0
                name.encode("utf-8")
            for name, score in track.similars:
                assert name.strip() and np.isfinite(score)
                name.encode("utf-8")
        # A file that gave no track is one the log names.
        given_track = {t.path for t in tracks}
        assert set(paths) - given_track <= reported


@pytest.mark.parametrize("data", [b"\x1f\x8b\x08junk", b"PK\x03\x04junk", b"\xff\xfeu\x00"])
def test_a_file_that_is_not_text_is_refused_by_name(tmp_path, data):
    path = tmp_path / "train_triplets.txt"
    path.write_bytes(data)
    with pytest.raises(InputFileError, match="train_triplets.txt: "):
        list(iter_triplets(path))
