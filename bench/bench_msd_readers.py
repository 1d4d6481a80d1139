"""Benchmark: the readers at full size, seconds and peak memory.

    python bench/bench_msd_readers.py --summary-rows 1000000 --lastfm-files 100000

Generates, in the real layouts (reused by later runs):

* an ``msd_summary_file.h5``-layout file of ``--summary-rows`` songs: the
  ``metadata/songs`` (20 fields, 5,320 bytes a row), ``analysis/songs`` and
  ``musicbrainz/songs`` compound tables with the real files' exact dtypes
  (taken from a real MSD track file when ../shared/fixtures/real is present),
  gzip-compressed, no arrays;
* a Last.fm JSON folder (``A/B/C/TR....json``: ``track_id``, ``artist``,
  ``title``, ``timestamp``, 20 ``tags`` and 50 ``similars`` as in the real
  ``lastfm_train/``) of ``--lastfm-files`` files, and one of a tenth of that.

Then reads each in a fresh process, at full size and at a tenth, and prints
seconds, rows/s and the peak resident memory: the track list as the tag
database reads it (:func:`krotos.msd.hdf5.iter_msd_h5_tracks`, the
``TRACK_FIELDS`` only) and the shard count's cheap row count
(:func:`krotos.shards.sharding.count_input_tracks`); the Last.fm folder
through :func:`krotos.msd.lastfm.iter_lastfm_json`. Nothing read is kept, so
memory that grows with the size is the reader's own.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

FIXTURES = os.path.join(os.path.dirname(REPO), "shared", "fixtures", "real", "msd_h5")
BLOCK = 20_000


def _row_dtypes():
    """``{group: dtype}`` of the three songs tables (the real files' own when available)."""
    import h5py

    import tempfile

    real = sorted(glob.glob(os.path.join(FIXTURES, "TR*.h5")))
    with tempfile.TemporaryDirectory() as folder:
        if not real:
            # The demo writes the same layout.
            from krotos.demo.msd_h5 import write_msd_track_arrays

            real = [os.path.join(folder, "TRAAAAA128F0000000.h5")]
            write_msd_track_arrays(real[0], {"track_id": "TRAAAAA128F0000000"}, {"duration": 1.0})
        with h5py.File(real[0], "r") as f:
            return {g: f[f"{g}/songs"].dtype for g in ("metadata", "analysis", "musicbrainz")}


def write_summary(path, n_rows, seed=0):
    """An ``msd_summary_file.h5``-layout file of ``n_rows`` songs, written in blocks."""
    import h5py

    dtypes = _row_dtypes()
    rng = np.random.default_rng(seed)
    tmp = path + ".part"
    with h5py.File(tmp, "w") as f:
        tables = {g: f.create_dataset(f"{g}/songs", shape=(n_rows,), dtype=dt,
                                      chunks=(max(1, 16384 // dt.itemsize),),
                                      compression="gzip", compression_opts=1)
                  for g, dt in dtypes.items()}
        for start in range(0, n_rows, BLOCK):
            stop = min(start + BLOCK, n_rows)
            ids = np.arange(start, stop)
            artists = rng.integers(0, 44_745, stop - start)
            for group, table in tables.items():
                rows = np.zeros(stop - start, dtype=dtypes[group])
                names = rows.dtype.names
                if "track_id" in names:
                    rows["track_id"] = [f"TR{i:016X}".encode() for i in ids]
                if "duration" in names:
                    rows["duration"] = rng.uniform(60, 400, stop - start)
                if "song_id" in names:
                    rows["song_id"] = [f"SO{i:016X}".encode() for i in ids]
                    rows["artist_id"] = [f"AR{a:016X}".encode() for a in artists]
                    rows["artist_name"] = [f"Artist {a}".encode() for a in artists]
                    rows["title"] = [f"Song number {i}".encode() for i in ids]
                    rows["release"] = [f"Album {i // 12}".encode() for i in ids]
                    rows["track_7digitalid"] = ids + 1
                if "year" in names:
                    rows["year"] = rng.integers(1950, 2011, stop - start)
                table[start:stop] = rows
    os.replace(tmp, path)


def write_lastfm(folder, n_files, seed=0):
    """A Last.fm JSON folder of ``n_files`` tracks in the ``A/B/C/TR....json`` layout."""
    rng = np.random.default_rng(seed)
    tags = [f"tag {k}" for k in range(2000)]
    tmp = folder + ".part"
    for i in range(n_files):
        track_id = f"TR{'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[i % 26]}{i:015X}"
        path = os.path.join(tmp, track_id[2], track_id[3], track_id[4], f"{track_id}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        picked = rng.zipf(1.5, 20) % len(tags)
        record = {"artist": f"Artist {i % 5000}", "timestamp": "2011-08-15 18:43:00.000000",
                  "similars": [[f"TR{j:016X}", float(s)] for j, s in
                               zip(rng.integers(0, n_files, 50), rng.uniform(0, 1, 50))],
                  "tags": [[tags[k], str(int(w))] for k, w in
                           zip(picked, rng.integers(0, 101, 20))],
                  "track_id": track_id, "title": f"Song {i}"}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(record, f)
    os.replace(tmp, folder)


def _memory(field):
    """``VmRSS`` or ``VmHWM`` (peak) of this process in MiB. Unlike ``ru_maxrss``, the
    peak does not carry over the parent's memory from before the ``exec``."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _read(kind, path):
    """In a fresh process: read everything, keep nothing; print seconds, rows, memory."""
    from krotos.shards.sharding import count_input_tracks
    from krotos.msd.hdf5 import iter_msd_h5_tracks
    from krotos.msd.lastfm import iter_lastfm_json

    before = _memory("VmRSS")
    started = time.perf_counter()
    rows = 0
    if kind == "summary":
        for _ in iter_msd_h5_tracks(path):
            rows += 1
    elif kind == "count":
        rows = count_input_tracks(msd_h5=path)
    elif kind == "lastfm":
        for track in iter_lastfm_json(path):
            rows += len(track.tags)
    seconds = time.perf_counter() - started
    print(json.dumps(dict(seconds=seconds, rows=rows, before=before, peak=_memory("VmHWM"))))


def measure(kind, path):
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--read", kind, path],
                          capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONPATH=REPO))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary-rows", type=int, default=1_000_000)
    parser.add_argument("--lastfm-files", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/krotos-bench-readers")
    parser.add_argument("--read", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        _read(*args.read)
        return

    os.makedirs(args.workdir, exist_ok=True)
    inputs = []
    for n in (args.summary_rows // 10, args.summary_rows):
        path = os.path.join(args.workdir, f"msd_summary_file_{n}.h5")
        if not os.path.exists(path):
            started = time.monotonic()
            write_summary(path, n)
            print(f"wrote {path} ({os.path.getsize(path) / 2**20:.0f} MiB) in "
                  f"{time.monotonic() - started:.0f} s", flush=True)
        inputs += [("summary", n, path), ("count", n, path)]
    for n in (args.lastfm_files // 10, args.lastfm_files):
        path = os.path.join(args.workdir, f"lastfm_{n}")
        if not os.path.isdir(path):
            started = time.monotonic()
            write_lastfm(path, n)
            print(f"wrote {n} JSON files under {path} in {time.monotonic() - started:.0f} s",
                  flush=True)
        inputs.append(("lastfm", n, path))

    what = {"summary": "track list from msd_summary_file.h5 layout",
            "count": "row count of the same (shard count)",
            "lastfm": "Last.fm JSON folder (tag rows)"}
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for kind, n, path in inputs:
        r = measure(kind, path)
        unit = "files" if kind == "lastfm" else "rows"
        print(f"  {what[kind]:45s} {n:>9,} {unit}: {r['seconds']:7.2f} s "
              f"({n / r['seconds']:>9,.0f} {unit}/s), peak {r['peak']:5.0f} MiB "
              f"({r['peak'] - r['before']:+5.0f} MiB over the imports)")


if __name__ == "__main__":
    main()
