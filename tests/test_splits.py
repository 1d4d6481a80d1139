"""The one split of songs: seeded, artist-disjoint, proportional, recorded in one file."""

import pytest

from krotos.splits import (LeakError, check_fractions, check_no_test_tracks, draw_song_split,
                           read_song_split, write_song_split)
from krotos.tagdb import Track


def _tracks(n=3000, n_artists=300):
    return [Track(f"TR{i:016d}", f"SO{i // 2:016d}", i + 1, f"Artist {i % n_artists}",
                  f"AR{i % n_artists:05d}", f"Song {i}", 30.0) for i in range(n)]


def test_split_is_artist_disjoint_proportional_and_seeded():
    tracks = _tracks()
    split = draw_song_split(tracks, "artist", valid_fraction=0.2, test_fraction=0.1, seed=0)
    counts = split.counts()
    assert sum(c["tracks"] for c in counts.values()) == len(tracks)
    # Dealt group by group: at most one artist (10 tracks) over the share.
    assert 300 <= counts["test"]["tracks"] <= 310 and 600 <= counts["valid"]["tracks"] <= 610
    artist_splits = {}
    for track, name in zip(tracks, (split.split_of()[t.track_id] for t in tracks)):
        artist_splits.setdefault(track.artist_id, set()).add(name)
    assert all(len(s) == 1 for s in artist_splits.values())
    again = draw_song_split(tracks, "artist", valid_fraction=0.2, test_fraction=0.1, seed=0)
    other = draw_song_split(tracks, "artist", valid_fraction=0.2, test_fraction=0.1, seed=1)
    assert again.split_of() == split.split_of()
    assert set(other.tracks("test")) != set(split.tracks("test"))


def test_song_method_keeps_a_songs_tracks_together_but_splits_artists():
    tracks = _tracks(600, 10)
    split = draw_song_split(tracks, "song", valid_fraction=0.1, test_fraction=0.2, seed=3)
    of = split.split_of()
    by_song, by_artist = {}, {}
    for t in tracks:
        by_song.setdefault(t.song_id, set()).add(of[t.track_id])
        by_artist.setdefault(t.artist_id, set()).add(of[t.track_id])
    assert all(len(s) == 1 for s in by_song.values())
    assert any(len(s) > 1 for s in by_artist.values())


def test_tracks_without_artist_fall_back_to_their_song():
    tracks = [Track(f"TR{i}", f"SO{i}", None, "", "", "t", None) for i in range(50)]
    split = draw_song_split(tracks, "artist", 0.2, 0.2, seed=0)
    assert len(set(split.groups)) == 50 and split.counts()["test"]["tracks"] == 10


def test_split_file_round_trip_and_errors(tmp_path):
    split = draw_song_split(_tracks(200, 40), "artist", 0.1, 0.2, seed=0)
    path = tmp_path / "split.tsv"
    write_song_split(path, split)
    back = read_song_split(path, split.params)
    assert back.split_of() == split.split_of() and back.params == split.params
    assert back.songs("test") == split.songs("test")
    (tmp_path / "bad.tsv").write_text("a\tb\n")
    with pytest.raises(ValueError, match="bad.tsv: not a krotos split file"):
        read_song_split(tmp_path / "bad.tsv")
    with pytest.raises(ValueError, match="valid_fraction"):
        check_fractions(-0.1, 0.1)
    with pytest.raises(ValueError, match="must be < 1"):
        draw_song_split(_tracks(10), "artist", 0.5, 0.5)
    with pytest.raises(ValueError, match="split method"):
        draw_song_split(_tracks(10), "year", 0.1, 0.1)


def test_a_test_track_in_a_training_set_is_refused():
    split = draw_song_split(_tracks(100, 20), "artist", 0.1, 0.2, seed=0)
    check_no_test_tracks(split, split.tracks("train") + split.tracks("valid"), "training")
    with pytest.raises(LeakError, match="1 test track.*tag model training"):
        check_no_test_tracks(split, split.tracks("train") + split.tracks("test")[:1],
                             "tag model training")


# --------------------------------------------------------------------------- method = file

def test_split_from_lists_counts_what_it_leaves_out(tmp_path):
    from krotos.msd.errors import BadInputLog
    from krotos.splits import read_track_list, split_from_lists

    tracks = _tracks(10, 5)
    ids = [t.track_id for t in tracks]
    (tmp_path / "train.txt").write_text("\n".join(ids[:5] + ["TRNOTINTHEDATASET1", ids[0]]) + "\n")
    (tmp_path / "valid.txt").write_text(f"\ufeff{ids[5]}\n\n{ids[6]}\r\n")  # a BOM, CRLF
    (tmp_path / "test.txt").write_text(f"{ids[7]}\n{ids[4]}\nTR one two\n")
    errors = BadInputLog()
    lists = {name: read_track_list(tmp_path / f"{name}.txt", errors)
             for name in ("train", "valid", "test")}
    assert lists["valid"] == ids[5:7]
    split, report = split_from_lists(tracks, lists, errors=errors)
    # ids[4] is in train and test: in neither; ids[8:] are in no list.
    assert split.tracks("train") == ids[:4] and split.tracks("valid") == ids[5:7]
    assert split.tracks("test") == [ids[7]]
    assert report == {"listed": {"train": 6, "valid": 2, "test": 2},
                      "kept": {"train": 4, "valid": 2, "test": 1}, "left_out": 2,
                      "unknown": {"train": 1, "valid": 0, "test": 0}, "in_several_lists": 1}
    assert errors.counts_by_reason() == {"track id listed twice": 1,
                                         "more than one word on a line": 1,
                                         "track id in two lists": 1,
                                         "track id not in the track list": 1}
    assert split.split_of().get(ids[9]) is None
    with pytest.raises(ValueError, match="no track of the track list is in the test list"):
        split_from_lists(tracks, dict(lists, test=["TRXXX"]))


def test_published_split_lists_on_real_msd_files(tmp_path, data_root, luigi_config):
    """``[SongSplit] method = file`` on the real MSD fixture files, with lists in the
    published format (one track id a line, as train_x_msd_id.txt)."""
    import json

    from luigi.task_register import Register

    from conftest import run_tasks
    from krotos.config import ConfigError
    from pipeline.split import SongSplit
    from test_echonest_real_msd import real_msd_dataset

    dataset = real_msd_dataset(tmp_path, renamed=False)
    for key in ("msd_h5", "lastfm_json", "triplets"):
        luigi_config.set("krotos", key, dataset[key])
    luigi_config.set("TagDatabase", "audio_filter", "none")
    luigi_config.set("TagDatabase", "min_weight", 50)
    ids = sorted(dataset["track_ids"])
    lists = {"train": ids[:4] + ["TRAAAAV128F93141EE"],  # a published id this copy lacks
             "valid": ids[4:6], "test": ids[6:7] + ["TRAAAFD128F92F423A"]}
    for name, listed in lists.items():
        (tmp_path / f"{name}_x_msd_id.txt").write_text("".join(f"{t}\n" for t in listed))

    luigi_config.set("SongSplit", "method", "file")
    with pytest.raises(ConfigError, match=r"\[SongSplit\].*train_file, valid_file, test_file"):
        SongSplit().signature()
    for name in lists:
        luigi_config.set("SongSplit", f"{name}_file", str(tmp_path / f"{name}_x_msd_id.txt"))
    task = SongSplit()
    ok, _ = run_tasks([task])
    assert ok
    split = task.read()
    assert split.tracks("train") == ids[:4] and split.tracks("valid") == ids[4:6]
    assert split.tracks("test") == ids[6:7]
    assert ids[7] not in split.split_of()  # in no list: left out
    summary = json.load(open(task.file("summary.json")))
    assert summary["lists"]["left_out"] == 1
    assert summary["lists"]["unknown"] == {"train": 1, "valid": 0, "test": 1}
    assert summary["params"]["test_file"] == "test_x_msd_id.txt"
    assert "TRAAAFD128F92F423A" in json.dumps(summary["bad_rows"])

    # The lists' contents are the split's identity: another draw seed changes nothing,
    # another list does; the drawn split is unaffected by list settings.
    luigi_config.set("SongSplit", "seed", 5)
    assert SongSplit().signature() == task.signature()
    (tmp_path / "test_x_msd_id.txt").write_text(f"{ids[7]}\n")
    Register.clear_instance_cache()
    assert SongSplit().signature() != task.signature()
    luigi_config.set("SongSplit", "method", "artist")
    drawn = SongSplit().signature()
    luigi_config.set("SongSplit", "train_file", str(tmp_path / "valid_x_msd_id.txt"))
    assert SongSplit().signature() == drawn
