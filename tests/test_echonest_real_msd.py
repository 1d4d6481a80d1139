"""The real-MSD path end to end: real track files through TagDatabase and EchonestIndex.

A dataset made of the real fixture files, in the MSD folder layout, with
their real Last.fm top-50 tags as JSON: what a user of the 10,000-song
subset configures. Damaged and misnamed files are mixed in the way they
turn up in real copies.
"""

import json
import os
import shutil

import h5py
import numpy as np
import pytest

from conftest import real_fixture, run_tasks
from krotos.features.echonest_shard import msd_h5_path

#: A real file stored under a name that is not its track id.
RENAMED = ("TRDXXXL128F930304F", "TRZZZZZ128F0000000")


def real_msd_dataset(folder, renamed=True, damaged=False):
    """An MSD folder tree of the real fixture files, tags as Last.fm JSON, and triplets.

    Returns
    -------
    dict
        ``msd_h5``, ``lastfm_json``, ``triplets`` paths and the ``track_ids`` listed.
    """
    source = real_fixture("msd_h5")
    tree = folder / "msd_h5"
    track_ids, song_ids = [], []
    for path in sorted(source.glob("TR*.h5")):
        track_id = path.stem
        name = RENAMED[1] if renamed and track_id == RENAMED[0] else track_id
        target = msd_h5_path(tree, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        track_ids.append(track_id)
        with h5py.File(path, "r") as f:
            song_ids.append(f["metadata/songs"][0]["song_id"].decode())
    if damaged:
        # What broken copies look like: a truncated download, an empty file,
        # and some other program's HDF5 file, each under a track's name.
        good = (tree / "A" / "B" / "F" / "TRABFDT12903CADD73.h5").read_bytes()
        for name, content in (("TRAAAAA128F0000001", good[:40_000]), ("TRAAAAB128F0000002", b"")):
            os.makedirs(os.path.dirname(msd_h5_path(tree, name)), exist_ok=True)
            with open(msd_h5_path(tree, name), "wb") as f:
                f.write(content)
        with h5py.File(msd_h5_path(tree, "TRAAAAC128F0000003"), "w") as f:
            f["frames"] = np.zeros((4, 2))
    lastfm = folder / "lastfm_train"
    with open(source / "lastfm_top50_labels.tsv", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    for track_id, tags in rows:
        path = lastfm / track_id[2] / track_id[3] / track_id[4] / f"{track_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"track_id": track_id, "artist": "", "title": "",
                                    "similars": [],
                                    "tags": [[tag, "100"] for tag in tags.split(",")]}))
    triplets = folder / "train_triplets.txt"
    triplets.write_text("".join(f"user{u}\t{song}\t{1 + u}\n"
                                for u in range(3) for song in song_ids))
    return {"msd_h5": str(tree), "lastfm_json": str(lastfm), "triplets": str(triplets),
            "track_ids": track_ids}


@pytest.fixture
def real_msd(tmp_path, data_root, luigi_config):
    dataset = real_msd_dataset(tmp_path)
    for key in ("msd_h5", "lastfm_json", "triplets"):
        luigi_config.set("krotos", key, dataset[key])
    luigi_config.set("krotos", "features", "echonest")
    luigi_config.set("TagDatabase", "audio_filter", "none")
    luigi_config.set("TagDatabase", "min_weight", 50)
    luigi_config.set("EchonestIndex", "shard_size", 3)
    return dataset


def test_a_file_named_otherwise_is_read_by_the_id_that_listed_it(real_msd, data_root):
    """Issue 18, defect 7: listed from its metadata, looked up by file name, reported
    missing_h5. Now: reported with both ids, and its features found all the same."""
    from krotos.shards.manifest import read_manifest
    from krotos.shards.reader import ShardReader
    from krotos.features.echonest import EchonestParams, features_of_file
    from pipeline.echonest import EchonestIndex
    from pipeline.tagdb import TagDatabase

    index = EchonestIndex()
    ok, ran = run_tasks([index])
    assert ok
    # 8 files under msd_h5, at most 3 a shard: 3 shards, counted before the database existed.
    assert sorted(r.split("_", 1)[0] for r in ran).count("EchonestFeatures") == 3

    track_id, file_name = RENAMED
    summary = json.load(open(TagDatabase().file("summary.json")))
    assert summary["msd_h5_listed"] == {track_id: [f"Z/Z/Z/{file_name}.h5", 0]}
    assert summary["bad_rows"]["by_reason"] == {"file not named after its track": 1}
    assert f"file {file_name} holds track {track_id}" in summary["bad_rows"]["examples"][0]

    manifest = read_manifest(index.file("manifest.json"))
    assert manifest["summary"] == {"ok": 8}
    reason = manifest["tracks"][track_id]["reason"]
    assert file_name in reason and track_id in reason
    direct, _ = features_of_file(os.path.join(real_msd["msd_h5"], "Z", "Z", "Z",
                                              f"{file_name}.h5"), EchonestParams())
    shard = manifest["shards"][manifest["tracks"][track_id]["shard"]]["path"]
    with ShardReader(shard) as reader:
        np.testing.assert_array_equal(reader[track_id], direct)
    # Nothing in the outputs names a file by its absolute path.
    for name in os.listdir(os.path.join(data_root, "EchonestFeatures")):
        with open(os.path.join(data_root, "EchonestFeatures", name, "results.json")) as f:
            assert real_msd["msd_h5"] not in f.read()


def test_damaged_files_are_recorded_and_the_others_extracted(tmp_path):
    """Truncated, empty and foreign HDF5 files in a real tree: each gets its reason, the
    good files go through (and a bad file never fails the shard or the track list)."""
    from krotos.features.echonest import EchonestParams
    from krotos.features.echonest_shard import extract_echonest_shard
    from krotos.msd.errors import BadInputLog
    from krotos.msd.hdf5 import iter_msd_h5_tracks

    dataset = real_msd_dataset(tmp_path, renamed=False, damaged=True)
    errors = BadInputLog()
    listed = [song["track_id"] for song in iter_msd_h5_tracks(dataset["msd_h5"], errors)]
    assert listed == sorted(dataset["track_ids"])
    assert errors.counts_by_reason() == {"unreadable HDF5": 3}

    bad = ["TRAAAAA128F0000001", "TRAAAAB128F0000002", "TRAAAAC128F0000003"]
    results = extract_echonest_shard(bad + dataset["track_ids"], dataset["msd_h5"],
                                     str(tmp_path / "shard.h5"), EchonestParams())
    assert [results[t]["status"] for t in bad] == ["unreadable_h5", "unreadable_h5",
                                                   "not_msd_track"]
    assert "A/A/A/TRAAAAA128F0000001.h5" in results[bad[0]]["reason"]
    assert all(results[t]["status"] == "ok" for t in dataset["track_ids"])
