"""One split of songs, decided once, upstream of every model.

Every model and every evaluation reads the same three sets of tracks (the
``SongSplit`` task writes them):

``test``
    Seen by no model in training, validation or early stopping. Their audio
    and tags score the tag model; their plays are held out of the
    factorization, so they are also the cold-start songs that the fine-tuned
    model has to place from audio alone (a song nobody has heard is also a
    song nobody has tagged).
``valid``
    Early stopping and model selection.
``train``
    Everything the content models learn from.

Groups, not tracks, are drawn: with ``method = "artist"`` (the default, as in
the MSD tagging literature) all songs of an artist land in one split, since
songs of one artist share a style and a split by track would test on the
training artists; ``method = "song"`` keeps only the tracks of one song
together. The draw is seeded: the groups, sorted by key, are shuffled and
dealt to test, then valid, until each holds its fraction of the tracks.

``method = "file"`` draws nothing: three lists of track ids say which
tracks are train, valid and test (:func:`split_from_lists`), such as the
public ``train_x_msd_id.txt``, ``valid_x_msd_id.txt`` and
``test_x_msd_id.txt`` of the MSD top-50 tagging split (Choi et al. 2016, used
by Won et al. 2020): the way to report figures comparable with published
ones. Tracks in no list are left out, ids in a list that the tag database
does not hold are counted and reported; neither stops the run.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from krotos.msd.errors import BadInputLog
    from krotos.tagdb import Track

SPLITS = ("train", "valid", "test")
METHODS = ("artist", "song")

#: Every value of ``[SongSplit] method``: the drawn ones, and given lists.
ALL_METHODS = METHODS + ("file",)
COLUMNS = ("track_id", "song_id", "group", "split")

log = logging.getLogger(__name__)


class LeakError(ValueError):
    """A test track reached a training or validation set."""


def check_fractions(valid_fraction: float, test_fraction: float) -> None:
    """Raise ValueError unless both fractions are in [0, 1) and leave a training set."""
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"valid_fraction + test_fraction must be < 1 (got {valid_fraction} + {test_fraction})")


def group_key(track: Track, method: str) -> str:
    """The key that keeps a track with its group.

    Parameters
    ----------
    track : krotos.tagdb.Track
    method : {'artist', 'song'}

    Returns
    -------
    str
        ``artist:<id>``, else ``name:<artist name>``, else the song key (for
        ``artist``); ``song:<song id>``, else ``track:<track id>`` (for ``song``).
        A track with neither is a group of its own.
    """
    if method not in METHODS:
        raise ValueError(f"split method must be one of {METHODS}, got {method!r}")
    if method == "artist":
        if track.artist_id:
            return "artist:" + track.artist_id
        if track.artist and track.artist.strip():
            return "name:" + track.artist.strip().casefold()
    return ("song:" + track.song_id) if track.song_id else ("track:" + track.track_id)


@dataclass
class SongSplit:
    """Which split every track is in.

    Attributes
    ----------
    track_ids, song_ids, groups, split : numpy.ndarray of str
        One entry per track, sorted by track id.
    params : dict
        ``method``, ``valid_fraction``, ``test_fraction``, ``seed``.
    """

    track_ids: np.ndarray
    song_ids: np.ndarray
    groups: np.ndarray
    split: np.ndarray
    params: dict = field(default_factory=dict)

    def split_of(self) -> dict[str, str]:
        """``{track_id: 'train' | 'valid' | 'test'}``."""
        return dict(zip(self.track_ids.tolist(), self.split.tolist()))

    def tracks(self, name: str) -> list[str]:
        """Track ids of one split, sorted."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return self.track_ids[self.split == name].tolist()

    def songs(self, name: str) -> set[str]:
        """Song ids (non-empty) of one split's tracks, as a set."""
        return {s for s in self.song_ids[self.split == name].tolist() if s}

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split: {"tracks", "groups"}}``."""
        return {name: dict(tracks=int((self.split == name).sum()),
                           groups=int(len(set(self.groups[self.split == name].tolist()))))
                for name in SPLITS}


def draw_song_split(tracks: Sequence[Track], method: str = "artist", valid_fraction: float = 0.1,
                    test_fraction: float = 0.2, seed: int = 0) -> SongSplit:
    """Deal groups of tracks to the test, valid and train splits.

    Parameters
    ----------
    tracks : sequence of krotos.tagdb.Track
        The tag database's tracks (``TagDB.tracks()``).
    method : {'artist', 'song'}
        What a group is (see :func:`group_key`).
    valid_fraction, test_fraction : float
        Fractions of the tracks in the valid and test splits; a split may
        exceed its share by at most one group.
    seed : int
        Seed of the shuffle: another seed draws other test songs.

    Returns
    -------
    SongSplit
    """
    check_fractions(valid_fraction, test_fraction)
    tracks = sorted(tracks, key=lambda t: t.track_id)
    if not tracks:
        raise ValueError("no track to split")
    keys = np.array([group_key(t, method) for t in tracks], dtype=str)
    groups, inverse, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.random.default_rng(int(seed)).permutation(len(groups))
    targets = {"test": round(test_fraction * len(tracks)),
               "valid": round(valid_fraction * len(tracks))}
    filled = {"test": 0, "valid": 0}
    group_split = np.empty(len(groups), dtype=object)
    for g in order:
        name = next((s for s in ("test", "valid") if filled[s] < targets[s]), "train")
        group_split[g] = name
        if name != "train":
            filled[name] += int(sizes[g])
    return SongSplit(
        track_ids=np.array([t.track_id for t in tracks], dtype=str),
        song_ids=np.array([t.song_id or "" for t in tracks], dtype=str),
        groups=keys, split=group_split[inverse].astype(str),
        params=dict(method=method, valid_fraction=float(valid_fraction),
                    test_fraction=float(test_fraction), seed=int(seed)))


def read_track_list(path: str, errors: BadInputLog | None = None) -> list[str]:
    """Read a list of track ids: one a line, no header (``train_x_msd_id.txt``).

    Blank lines are skipped; an id listed twice counts once, and a line that
    is not UTF-8 or holds more than one word is recorded in ``errors`` and
    skipped. The file may be compressed (gzip, bzip2, xz).

    Parameters
    ----------
    path : str
    errors : krotos.msd.errors.BadInputLog, optional

    Returns
    -------
    list of str
        The ids, in file order.

    Raises
    ------
    krotos.msd.errors.InputFileError
        The file cannot be read (the message names it).
    """
    from krotos.msd.errors import ensure_log
    from krotos.msd.text_lines import iter_lines

    errors = ensure_log(errors)
    ids, seen = [], set()
    for number, line in iter_lines(path):
        if not isinstance(line, str):
            errors.add(path, number, "line not UTF-8", line.reason)
            continue
        words = line.split()
        if not words:
            continue
        if len(words) > 1:
            errors.add(path, number, "more than one word on a line", repr(line[:80]))
            continue
        if words[0] in seen:
            errors.add(path, number, "track id listed twice", words[0])
            continue
        seen.add(words[0])
        ids.append(words[0])
    return ids


def split_from_lists(tracks: Sequence[Track], lists: dict[str, Sequence[str]],
                     names: dict[str, str] | None = None,
                     errors: BadInputLog | None = None) -> tuple[SongSplit, dict]:
    """The split given by track-id lists (``method = "file"``).

    Parameters
    ----------
    tracks : sequence of krotos.tagdb.Track
        The tag database's tracks.
    lists : dict
        ``{"train": ids, "valid": ids, "test": ids}``.
    names : dict, optional
        ``{split: how messages name its list}`` (the setting and file).
    errors : krotos.msd.errors.BadInputLog, optional
        Where ids the tag database does not hold, and ids in two lists, are
        recorded (with the list they came from).

    Returns
    -------
    split : SongSplit
        Only the listed tracks of the database, sorted by track id; the
        group of a track is itself (nothing is drawn).
    report : dict
        ``listed`` (ids per list), ``kept`` (tracks per split),
        ``left_out`` (database tracks in no list), ``unknown`` (ids per
        list not in the database), ``in_several_lists`` (ids left out of
        every split because two lists name them).

    Raises
    ------
    ValueError
        A split would be empty (the lists do not match this track list).
    """
    from krotos.msd.errors import ensure_log

    errors = ensure_log(errors)
    names = {name: name for name in SPLITS} | dict(names or {})
    missing = [name for name in SPLITS if name not in lists]
    if missing:
        raise ValueError(f"split lists missing for {missing}")
    owner, several = {}, set()
    for name in SPLITS:
        for track_id in lists[name]:
            if owner.setdefault(track_id, name) != name:
                several.add(track_id)
    known = {t.track_id: t for t in tracks}
    unknown = {name: 0 for name in SPLITS}
    for track_id in sorted(several):
        errors.add(names[owner[track_id]], None, "track id in two lists",
                   f"{track_id} is listed for {owner[track_id]} and another split: left out")
    for name in SPLITS:
        for track_id in lists[name]:
            if track_id not in known:
                unknown[name] += 1
                errors.add(names[name], None, "track id not in the track list", track_id)
    chosen = sorted(t for t in known if t in owner and t not in several)
    kept = {name: 0 for name in SPLITS}
    for track_id in chosen:
        kept[owner[track_id]] += 1
    empty = [name for name in SPLITS if not kept[name]]
    if empty:
        raise ValueError(
            f"no track of the track list is in the {' and '.join(empty)} list(s) "
            f"({', '.join(names[n] for n in empty)}): {sum(kept.values())} of {len(known)} "
            f"tracks found in the lists; are they lists of this dataset's track ids?")
    split = SongSplit(
        track_ids=np.array(chosen, dtype=str),
        song_ids=np.array([known[t].song_id or "" for t in chosen], dtype=str),
        groups=np.array(["track:" + t for t in chosen], dtype=str),
        split=np.array([owner[t] for t in chosen], dtype=str),
        params=dict(method="file"))
    report = dict(listed={name: len(lists[name]) for name in SPLITS}, kept=kept,
                  left_out=len(known) - len(chosen) - len(several & known.keys()),
                  unknown=unknown, in_several_lists=len(several))
    return split, report


def write_song_split(path: str, split: SongSplit) -> None:
    """Write ``split.tsv``: a header, then ``track_id, song_id, group, split`` per track."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(zip(split.track_ids.tolist(), split.song_ids.tolist(),
                             split.groups.tolist(), split.split.tolist()))


def read_song_split(path: str, params: dict | None = None) -> SongSplit:
    """Read a file written by :func:`write_song_split`.

    Raises
    ------
    ValueError
        The file is not a split file (the message names it).
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise ValueError(f"{os.fspath(path)}: not a krotos split file (header {rows[:1]})")
    columns = list(zip(*rows[1:])) or [(), (), (), ()]
    bad = set(columns[3]) - set(SPLITS)
    if bad:
        raise ValueError(f"{os.fspath(path)}: unknown split names {sorted(bad)}")
    return SongSplit(*(np.array(c, dtype=str) for c in columns), params=dict(params or {}))


def check_no_test_tracks(split: SongSplit, track_ids: Iterable[str], where: str) -> None:
    """Raise :class:`LeakError` if any of ``track_ids`` is a test track.

    Every model calls this on the tracks it trains and validates on, so that
    a wiring mistake fails loudly instead of inflating a figure.

    Parameters
    ----------
    split : SongSplit
    track_ids : iterable of str
    where : str
        What the tracks are for, for the message (``"tag model training"``).
    """
    test = set(split.tracks("test"))
    leaked = sorted(test.intersection(track_ids))
    if leaked:
        raise LeakError(f"{len(leaked)} test track(s) in the {where} set, e.g. {leaked[:3]}: "
                        f"test songs must be seen by no model")


def write_track_sets(path: str, **sets: Iterable[str]) -> None:
    """Record the tracks a model learned from (``tracks.json``: ``{name: [track_id, ...]}``).

    Written beside every model, so that anyone (and the tests) can check
    after the fact that no test track was used.
    """
    import json

    with open(path, "w", encoding="utf-8") as f:
        json.dump({name: sorted(ids) for name, ids in sets.items()}, f, indent=0)
        f.write("\n")


def read_track_sets(path: str) -> dict[str, set[str]]:
    """``{name: set of track ids}`` of a file written by :func:`write_track_sets`."""
    import json

    with open(path, encoding="utf-8") as f:
        return {name: set(ids) for name, ids in json.load(f).items()}


def make_song_split(tracks: Sequence[Track], split_path: str, summary_path: str,
                    method: str = "artist", *, lists: dict[str, tuple[str, str]] | None = None,
                    where: str = "", valid_fraction: float = 0.1, test_fraction: float = 0.2,
                    seed: int = 0) -> dict:
    """Draw the split (or read it from track-id lists) and write it with its summary.

    Parameters
    ----------
    tracks : sequence of krotos.tagdb.Track
        The tag database's tracks.
    split_path, summary_path : str
        ``split.tsv`` (see :func:`write_song_split`) and ``summary.json`` to write.
    method : {'artist', 'song', 'file'}
        How the split is drawn; ``file``: from ``lists``.
    lists : dict, optional
        ``method = "file"``: ``{split: (setting, path)}`` of the three track-id
        lists; the setting and file name are recorded in the split's params.
    where : str
        How messages name the settings' section (e.g. ``"[SongSplit]"``).
    valid_fraction, test_fraction : float
        Fractions of tracks drawn for valid and test (not with ``file``).
    seed : int
        Seed of the draw.

    Returns
    -------
    dict
        What ``summary.json`` holds: ``params``, ``counts`` and, with ``file``,
        ``lists`` (the lists' report) and ``bad_rows``.
    """
    import json

    from krotos.msd.errors import BadInputLog

    summary = {}
    if method == "file":
        errors = BadInputLog()
        names = {n: f"{where} {setting} ({os.path.basename(path)})".strip()
                 for n, (setting, path) in lists.items()}
        ids = {n: read_track_list(path, errors) for n, (_, path) in lists.items()}
        split, report = split_from_lists(tracks, ids, names, errors)
        split.params.update({setting: os.path.basename(path) for setting, path in lists.values()})
        summary.update(lists=report, bad_rows=errors.summary())
        log.info("%s tracks of the list files kept, %d of the track list in no list; ids not "
                 "in the track list: %s", report["kept"], report["left_out"], report["unknown"])
    else:
        split = draw_song_split(tracks, method=method, valid_fraction=valid_fraction,
                                test_fraction=test_fraction, seed=seed)
    summary.update(params=split.params, counts=split.counts())
    write_song_split(split_path, split)
    with open(summary_path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    return summary


def describe_song_split(summary: dict, method: str) -> str:
    """One line of a split's counts (and, with ``method = "file"``, of its lists' report)."""
    unit = "listed tracks" if method == "file" else f"{method}s"
    message = ", ".join(f"{name} {c['tracks']:,} tracks ({c['groups']:,} {unit})"
                        for name, c in summary["counts"].items())
    if method == "file":
        report = summary["lists"]
        message += (f"; {report['left_out']:,} tracks in no list left out, "
                    f"{sum(report['unknown'].values()):,} listed ids not in the track list")
    return message
