"""Build ``tags.sqlite`` from the MSD metadata and the Last.fm tags.

The build streams its inputs: the track list and the tag-name maps are held
in memory (they are the result), the 8.6 million ``tid_tag`` rows of a real
``lastfm_tags.db`` go straight into a temporary SQLite table and are merged
there with SQL, so memory does not grow with the tag table.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence

from sqlalchemy import URL, create_engine, event, insert, text

from krotos.msd.errors import BadInputLog, EmptyResultError, ensure_log
from krotos.msd.lastfm import LastfmTagsDB, iter_lastfm_json, resolve_tid_tag
from krotos.msd.mismatches import read_sid_mismatches
from krotos.msd.hdf5 import TRACK_FIELDS, iter_msd_h5_tracks
from krotos.msd.track_metadata import TrackMeta, _positive_int, iter_track_metadata
from krotos.msd.unique_tracks import iter_unique_tracks
from krotos.progress import Progress, no_progress
from krotos.staging import atomic_path
from krotos.tagdb.canonical import canonical_tag, most_frequent_spelling
from krotos.tagdb.params import AUDIO_FILTERS, TagDatabaseParams  # noqa: F401 - AUDIO_FILTERS re-exported
from krotos.tagdb.schema import (
    SCHEMA_VERSION, Base, Meta, Mismatch, Tag, TagSpelling, Track, TrackTag, Vocabulary)

log = logging.getLogger(__name__)

#: Which tracks make the track list: ``any`` audio source (7digital id or a
#: local preview), only a ``local`` preview, or ``none`` required.

AUDIO_EXTENSIONS = (".mp3", ".ogg", ".wav", ".flac", ".m4a", ".aac", ".au", ".aiff", ".opus")

_BATCH = 50_000


def scan_previews(folder: str | os.PathLike) -> set[str]:
    """Return the stems (``"6394026"``, ``"TRABFDT12903CADD73"``) of audio files under ``folder``."""
    stems = set()
    for _root, _dirs, files in os.walk(os.fspath(folder)):
        for name in files:
            stem, ext = os.path.splitext(name)
            if ext.lower() in AUDIO_EXTENSIONS:
                stems.add(stem)
    return stems


def _has_audio(track, stems, audio_filter):
    if audio_filter == "none":
        return True
    local = track.track_id in stems or (
        track.track_7digitalid is not None and str(track.track_7digitalid) in stems)
    if audio_filter == "local":
        return local
    return local or track.track_7digitalid is not None


def _iter_msd_h5_tracks(msd_h5, errors, listed=None):
    """Track rows from MSD HDF5 files: a folder tree, or one aggregate file.

    A track id met twice (the same file under two names, or two rows of an
    aggregate file) is kept once and reported with both places. A track in a
    folder whose file is not named after it (a renamed file, a row of an
    aggregate file) is reported with both names and recorded in ``listed``
    (``{track_id: [path relative to msd_h5, row]}``), so that its features are
    found by the id that listed it.
    """
    folder = os.path.isdir(msd_h5)
    listed = {} if listed is None else listed
    songs = iter_msd_h5_tracks(msd_h5, errors, fields=TRACK_FIELDS)
    first_seen = {}
    for row, song in enumerate(songs):
        # Per-track files are named by their file; rows of one aggregate file by row.
        path, line = (song["path"], None) if folder else (msd_h5, f"songs row {row}")
        track_id = str(song.get("track_id", "")).strip()
        song_id = str(song.get("song_id", "")).strip()
        if not track_id or not song_id:
            errors.add(path, line, "empty track or song id",
                       f"track_id {track_id!r}, song_id {song_id!r}")
            continue
        if track_id in first_seen:
            errors.add(path, line, "duplicate track_id",
                       f"{track_id} already read from {first_seen[track_id]}; kept that one")
            continue
        first_seen[track_id] = path if folder else f"{path} {line}"
        stem = os.path.splitext(os.path.basename(path))[0]
        if folder and (stem != track_id or song["row"]):
            listed[track_id] = [os.path.relpath(path, msd_h5), song["row"]]
            errors.add(path, None, "file not named after its track",
                       f"file {stem} holds track {track_id} (row {song['row']}): listed, and "
                       f"read, as {track_id}")
        yield TrackMeta(track_id, song_id, song.get("title", ""),
                        song.get("release", ""), song.get("artist_id", ""),
                        song.get("artist_name", ""), song.get("duration"),
                        _positive_int(song.get("year")),
                        _positive_int(song.get("track_7digitalid")))


def _iter_tracks(track_metadata, unique_tracks, errors, msd_h5=None, listed=None):
    if track_metadata:
        yield from iter_track_metadata(track_metadata, errors)
        return
    if msd_h5:
        yield from _iter_msd_h5_tracks(msd_h5, errors, listed)
        return
    if not unique_tracks:
        raise ValueError("no track list: give track_metadata (or msd_h5, or unique_tracks)")
    seen = set()
    for row in iter_unique_tracks(unique_tracks, errors):
        if row.track_id in seen:
            errors.add(unique_tracks, None, "duplicate track_id", row.track_id)
            continue
        seen.add(row.track_id)
        yield TrackMeta(row.track_id, row.song_id, row.title, "", "", row.artist, None, None, None)


def _load_tracks(conn, sources, params, errors, listed=None):
    """Stream the track list into ``tracks``; return ``{track_id: tracks.id or 0 if left out}``.

    Only this map stays in memory (a million short strings for the real MSD),
    not the metadata rows.
    """
    previews = sources["previews"]
    stems = scan_previews(previews) if previews and os.path.isdir(previews) else set()
    track_index, batch, kept = {}, [], 0
    for t in _iter_tracks(sources["track_metadata"], sources["unique_tracks"], errors,
                          sources.get("msd_h5"), listed):
        if not _has_audio(t, stems, params["audio_filter"]):
            # 0: the track exists but was left out, so its tags are not bad input.
            track_index[t.track_id] = 0
            continue
        kept += 1
        track_index[t.track_id] = kept
        batch.append(dict(
            id=kept, track_id=t.track_id, song_id=t.song_id, artist_id=t.artist_id,
            artist=t.artist_name, title=t.title, release=t.release, duration=t.duration,
            year=t.year, track_7digitalid=t.track_7digitalid, n_vocab_tags=0))
        if len(batch) >= _BATCH:
            conn.execute(insert(Track), batch)
            batch.clear()
    if batch:
        conn.execute(insert(Track), batch)
    if not kept:
        raise EmptyResultError(
            f"{sources['track_metadata'] or sources['msd_h5'] or sources['unique_tracks']}: "
            f"no usable track "
            f"({len(track_index)} read, none with an audio source under "
            f"audio_filter={params['audio_filter']!r}; {errors.describe()})")
    return track_index


class _TagNames:
    """Raw spelling -> (raw id, canonical id), assigned on first sight."""

    def __init__(self):
        self.raw_ids = {}
        self.canonical_ids = {}
        self.raw_to_canonical = {}

    def intern(self, raw):
        """Return ``(raw_id, tag_id)`` or None when nothing is left of the tag."""
        raw_id = self.raw_ids.get(raw)
        if raw_id is not None:
            return raw_id, self.raw_to_canonical[raw_id]
        name = canonical_tag(raw)
        if not name:
            return None
        raw_id = self.raw_ids[raw] = len(self.raw_ids) + 1
        tag_id = self.canonical_ids.setdefault(name, len(self.canonical_ids) + 1)
        self.raw_to_canonical[raw_id] = tag_id
        return raw_id, tag_id


def build_tag_database(path: str | os.PathLike, *, track_metadata: str | None = None,
                       lastfm_tags: str | None = None, lastfm_json: Sequence[str] = (),
                       sid_mismatches: str | None = None, unique_tracks: str | None = None,
                       previews: str | None = None, msd_h5: str | None = None,
                       params: TagDatabaseParams | None = None, errors: BadInputLog | None = None,
                       progress: Progress | None = None, relative_to: str | None = None) -> dict:
    """Build the SQLite tag database at ``path`` (written to a temporary file, then renamed).

    Parameters
    ----------
    path : str or os.PathLike
        Where ``tags.sqlite`` goes; its folder must exist.
    track_metadata : str, optional
        MSD ``track_metadata.db``: the track list. Only tracks in it are kept.
    lastfm_tags : str, optional
        Last.fm ``lastfm_tags.db``.
    lastfm_json : sequence of str, optional
        Last.fm JSON folders (``lastfm_train/``, ``lastfm_test/``), read in
        addition to (or instead of) ``lastfm_tags``.
    sid_mismatches : str, optional
        ``sid_mismatches.txt``; its pairs are left out of the song -> track map.
    unique_tracks : str, optional
        ``unique_tracks.txt``, the track list used when neither ``track_metadata``
        nor ``msd_h5`` is given.
    msd_h5 : str, optional
        MSD per-track HDF5 files (a folder tree ``A/B/C/TR*.h5``) or one
        aggregate file (e.g. ``msd_summary_file.h5``): the track list, read
        from their ``metadata/songs`` and ``analysis/songs`` tables, when
        ``track_metadata`` is not given.
    previews : str, optional
        Folder of local previews (``<track_7digitalid>.mp3`` or ``<track_id>.<ext>``).
    params : TagDatabaseParams, optional
        Vocabulary size, tag weight threshold and audio filter (default:
        luigi.cfg's).
    errors : BadInputLog, optional
        Collector of rejected rows (one is made if not given); its summary is
        part of the returned summary.
    progress : callable, optional
        ``progress(fraction, message)``.
    relative_to : str, optional
        The data root: paths under it are recorded relative to it, in the
        ``meta`` table and the summary, so that the database stays right
        when the data root moves (``summary["paths_relative_to"]`` says so).

    Returns
    -------
    dict
        JSON-able summary: counts of tracks, tags, tag rows, songs, the bad
        rows by reason with examples, and ``msd_h5_listed``: the tracks
        whose MSD file is not named after them, ``{track_id: [path relative
        to msd_h5, row]}``.

    Raises
    ------
    InputFileError
        An input cannot be read at all (the message names the file).
    EmptyResultError
        No usable track, or no tagged track (no tag reaching ``min_weight``
        on a kept track); the message says where the rows went.
    ValueError
        Bad parameters or no tag source.
    """
    params = params or TagDatabaseParams()
    if not lastfm_tags and not lastfm_json:
        raise ValueError("no tag source: give lastfm_tags (lastfm_tags.db) or lastfm_json folders")
    if isinstance(lastfm_json, (str, os.PathLike)):
        lastfm_json = [lastfm_json]
    errors = ensure_log(errors)
    progress = progress or no_progress
    params = dict(n_tags=int(params.n_tags), min_weight=float(params.min_weight),
                  audio_filter=params.audio_filter)
    sources = dict(track_metadata=track_metadata, lastfm_tags=lastfm_tags,
                   lastfm_json=[os.fspath(p) for p in lastfm_json], sid_mismatches=sid_mismatches,
                   unique_tracks=unique_tracks, previews=previews, msd_h5=msd_h5)
    sources = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in sources.items()}

    path = os.fspath(path)
    with atomic_path(path) as tmp:
        try:
            summary = _build(tmp, sources, params, errors, progress, relative_to)
        finally:
            if os.path.exists(tmp + "-journal"):
                os.remove(tmp + "-journal")
    progress(1.0, f"tag database: {summary['tracks']['kept']} tracks, "
                  f"{summary['tags']['vocabulary']} vocabulary tags")
    return summary


def _engine(path):
    engine = create_engine(URL.create("sqlite", database=path))

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        # A temporary file that is renamed only when complete needs no crash safety.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA temp_store=FILE")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: sorts and index builds stay in memory
        cursor.close()

    return engine


def _relative_paths(value, root):
    """``value`` (JSON-able) with every path under ``root`` made relative to it."""
    if isinstance(value, str):
        return value.replace(root + os.sep, "")
    if isinstance(value, dict):
        return {key: _relative_paths(item, root) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_relative_paths(item, root) for item in value]
    return value


def _build(tmp, sources, params, errors, progress, relative_to=None):
    started = time.monotonic()
    listed = {}
    engine = _engine(tmp)
    Base.metadata.create_all(engine)
    stats = {}
    try:
        with engine.begin() as conn:
            progress(0.0, "reading the track list")
            track_index = _load_tracks(conn, sources, params, errors, listed)
            n_metadata = len(track_index)
            conn.exec_driver_sql(
                "CREATE TEMP TABLE raw_tags (src INTEGER, track INTEGER, raw INTEGER, "
                "tag INTEGER, weight REAL, src_row INTEGER)")
            names = _TagNames()
            stats.update(_load_tag_rows(conn, sources, track_index, names, errors, progress))
            progress(0.8, "merging tag spellings")
            stats.update(_merge(conn, sources, names, params, errors))
            progress(0.9, "choosing the vocabulary and the song map")
            stats.update(_vocabulary_and_songs(conn, sources, params, errors, stats["tag_rows"]))
            stats["seconds"] = round(time.monotonic() - started, 3)
            stats["tracks"]["in_metadata"] = n_metadata
            stats["tracks"]["left_out_no_audio_source"] = n_metadata - stats["tracks"]["kept"]
            stats["tags"]["vocabulary"] = len(stats["vocabulary"])
            summary = dict(stats, params=params, sources=sources, bad_rows=errors.summary(),
                           msd_h5_listed=listed)
            if relative_to:
                root = os.path.abspath(relative_to)
                summary = dict(_relative_paths(summary, root), paths_relative_to="data_root")
            conn.execute(insert(Meta), [
                dict(key="schema_version", value=json.dumps(SCHEMA_VERSION)),
                dict(key="params", value=json.dumps(params)),
                dict(key="sources", value=json.dumps(summary["sources"])),
                dict(key="summary", value=json.dumps(summary)),
            ])
    finally:
        engine.dispose()
    return summary


def _load_tag_rows(conn, sources, track_index, names, errors, progress):
    """Stream every tag source into ``raw_tags``; return row counts."""
    counts = dict(read=0, kept=0, on_tracks_left_out=0, on_unknown_tracks=0)
    batch = []

    def flush():
        if batch:
            conn.exec_driver_sql("INSERT INTO raw_tags VALUES (?, ?, ?, ?, ?, ?)", batch)
            counts["kept"] += len(batch)
            batch.clear()

    path = sources["lastfm_tags"]
    if path:
        with LastfmTagsDB(path) as db:
            total = max(1, db.count("tid_tag"))
            progress(0.1, f"reading {total} Last.fm tag rows")
            tid_map = {}
            for rowid, tid in db.tids(errors):
                number = track_index.get(tid.strip())
                if number is None:
                    errors.add(path, f"tids rowid {rowid}", "track id not in the track list", tid)
                    number = -1
                tid_map[rowid] = number
            tag_map = {}
            for rowid, raw in db.tags(errors):
                interned = names.intern(raw)
                if interned is None:
                    errors.add(path, f"tags rowid {rowid}", "tag empty after canonicalization", repr(raw))
                else:
                    tag_map[rowid] = interned
            done = 0
            for row in db.tid_tag():
                done += 1
                rowid, tid, tag, weight = row
                number, names_of_tag = tid_map.get(tid), tag_map.get(tag)
                # The common, clean row skips the checks that name what is wrong.
                if (number is None or names_of_tag is None or type(weight) is not float
                        or not 0.0 <= weight <= 100.0):
                    resolved = resolve_tid_tag(path, row, tid_map, tag_map, errors)
                    if resolved is None:
                        continue
                    tid, tag, weight = resolved
                    number, names_of_tag = tid_map[tid], tag_map[tag]
                if number > 0:
                    batch.append((0, number, names_of_tag[0], names_of_tag[1], weight, rowid))
                    if len(batch) >= _BATCH:
                        flush()
                        progress(0.1 + 0.6 * done / total, f"read {done}/{total} Last.fm tag rows")
                elif number == 0:
                    counts["on_tracks_left_out"] += 1
                else:
                    counts["on_unknown_tracks"] += 1
            counts["read"] += done
            flush()
    for src, root in enumerate(sources["lastfm_json"], 1):
        progress(0.7, f"reading Last.fm JSON under {root}")
        for track in iter_lastfm_json(root, errors):
            number = track_index.get(track.track_id)
            if number is None:
                errors.add(track.path, None, "track id not in the track list", track.track_id)
            seen = set()
            for raw, weight in track.tags:
                counts["read"] += 1
                if number is None:
                    counts["on_unknown_tracks"] += 1
                    continue
                interned = names.intern(raw)
                if interned is None:
                    errors.add(track.path, "tags", "tag empty after canonicalization", repr(raw))
                    continue
                if interned[0] in seen:
                    errors.add(track.path, "tags", "duplicate (track, tag)",
                               f"{raw!r} listed twice; kept the highest weight")
                seen.add(interned[0])
                if number == 0:
                    counts["on_tracks_left_out"] += 1
                    continue
                batch.append((src, number, *interned, weight, None))
                if len(batch) >= _BATCH:
                    flush()
        flush()
    return {"tag_rows": counts}


def _merge(conn, sources, names, params, errors):
    """Report duplicates, merge spellings into ``track_tags``, fill ``tags`` and ``tag_spellings``."""
    # Exact duplicates inside lastfm_tags.db: same tid and same tag twice.
    duplicates = conn.exec_driver_sql(
        "SELECT count(*), min(src_row), max(src_row) FROM raw_tags WHERE src = 0 "
        "GROUP BY track, raw HAVING count(*) > 1").fetchall()
    for n, first, last in duplicates:
        errors.add(sources["lastfm_tags"], f"tid_tag rowid {last}", "duplicate (track, tag)",
                   f"same tid and tag as rowid {first}; kept the highest weight", count=n - 1)
    merged = conn.exec_driver_sql(
        "SELECT count(*) FROM (SELECT 1 FROM raw_tags GROUP BY track, tag "
        "HAVING count(DISTINCT raw) > 1)").scalar()
    # Building the secondary index once after the bulk insert is a single sort;
    # keeping it during the insert is millions of random B-tree updates.
    indexes = list(TrackTag.__table__.indexes)
    for index in indexes:
        index.drop(conn)
    conn.exec_driver_sql(
        "INSERT INTO track_tags (track, tag, weight) "
        "SELECT track, tag, max(weight) FROM raw_tags GROUP BY track, tag")
    for index in indexes:
        index.create(conn)

    spelling_rows = conn.exec_driver_sql(
        "SELECT raw, count(*) FROM raw_tags GROUP BY raw").fetchall()
    conn.exec_driver_sql("DROP TABLE raw_tags")
    raw_text = {raw_id: raw for raw, raw_id in names.raw_ids.items()}
    by_tag = {}
    for raw_id, n in spelling_rows:
        by_tag.setdefault(names.raw_to_canonical[raw_id], {})[raw_text[raw_id]] = n
    name_of = {tag_id: name for name, tag_id in names.canonical_ids.items()}
    tag_counts = {tag: (n_any, n_min) for tag, n_any, n_min in conn.execute(
        text("SELECT tag, count(*), sum(weight >= :w) FROM track_tags GROUP BY tag"),
        {"w": params["min_weight"]})}
    _insert_many(conn, Tag, ("id", "name", "display", "n_tracks", "n_tracks_any", "n_spellings"), (
        (tag_id, name_of[tag_id], most_frequent_spelling(spellings), int(tag_counts[tag_id][1]),
         int(tag_counts[tag_id][0]), len(spellings))
        for tag_id, spellings in sorted(by_tag.items())))
    _insert_many(conn, TagSpelling, ("raw", "tag_id", "n_rows"), (
        (raw, tag_id, n) for tag_id, counts in by_tag.items() for raw, n in counts.items()))
    return {"tags": dict(raw_spellings=len(spelling_rows), canonical=len(by_tag),
                         track_tag_pairs_with_merged_spellings=int(merged))}


def _insert_many(conn, model, columns, rows):
    """Insert tuples in batches (a million ORM-style dicts would cost a GB)."""
    sql = (f"INSERT INTO {model.__tablename__} ({', '.join(columns)}) "
           f"VALUES ({', '.join('?' * len(columns))})")
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _BATCH:
            conn.exec_driver_sql(sql, batch)
            batch = []
    if batch:
        conn.exec_driver_sql(sql, batch)


def _vocabulary_and_songs(conn, sources, params, errors, tag_rows):
    min_weight = params["min_weight"]
    top = conn.execute(text(
        "SELECT tt.tag, t.name, count(*) AS n FROM track_tags tt JOIN tags t ON t.id = tt.tag "
        "WHERE tt.weight >= :w GROUP BY tt.tag ORDER BY n DESC, t.name ASC LIMIT :n"),
        {"w": min_weight, "n": params["n_tags"]}).fetchall()
    if not top:
        # A database without a tagged track would train nothing: say where the rows went.
        raise EmptyResultError(
            f"{', '.join(filter(None, [sources['lastfm_tags'], *sources['lastfm_json']]))}: "
            f"no tagged track: no tag has weight >= min_weight={min_weight} on a kept track "
            f"({tag_rows['read']:,} tag rows read, {tag_rows['kept']:,} on kept tracks, "
            f"{tag_rows['on_unknown_tracks']:,} on tracks not in the track list, "
            f"{tag_rows['on_tracks_left_out']:,} on tracks left out for want of audio; "
            f"{errors.describe()})")
    if len(top) < params["n_tags"]:
        log.warning("only %d tags reach min_weight=%s; vocabulary is smaller than n_tags=%d",
                    len(top), min_weight, params["n_tags"])
    conn.execute(insert(Vocabulary), [dict(idx=i, tag_id=tag, name=name, n_tracks=n)
                                      for i, (tag, name, n) in enumerate(top)])
    conn.execute(text(
        "UPDATE tracks SET n_vocab_tags = (SELECT count(*) FROM track_tags tt "
        "JOIN vocabulary v ON v.tag_id = tt.tag WHERE tt.track = tracks.id AND tt.weight >= :w)"),
        {"w": min_weight})

    n_kept, n_tagged = conn.exec_driver_sql(
        "SELECT count(*), coalesce(sum(n_vocab_tags > 0), 0) FROM tracks").fetchone()

    mismatches = set()
    if sources["sid_mismatches"]:
        mismatches = read_sid_mismatches(sources["sid_mismatches"], errors)
        _insert_many(conn, Mismatch, ("song_id", "track_id"), sorted(mismatches))
    # Several tracks can share a song: prefer one the tag model can learn from,
    # then the first by track id, so the choice is stable.
    conn.exec_driver_sql(
        "INSERT INTO song_tracks (song_id, track_id) "
        "SELECT song_id, track_id FROM ("
        "  SELECT song_id, track_id, row_number() OVER ("
        "    PARTITION BY song_id ORDER BY n_vocab_tags > 0 DESC, track_id) AS choice"
        "  FROM tracks t WHERE NOT EXISTS (SELECT 1 FROM mismatches m"
        "    WHERE m.song_id = t.song_id AND m.track_id = t.track_id))"
        "WHERE choice = 1")
    mapped = conn.exec_driver_sql("SELECT count(*) FROM song_tracks").scalar()
    removed = conn.exec_driver_sql(
        "SELECT count(*) FROM tracks t JOIN mismatches m "
        "ON m.song_id = t.song_id AND m.track_id = t.track_id").scalar()

    return {
        "tracks": dict(kept=n_kept, with_vocabulary_tags=n_tagged),
        "vocabulary": [dict(idx=i, name=name, n_tracks=n) for i, (_, name, n) in enumerate(top)],
        "songs": dict(mapped=mapped, mismatch_pairs=len(mismatches),
                      mismatched_tracks_unmapped=removed),
    }
