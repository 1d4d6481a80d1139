"""Real dataset files, damaged the ways users damage them, fed to the real tasks.

A tiny real dataset is assembled from the real fixtures (8 MSD track files,
their Last.fm top-50 labels, 2,000 Taste Profile lines, 100 real
``sid_mismatches`` lines, real ``unique_tracks`` lines). Each case damages one
file (compressed, a byte-order mark, counts beyond int32 or int64, bad lines,
a duplicate track file, an empty, compressed or locked SQLite file, ...) and
runs ``luigi --module pipeline <Task> --local-scheduler`` on it (in this
process, through Luigi's own exit-code logic, so that the exit status is the
one a user sees). Each case asserts the exit status, the reason recorded
(the task's summary or its failure record), and that the good rows survived.
No run may exit 0 with an empty or all-NaN output.
"""

import bz2
import configparser
import csv
import glob
import gzip
import json
import lzma
import math
import os
import shutil
import sqlite3
import zipfile

import numpy as np
import pytest

from conftest import REPO, real_fixture
from krotos.cf.playmatrix import read_play_split
from krotos.msd import MSDFile
from krotos.tagdb import TagDB

#: Luigi's exit statuses under this repository's luigi.cfg [retcode].
OK, TASK_FAILED = 0, 30

INT64_MAX = np.iinfo(np.int64).max

FAST_CF = ["--Factorize-factors", "8", "--Factorize-iterations", "3",
           "--Factorize-regularization", "1", "--Factorize-alpha", "2",
           "--EvaluateCF-max-users", "0", "--EvaluateCF-n-resamples", "200"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The undamaged dataset: ``{input setting: path}``, plus what it holds."""
    from test_msd_sqlite import song, write_lastfm_tags, write_track_metadata

    root = tmp_path_factory.mktemp("real_dataset")
    h5_files = sorted(real_fixture("msd_h5").glob("TR*.h5"))
    msd = root / "msd_h5"
    rows = []
    for h5 in h5_files:
        folder = msd / h5.name[2] / h5.name[3] / h5.name[4]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(h5, folder / h5.name)
        with MSDFile(h5) as f:
            s = f.song(0)
        rows.append(song(s["track_id"], s["song_id"], s["artist_name"], s["title"],
                         digital=s["track_7digitalid"], artist_id=s["artist_id"],
                         year=s["year"], duration=s["duration"]))
    meta = write_track_metadata(root / "track_metadata.db", rows)
    with open(real_fixture("msd_h5", "lastfm_top50_labels.tsv"), newline="") as f:
        labels = {r["track_id"]: r["tags"].split(",") for r in csv.DictReader(f, delimiter="\t")}
    tags = write_lastfm_tags(root / "lastfm_tags.db",
                             [(t, tag, 100) for t, names in labels.items() for tag in names])
    triplets = root / "train_triplets.txt"
    shutil.copy(real_fixture("taste_profile", "triplets_head2000.txt"), triplets)
    mismatches = root / "sid_mismatches.txt"
    shutil.copy(real_fixture("taste_profile", "sid_mismatches_head100.txt"), mismatches)
    unique = root / "unique_tracks.txt"
    shutil.copy(real_fixture("lists", "subset_unique_tracks_head120.txt"), unique)
    lines = [line.split("\t") for line in triplets.read_text().splitlines()]
    return dict(
        inputs=dict(track_metadata=meta, lastfm_tags=tags, triplets=triplets,
                    sid_mismatches=mismatches),
        msd_h5=msd, unique_tracks=unique, rows=rows, lines=lines,
        users=len({u for u, _, _ in lines}), plays=sum(int(c) for _, _, c in lines))


class Run:
    """One ``luigi --module pipeline <task>`` run on a damaged copy of the dataset."""

    def __init__(self, data_root, family, code):
        self.data_root, self.family, self.code = data_root, family, code

    def output(self, name, family=None):
        found = glob.glob(os.path.join(self.data_root, family or self.family, "*", name))
        assert len(found) == 1, f"{name} of {family or self.family}: {found}"
        return found[0]

    def summary(self, family=None):
        with open(self.output("summary.json", family)) as f:
            return json.load(f)

    def failure(self):
        """The failure record's error text (the message the task failed with)."""
        found = glob.glob(os.path.join(self.data_root, ".failures", self.family, "*.json"))
        assert len(found) == 1, found
        with open(found[0]) as f:
            return json.load(f)["error"]

    def outputs(self):
        """Finished output folders of the task (none may exist after a failure)."""
        return [p for p in glob.glob(os.path.join(self.data_root, self.family, "*"))
                if os.path.basename(p).isalnum()]


@pytest.fixture
def run(tmp_path, luigi_config):
    """``run(task, inputs, *args)``: the luigi command in this process; returns a Run."""
    import luigi.retcodes

    from krotos.config import DATASET_INPUTS

    # The exit statuses a user gets: [retcode] of this repository's luigi.cfg.
    config = configparser.ConfigParser()
    config.read(REPO / "luigi.cfg")
    for key, value in config["retcode"].items():
        luigi_config.set("retcode", key, value)
    for key in DATASET_INPUTS:
        luigi_config.set("krotos", key, "")
    runs = iter(range(100))

    def go(task, inputs, *args, data_root=None):
        data_root = data_root or str(tmp_path / f"data{next(runs)}")
        argv = ["--module", "pipeline", task, "--local-scheduler", "--workers", "1", "--no-lock",
                "--krotos-data-root", data_root]
        for key, path in inputs.items():
            argv += [f"--krotos-{key.replace('_', '-')}", str(path)]
        with pytest.raises(SystemExit) as exit_:
            luigi.retcodes.run_with_retcodes([*argv, *args])
        return Run(data_root, task, exit_.value.code or 0)
    return go


def _damaged(tmp_path, source, name, data):
    path = tmp_path / name
    path.write_bytes(data(source.read_bytes()) if callable(data) else data)
    return path


def _plays(run):
    split = read_play_split(run.output("plays.h5"))
    return split, split.train + split.valid + split.heldout


# -- Taste Profile triplets -----------------------------------------------------------------

@pytest.mark.parametrize("compress, suffix", [(gzip.compress, ".gz"), (bz2.compress, ".bz2"),
                                              (lzma.compress, ".xz")],
                         ids=["gzip", "bzip2", "xz"])
def test_compressed_triplets_are_read_whole(tmp_path, clean, run, compress, suffix):
    # Whatever the name says: the first bytes decide.
    triplets = _damaged(tmp_path, clean["inputs"]["triplets"], "train_triplets.txt" + suffix,
                        compress)
    result = run("PlayMatrix", dict(clean["inputs"], triplets=triplets))
    assert result.code == OK
    summary = result.summary()
    assert summary["bad_lines"]["total"] == 0
    assert summary["read"]["lines"] == len(clean["lines"])
    split, total = _plays(result)
    assert len(split.user_ids) == clean["users"] and total.sum() == clean["plays"]


def test_gzipped_triplets_give_finite_cf_metrics(tmp_path, clean, run):
    triplets = _damaged(tmp_path, clean["inputs"]["triplets"], "train_triplets.txt.gz",
                        gzip.compress)
    result = run("EvaluateCF", dict(clean["inputs"], triplets=triplets), *FAST_CF)
    assert result.code == OK
    with open(result.output("metrics.json")) as f:
        metrics = json.load(f)
    values = [m["value"] for model in metrics["models"].values() for m in model.values()]
    assert values and all(v is not None and math.isfinite(v) for v in values)
    assert metrics["n_users"] > 0


@pytest.mark.parametrize("data, reason", [
    (lambda b: gzip.compress(b)[:200], "damaged or truncated"),
    (lambda b: gzip.compress(b)[:len(gzip.compress(b)) // 2], "damaged or truncated"),
    (b"\x00\x01 binary junk\n" * 10, "no usable play in 10 line(s)"),
    (b"", "the file is empty"),
    (lambda b: b.replace(b"\t", b","), "wrong field count"),
    (lambda b: b.decode().encode("utf-16"), "UTF-16 text, not a text file"),
], ids=["gzip-truncated-early", "gzip-truncated-midway", "binary", "empty", "comma-separated",
        "utf16"])
def test_triplets_that_give_no_play_fail_the_task(tmp_path, clean, run, data, reason):
    triplets = _damaged(tmp_path, clean["inputs"]["triplets"], "train_triplets.txt", data)
    result = run("PlayMatrix", dict(clean["inputs"], triplets=triplets))
    assert result.code == TASK_FAILED
    error = result.failure()
    assert str(triplets) in error and reason in error
    assert result.outputs() == []


def test_triplets_zipped_or_given_a_database_fail_by_name(tmp_path, clean, run):
    archive = tmp_path / "train_triplets.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(clean["inputs"]["triplets"], "train_triplets.txt")
    for wrong, what in ((archive, "a zip archive"),
                        (clean["inputs"]["track_metadata"], "a SQLite database")):
        result = run("PlayMatrix", dict(clean["inputs"], triplets=wrong))
        assert result.code == TASK_FAILED
        assert f"{wrong}: {what}, not a text file" in result.failure()


def test_byte_order_mark_adds_no_user(tmp_path, clean, run):
    triplets = _damaged(tmp_path, clean["inputs"]["triplets"], "train_triplets.txt",
                        lambda b: b"\xef\xbb\xbf" + b)
    result = run("PlayMatrix", dict(clean["inputs"], triplets=triplets))
    assert result.code == OK
    split, total = _plays(result)
    assert len(split.user_ids) == clean["users"] and total.sum() == clean["plays"]
    assert not any(u.startswith("\ufeff") for u in split.user_ids)
    first_user = clean["lines"][0][0]
    assert first_user in set(split.user_ids)


def test_counts_beyond_int32_are_kept_and_summed_in_int64(tmp_path, clean, run):
    user, song, _ = clean["lines"][0]
    big = f"{user}\t{song}\t2000000000\n".encode()
    triplets = _damaged(tmp_path, clean["inputs"]["triplets"], "train_triplets.txt",
                        lambda b: b + big + big)
    result = run("PlayMatrix", dict(clean["inputs"], triplets=triplets))
    assert result.code == OK
    split, total = _plays(result)
    i, j = list(split.user_ids).index(user), list(split.song_ids).index(song)
    assert total.dtype == np.int64
    assert total[i, j] == int(clean["lines"][0][2]) + 4_000_000_000
    assert result.summary()["read"]["duplicate_lines"] == 2


def test_count_beyond_int64_is_one_bad_line(tmp_path, clean, run):
    user, song, _ = clean["lines"][5]
    triplets = _damaged(tmp_path, clean["inputs"]["triplets"], "train_triplets.txt",
                        lambda b: b + f"{user}\t{song}\t{10**20}\n".encode())
    result = run("PlayMatrix", dict(clean["inputs"], triplets=triplets))
    assert result.code == OK
    bad = result.summary()["bad_lines"]
    assert bad["by_reason"] == {"count out of int64 range": 1}
    assert bad["examples"] == [f"{triplets}:{len(clean['lines']) + 1}: count out of int64 range "
                               f"('100000000000000000000' > {INT64_MAX})"]
    assert _plays(result)[1].sum() == clean["plays"]


def test_sums_past_int64_saturate_and_are_counted(tmp_path, clean, run):
    user, song, _ = clean["lines"][0]
    near = f"{user}\t{song}\t{INT64_MAX - 1}\n".encode()
    triplets = _damaged(tmp_path, clean["inputs"]["triplets"], "train_triplets.txt",
                        lambda b: b + near + near)
    result = run("PlayMatrix", dict(clean["inputs"], triplets=triplets))
    assert result.code == OK
    assert result.summary()["read"]["saturated_sums"] == 1
    split, total = _plays(result)
    i, j = list(split.user_ids).index(user), list(split.song_ids).index(song)
    assert total[i, j] == INT64_MAX and (total.data > 0).all()


def test_malformed_lines_are_counted_and_the_rest_kept(tmp_path, clean, run):
    """Issue 5's cases: bad field counts, non-integer, zero and negative counts, an empty
    song id, a line in another encoding, duplicate lines; plus control characters."""
    user, song, count = clean["lines"][0]
    damage = [b"only\ttwo", f"{user}\t{song}\tmany".encode(), f"{user}\t{song}\t0".encode(),
              f"{user}\t{song}\t-3".encode(), f"{user}\t\t4".encode(),
              f"caf\xe9\t{song}\t1".encode("latin-1"), f"u\x00\t{song}\t1".encode(), b""]
    duplicate = f"{user}\t{song}\t{count}".encode()
    triplets = _damaged(tmp_path, clean["inputs"]["triplets"], "train_triplets.txt",
                        lambda b: b + b"\n".join(damage + [duplicate]) + b"\n")
    result = run("PlayMatrix", dict(clean["inputs"], triplets=triplets))
    assert result.code == OK
    summary = result.summary()
    assert summary["bad_lines"]["by_reason"] == {
        "wrong field count": 1, "non-integer count": 1, "non-positive count": 2,
        "empty song id": 1, "line not UTF-8": 1, "control character in an id": 1,
        "empty line": 1}
    assert all(e.startswith(f"{triplets}:") for e in summary["bad_lines"]["examples"])
    assert summary["read"]["duplicate_lines"] == 1
    assert _plays(result)[1].sum() == clean["plays"] + int(count)


# -- Track list and tags --------------------------------------------------------------------

def _tag_inputs(clean, **changes):
    inputs = {k: v for k, v in clean["inputs"].items() if k != "triplets"}
    # RealDataset needs triplets configured; TagDatabase does not read them.
    inputs["triplets"] = clean["inputs"]["triplets"]
    inputs.update(changes)
    return {k: v for k, v in inputs.items() if v}


def test_same_msd_file_under_two_names_is_kept_once(tmp_path, clean, run):
    msd = tmp_path / "msd_h5"
    shutil.copytree(clean["msd_h5"], msd)
    original = next(msd.rglob("TRABFDT12903CADD73.h5"))
    copy = original.parent / "TRABFDT12903CADD73 (1).h5"
    shutil.copy(original, copy)
    result = run("TagDatabase", _tag_inputs(clean, track_metadata=None, msd_h5=msd))
    assert result.code == OK
    summary = result.summary()
    assert summary["tracks"]["kept"] == len(clean["rows"])
    assert summary["bad_rows"]["by_reason"].get("duplicate track_id") == 1
    assert any(str(copy) in e and str(original) in e and "duplicate track_id" in e
               for e in summary["bad_rows"]["examples"])


def test_truncated_msd_file_is_skipped_and_the_others_kept(tmp_path, clean, run):
    msd = tmp_path / "msd_h5"
    shutil.copytree(clean["msd_h5"], msd)
    victim = next(msd.rglob("TRCECVD128F9313C63.h5"))
    victim.write_bytes(victim.read_bytes()[:2000])
    result = run("TagDatabase", _tag_inputs(clean, track_metadata=None, msd_h5=msd))
    assert result.code == OK
    summary = result.summary()
    assert summary["tracks"]["kept"] == len(clean["rows"]) - 1
    assert summary["bad_rows"]["by_file"][str(victim)] == 1
    # Its Last.fm tags now belong to no listed track, and are counted as such.
    assert summary["bad_rows"]["by_reason"] == {"unreadable HDF5": 1,
                                                "track id not in the track list": 1}


@pytest.mark.parametrize("data, reason", [
    (b"", "empty (0 bytes), not a SQLite database"),
    (gzip.compress, "gzip-compressed, not a SQLite database: decompress it first (gunzip)"),
    (b"track_id,title\nTR1,x\n" * 50, "not a readable SQLite database"),
], ids=["zero-bytes", "gzip", "not-sqlite"])
def test_unreadable_track_metadata_fails_by_name(tmp_path, clean, run, data, reason):
    meta = _damaged(tmp_path, clean["inputs"]["track_metadata"], "track_metadata.db", data)
    result = run("TagDatabase", _tag_inputs(clean, track_metadata=meta))
    assert result.code == TASK_FAILED
    assert f"{meta}: {reason}" in result.failure()
    assert result.outputs() == []


def test_locked_track_metadata_is_named_as_locked(tmp_path, clean, run, monkeypatch):
    import krotos.msd.sqlite_input

    monkeypatch.setattr(krotos.msd.sqlite_input, "LOCK_TIMEOUT", 0.1)
    meta = tmp_path / "track_metadata.db"
    shutil.copy(clean["inputs"]["track_metadata"], meta)
    writer = sqlite3.connect(meta, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("DELETE FROM songs")
        result = run("TagDatabase", _tag_inputs(clean, track_metadata=meta))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.code == TASK_FAILED
    assert f"{meta}: locked by another process" in result.failure()


def test_bad_lastfm_rows_are_counted_and_the_good_tags_kept(tmp_path, clean, run):
    """Issue 3's cases: a dangling ROWID, weights that are no number or out of range, a tag
    in another encoding, a duplicate (track, tag) row."""
    tags = tmp_path / "lastfm_tags.db"
    shutil.copy(clean["inputs"]["lastfm_tags"], tags)
    with sqlite3.connect(tags) as db:
        db.execute("INSERT INTO tags (tag) VALUES (?)", (b"caf\xe9",))
        db.executemany("INSERT INTO tid_tag VALUES (?, ?, ?)", [
            (999, 1, 50.0), (1, 1, "heavy"), (1, 1, 250.0), (2, 99, 10.0), (1, 1, 100.0)])
    db.close()
    result = run("TagDatabase", _tag_inputs(clean, lastfm_tags=tags))
    assert result.code == OK
    summary = result.summary()
    assert summary["bad_rows"]["by_reason"] == {
        "bad tag text": 1, "refers to a missing or rejected tid": 1, "bad weight": 2,
        "refers to a missing or rejected tag": 1, "duplicate (track, tag)": 1}
    assert summary["tracks"]["with_vocabulary_tags"] == len(clean["rows"])


def test_tags_of_unknown_tracks_only_fail_with_where_they_went(tmp_path, clean, run):
    from test_msd_sqlite import write_lastfm_tags

    tags = write_lastfm_tags(tmp_path / "lastfm_tags.db",
                             [(f"TRUNKNOWN{i:09d}", "rock", 100) for i in range(5)])
    result = run("TagDatabase", _tag_inputs(clean, lastfm_tags=tags))
    assert result.code == TASK_FAILED
    error = result.failure()
    assert f"{tags}: no tagged track" in error
    assert "5 on tracks not in the track list" in error and "track id not in the track list" in error
    assert result.outputs() == []


def test_bad_lastfm_json_files_are_counted_and_the_good_ones_kept(tmp_path, clean, run):
    from test_msd_sqlite import write_lastfm_json

    root = tmp_path / "lastfm_train"
    for row in clean["rows"]:
        write_lastfm_json(root, row["track_id"], [["rock", "100"], ["jazz", 1e400]])
    broken = next(root.rglob("TRABFDT12903CADD73.json"))
    broken.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    huge = next(root.rglob("TRCECVD128F9313C63.json"))
    huge.write_text(huge.read_text().replace('"100"', "1" + "0" * 5000))
    result = run("TagDatabase", _tag_inputs(clean, lastfm_tags=None, lastfm_json=root))
    assert result.code == OK
    summary = result.summary()
    assert summary["bad_rows"]["by_reason"] == {"invalid JSON": 2,
                                                "bad weight": len(clean["rows"]) - 2}
    assert summary["tracks"]["with_vocabulary_tags"] == len(clean["rows"]) - 2


def test_mismatch_and_track_lists_compressed_with_a_bom(tmp_path, clean, run):
    mismatches = _damaged(tmp_path, clean["inputs"]["sid_mismatches"], "sid_mismatches.txt",
                          lambda b: bz2.compress(b"\xef\xbb\xbf" + b + b"ERROR: broken line\n"))
    unique = _damaged(tmp_path, clean["unique_tracks"], "unique_tracks.txt",
                      lambda b: gzip.compress(b"\xef\xbb\xbf" + b))
    result = run("TagDatabase", _tag_inputs(clean, track_metadata=None, unique_tracks=unique,
                                            sid_mismatches=mismatches,
                                            lastfm_tags=_first_unique_tags(tmp_path, clean)),
                 "--TagDatabase-audio-filter", "none")
    assert result.code == OK
    summary = result.summary()
    assert summary["songs"]["mismatch_pairs"] == 100
    assert summary["bad_rows"]["by_reason"] == {"not an 'ERROR: <SONG TRACK>' line": 1}
    first = clean["unique_tracks"].read_text().split("<SEP>")[0]
    with TagDB(result.output("tags.sqlite")) as db:
        ids = db.track_ids()
    assert len(ids) == 120 and first in ids


def _first_unique_tags(tmp_path, clean):
    from test_msd_sqlite import write_lastfm_tags

    first = clean["unique_tracks"].read_text().split("<SEP>")[0]
    return write_lastfm_tags(tmp_path / "lastfm_tags_unique.db", [(first, "rock", 100)])


# -- Where the outputs go -------------------------------------------------------------------

def test_data_root_with_a_trailing_space_is_refused(tmp_path, clean, run):
    root = str(tmp_path / "data") + " "
    result = run("TagDatabase", _tag_inputs(clean), data_root=root)
    assert result.code != OK
    assert not os.path.exists(root) and not os.path.exists(root.strip())
