"""Benchmark: build the tag database at real-MSD scale from synthetic files.

Writes a ``track_metadata.db`` with ``--tracks`` rows and a ``lastfm_tags.db``
with the real dataset's proportions (505,216 tagged tracks of 1,000,000;
522,366 distinct tags, Zipf-distributed; about 17 tags per tagged track),
then times ``build_tag_database`` and reports its peak memory.

    python bench/bench_tagdb.py --tracks 1000000 --workdir /tmp/tagdb-bench
"""

import argparse
import os
import resource
import sqlite3
import time

import numpy as np


def write_inputs(folder, n_tracks, seed=0):
    rng = np.random.default_rng(seed)
    meta = os.path.join(folder, "track_metadata.db")
    tags = os.path.join(folder, "lastfm_tags.db")
    track_ids = [f"TR{i:016X}" for i in range(n_tracks)]
    with sqlite3.connect(meta) as con:
        con.execute(
            "CREATE TABLE songs (track_id text PRIMARY KEY, title text, song_id text, release text, "
            "artist_id text, artist_mbid text, artist_name text, duration real, "
            "artist_familiarity real, artist_hotttnesss real, year int, track_7digitalid int, "
            "shs_perf int, shs_work int)")
        artists = rng.integers(0, max(1, n_tracks // 22), n_tracks)
        con.executemany("INSERT INTO songs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            (t, f"Title {i}", f"SO{i:016X}", "Release", f"AR{a:016X}", "", f"Artist {a}",
             200.0, 0.5, 0.4, 2000, i + 1, -1, 0)
            for i, (t, a) in enumerate(zip(track_ids, artists.tolist()))))
    n_tagged = int(n_tracks * 0.505)
    n_tags = int(n_tracks * 0.522)
    with sqlite3.connect(tags) as con:
        con.execute("CREATE TABLE tags (tag TEXT, UNIQUE(tag))")
        con.execute("CREATE TABLE tids (tid TEXT, UNIQUE(tid))")
        con.execute("CREATE TABLE tid_tag (tid INT, tag INT, val FLOAT)")
        tagged = rng.choice(n_tracks, n_tagged, replace=False)
        con.executemany("INSERT INTO tids VALUES (?)", ((track_ids[i],) for i in tagged.tolist()))
        # Two spellings per canonical tag ("tag 7" / "Tag-7"), as in the real data.
        con.executemany("INSERT INTO tags VALUES (?)", (
            (f"tag {k // 2}" if k % 2 else f"Tag-{k // 2}",) for k in range(n_tags)))
        per_track = rng.poisson(16, n_tagged) + 1

        def rows():
            for tid, n in enumerate(per_track.tolist(), 1):
                chosen = rng.zipf(1.3, n)
                chosen = np.unique(chosen[chosen <= n_tags])
                weights = rng.integers(0, 101, len(chosen))
                for tag, w in zip(chosen.tolist(), weights.tolist()):
                    yield tid, tag, float(w)
        con.executemany("INSERT INTO tid_tag VALUES (?,?,?)", rows())
        con.execute("CREATE INDEX tid_tag_tid ON tid_tag(tid)")
        con.execute("CREATE INDEX tid_tag_tag ON tid_tag(tag)")
        n_rows = con.execute("SELECT count(*) FROM tid_tag").fetchone()[0]
    return meta, tags, n_rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--workdir", default="/tmp/tagdb-bench")
    parser.add_argument("--reuse", action="store_true", help="keep inputs from an earlier run")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    meta = os.path.join(args.workdir, "track_metadata.db")
    tags = os.path.join(args.workdir, "lastfm_tags.db")
    if not (args.reuse and os.path.exists(meta) and os.path.exists(tags)):
        for path in (meta, tags):
            if os.path.exists(path):
                os.remove(path)
        started = time.monotonic()
        meta, tags, n_rows = write_inputs(args.workdir, args.tracks)
        print(f"inputs: {args.tracks} tracks, {n_rows} tid_tag rows "
              f"({time.monotonic() - started:.0f} s to write)", flush=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    from krotos.tagdb import TagDB, build_tag_database

    out = os.path.join(args.workdir, "tags.sqlite")
    started, cpu = time.monotonic(), time.process_time()
    summary = build_tag_database(out, track_metadata=meta, lastfm_tags=tags)
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"build: {seconds:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak / 1024:.0f} MiB "
          f"(before build {before / 1024:.0f} MiB), "
          f"tags.sqlite {os.path.getsize(out) / 2**20:.0f} MiB, "
          f"{summary['tracks']['kept']} tracks, {summary['tags']['canonical']} canonical tags")
    with TagDB(out) as db:
        started, cpu = time.monotonic(), time.process_time()
        ids = db.track_ids(tagged=True)
        matrix = db.tag_matrix(ids)
        print(f"tag_matrix of {len(ids)} train tracks: {time.monotonic() - started:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU, "
              f"{matrix.mean():.4f} positive")


if __name__ == "__main__":
    main()
