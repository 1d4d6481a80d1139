"""Write the demo world in the real Million Song Dataset file formats.

The files are the ones a real run reads (see DESIGN.md, Formats), so that the
default run exercises exactly the readers and code paths of a real one:

==========================  ==================================================
``track_metadata.db``       SQLite, table ``songs`` with all 14 MSD columns
``lastfm_tags.db``          SQLite, ``tids``, ``tags``, ``tid_tag`` (ROWID refs)
``train_triplets.txt``      ``user<TAB>song_id<TAB>count``, grouped by user
``sid_mismatches.txt``      ``ERROR: <SONG TRACK> artist  -  title  !=  ...``
``unique_tracks.txt``       ``track<SEP>song<SEP>artist<SEP>title``
``previews/<7digitalid>.mp3``  44.1 kHz stereo mp3 clips
==========================  ==================================================
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import sqlite3

import numpy as np
import soundfile as sf

from krotos.demo.catalogue import Catalogue, generate_catalogue
from krotos.progress import Progress
from krotos.demo.styles import STYLES
from krotos.demo.synth import render_song
from krotos.staging import atomic_path

SAMPLE_RATE = 44100

#: The real schema of the MSD's track_metadata.db.
TRACK_METADATA_SCHEMA = (
    "CREATE TABLE songs (track_id text PRIMARY KEY, title text, song_id text, "
    "release text, artist_id text, artist_mbid text, artist_name text, "
    "duration real, artist_familiarity real, artist_hotttnesss real, year int, "
    "track_7digitalid int, shs_perf int, shs_work int)")

#: The real schema of the Last.fm dataset's lastfm_tags.db.
LASTFM_TAGS_SCHEMA = (
    "CREATE TABLE tags (tag TEXT)",
    "CREATE TABLE tids (tid TEXT)",
    "CREATE TABLE tid_tag (tid INT, tag INT, val FLOAT)",
    "CREATE INDEX idx_tag_tid ON tid_tag ('tag','tid')",
    "CREATE INDEX idx_tid_tag ON tid_tag ('tid','tag')",
    "CREATE INDEX idx_tids ON tids ('tid')",
    "CREATE INDEX idx_tags ON tags ('tag')",
)


def _write_sqlite(path, statements, rows_by_insert):
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
        for insert, rows in rows_by_insert:
            db.executemany(insert, rows)
    db.close()


def write_track_metadata(path: str, cat: Catalogue) -> None:
    """Write ``track_metadata.db`` (the MSD's SQLite ``songs`` table) for ``cat``."""
    rows = [(cat.track_ids[i], cat.titles[i], cat.song_ids[i], cat.releases[i],
             cat.artist_ids[a], cat.artist_mbids[a], cat.artist_names[a],
             float(cat.durations[i]), float(cat.familiarity[i]), float(cat.hotttnesss[i]),
             int(cat.years[i]), int(cat.digital_ids[i]), -1, 0)
            for i, a in enumerate(cat.artist_index)]
    _write_sqlite(path, [TRACK_METADATA_SCHEMA],
                  [("INSERT INTO songs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)])


def write_lastfm_tags(path: str, cat: Catalogue) -> None:
    """Write ``lastfm_tags.db`` (the Last.fm dataset's SQLite tags) for ``cat``."""
    tag_rowid = {}
    tid_rows, tid_tag_rows = [], []
    for i, tags in enumerate(cat.track_tags):
        if not tags:
            continue
        tid_rows.append((cat.track_ids[i],))
        for raw, weight in tags:
            tag_rowid.setdefault(raw, len(tag_rowid) + 1)
            tid_tag_rows.append((len(tid_rows), tag_rowid[raw], weight))
    tag_rows = [(raw,) for raw in tag_rowid]  # insertion order == ROWID order
    _write_sqlite(path, LASTFM_TAGS_SCHEMA, [
        ("INSERT INTO tids VALUES (?)", tid_rows),
        ("INSERT INTO tags VALUES (?)", tag_rows),
        ("INSERT INTO tid_tag VALUES (?,?,?)", tid_tag_rows)])


def write_triplets(path: str, cat: Catalogue) -> None:
    """Write the Taste Profile ``user<TAB>song<TAB>count`` lines of ``cat``'s plays."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for user, plays in zip(cat.user_ids, cat.plays):
            for song, count in plays:
                f.write(f"{user}\t{cat.song_ids[song]}\t{count}\n")


def _artist_title(cat, i):
    return f"{cat.artist_names[cat.artist_index[i]]}  -  {cat.titles[i]}"


def write_sid_mismatches(path: str, cat: Catalogue) -> None:
    """Write ``sid_mismatches.txt`` lines for ``cat``'s mismatched song/track pairs."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i in np.flatnonzero(cat.mismatched):
            f.write(f"ERROR: <{cat.song_ids[i]} {cat.track_ids[i]}> "
                    f"{_artist_title(cat, i)}  !=  {_artist_title(cat, cat.donor[i])}\n")


def write_unique_tracks(path: str, cat: Catalogue) -> None:
    """Write ``unique_tracks.txt`` (``track<SEP>song<SEP>artist<SEP>title``) for ``cat``."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i, a in enumerate(cat.artist_index):
            f.write(f"{cat.track_ids[i]}<SEP>{cat.song_ids[i]}<SEP>"
                    f"{cat.artist_names[a]}<SEP>{cat.titles[i]}\n")


def _render_preview(job):
    path, spec, clip_seconds, seed, index = job
    rng = np.random.default_rng([seed, 1, index])
    audio = render_song(spec, clip_seconds, SAMPLE_RATE, rng)
    # VBR at a modest quality: encoding dominates the demo's cost, and the
    # pipeline resamples to 22.05 kHz anyway.
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, SAMPLE_RATE, format="MP3", bitrate_mode="VARIABLE",
                 compression_level=0.9)
    return path


def write_previews(folder: str, cat: Catalogue, clip_seconds: float, seed: int, workers: int = 1,
                   progress: Progress | None = None) -> None:
    """Render and encode one mp3 per track, named by its 7digital id."""
    os.makedirs(folder, exist_ok=True)
    jobs = [(os.path.join(folder, f"{int(cat.digital_ids[i])}.mp3"), cat.track_spec(i),
             clip_seconds, seed, i) for i in range(len(cat.track_ids))]
    if workers <= 1:
        results = map(_render_preview, jobs)
        pool = None
    else:
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers)
        results = pool.map(_render_preview, jobs, chunksize=4)
    try:
        for done, _ in enumerate(results, 1):
            if progress and (done % 25 == 0 or done == len(jobs)):
                progress(done / len(jobs), f"rendered {done}/{len(jobs)} previews")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def write_demo_dataset(folder: str, n_songs: int = 600, n_users: int = 2000,
                       clip_seconds: float = 10.0, seed: int = 0, workers: int = 1,
                       progress: Progress | None = None) -> dict:
    """Generate the demo dataset into ``folder`` in the real MSD formats.

    Parameters
    ----------
    folder : str
        Existing, empty folder.
    n_songs, n_users : int
    clip_seconds : float
        Length of each mp3 preview.
    seed : int
        Same seed, same parameters: byte-identical files.
    workers : int
        Processes used to render and encode audio (the result does not
        depend on it).
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    dict
        Counts, also written to ``demo.json`` with the style mixes that
        generated each track (the ground truth, for inspection only).
    """
    cat = generate_catalogue(n_songs, n_users, seed)
    write_track_metadata(os.path.join(folder, "track_metadata.db"), cat)
    write_lastfm_tags(os.path.join(folder, "lastfm_tags.db"), cat)
    write_triplets(os.path.join(folder, "train_triplets.txt"), cat)
    write_sid_mismatches(os.path.join(folder, "sid_mismatches.txt"), cat)
    write_unique_tracks(os.path.join(folder, "unique_tracks.txt"), cat)
    write_previews(os.path.join(folder, "previews"), cat, clip_seconds, seed, workers,
                   progress)
    summary = {
        "n_songs": n_songs,
        "n_users": n_users,
        "n_triplets": int(sum(len(p) for p in cat.plays)),
        "n_mismatches": int(cat.mismatched.sum()),
        "n_tagged_tracks": int(sum(1 for t in cat.track_tags if t)),
        "clip_seconds": clip_seconds,
        "sample_rate": SAMPLE_RATE,
        "styles": [s.name for s in STYLES],
        "track_style_mix": {cat.track_ids[i]: np.round(cat.track_mix[i], 4).tolist()
                            for i in range(n_songs)},
    }
    with open(os.path.join(folder, "demo.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return summary
