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
