"""Benchmark: Echo Nest feature extraction through the pipeline vs the plain h5py read floor.

    python bench/bench_echonest.py --files 2000

Builds an MSD-layout tree (``A/B/C/TR*.h5``) of ``--files`` track files by
copying the real fixture files (``../shared/fixtures/real/msd_h5``) under new
track ids, each file's ``analysis/songs.track_id`` and ``metadata/songs.song_id``
rewritten to its new id; where the fixtures are absent, files of the same
layout are generated. Beside it: a Last.fm JSON folder tagging every track
and a one-line Taste Profile (a real dataset needs both). Then, in one run:

* the read floor: plain h5py, one process, opening each file and reading the
  four arrays the features need (``segments_start``, ``segments_timbre``,
  ``segments_pitches``, ``segments_loudness_max``);
* ``TagDatabase`` (the track list read from the same files), through
  ``luigi``, for the record;
* ``EchonestIndex`` through the real ``luigi`` command (``--local-scheduler``,
  start-up, every ``EchonestFeatures`` shard and the manifest included),
  with 1 and then 2 workers;
* the extraction function alone (one shard of every file, in this process).

It prints files/s for each, the pipeline's ratio to the floor per worker
(the issue's target: at least 0.5), and the peak memory (largest process).
On a machine shared with other work the figures are noisy; the ratios are
measured in the same run.
"""

import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

FIXTURES = os.path.join(os.path.dirname(REPO), "shared", "fixtures", "real", "msd_h5")
FLOOR_ARRAYS = ("segments_start", "segments_timbre", "segments_pitches", "segments_loudness_max")
LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))


def new_track_ids(n, seed=0):
    """``n`` distinct, sorted MSD-shaped track ids (``TR`` + 16 characters)."""
    rng = np.random.default_rng(seed)
    ids = set()
    while len(ids) < n:
        ids.add("TR" + "".join(rng.choice(LETTERS, 3)) + "".join(rng.choice(ALNUM, 13)))
    return sorted(ids)


def _set_field(dataset, name, value):
    row = dataset[0]
    row[name] = value
    dataset[0] = row


def _generated_track(path, track_id, seed):
    from krotos.demo.msd_h5 import write_msd_track_arrays

    rng = np.random.default_rng(seed)
    duration = float(rng.uniform(150, 300))
    starts = np.cumsum(rng.uniform(0.1, 0.4, int(duration / 0.25)))
    starts = np.concatenate([[0.0], starts[starts < duration - 0.5]])
    n = len(starts)
    write_msd_track_arrays(path, {
        "track_id": track_id, "song_id": "SO" + track_id[2:], "title": f"Song {seed}",
        "artist_id": f"AR{seed % 50:016d}", "artist_name": f"Artist {seed % 50}",
        "track_7digitalid": seed + 1,
    }, {
        "duration": duration, "segments_start": starts,
        "segments_timbre": rng.normal(0, 40, (n, 12)),
        "segments_pitches": rng.uniform(0, 1, (n, 12)),
        "segments_loudness_max": rng.uniform(-40, -5, n),
        "segments_loudness_start": rng.uniform(-60, -20, n),
        "beats_start": np.arange(0.3, duration, 0.5),
    })


def build_tree(root, track_ids, sources=None):
    """Write one MSD track file per id under ``root/A/B/C/``.

    Parameters
    ----------
    root : str
    track_ids : list of str
    sources : list of str, optional
        Real MSD files to copy in turn (their ids rewritten); None: generate.
    """
    import h5py

    from krotos.features.echonest_shard import msd_h5_path

    for i, track_id in enumerate(track_ids):
        path = msd_h5_path(root, track_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not sources:
            _generated_track(path, track_id, i)
            continue
        shutil.copyfile(sources[i % len(sources)], path)
        os.chmod(path, 0o644)
        with h5py.File(path, "r+") as f:
            _set_field(f["analysis/songs"], "track_id", track_id.encode())
            _set_field(f["metadata/songs"], "song_id", ("SO" + track_id[2:]).encode())


def write_side_inputs(folder, track_ids):
    """A Last.fm JSON folder tagging every track, and a one-line triplets file."""
    lastfm = os.path.join(folder, "lastfm_train")
    for i, track_id in enumerate(track_ids):
        path = os.path.join(lastfm, track_id[2], track_id[3], track_id[4], f"{track_id}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"track_id": track_id, "artist": "", "title": "", "similars": [],
                       "tags": [["rock" if i % 2 else "pop", "100"], ["guitar", "40"]]}, f)
    triplets = os.path.join(folder, "train_triplets.txt")
    with open(triplets, "w", encoding="utf-8") as f:
        f.write(f"b80344d063b5ccb3212f76538f3d9e43d87dca9e\tSO{track_ids[0][2:]}\t1\n")
    return lastfm, triplets


def read_floor(paths):
    """(files/s, files per CPU second) of plain h5py: open each file, read the four arrays."""
    import h5py

    started, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        with h5py.File(path, "r") as f:
            for name in FLOOR_ARRAYS:
                f["analysis"][name][()]
    return (len(paths) / (time.perf_counter() - started),
            len(paths) / (time.process_time() - cpu))


def measured(command):
    """Run ``command``; return (seconds, CPU seconds, peak RSS in MiB of its largest process)."""
    wrapper = [sys.executable, os.path.abspath(__file__), "--measure", "--", *command]
    started = time.perf_counter()
    done = subprocess.run(wrapper, cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=REPO))
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stdout}\n{done.stderr}")
    cpu, peak = map(float, done.stdout.strip().splitlines()[-1].split())
    return seconds, cpu, peak


def luigi_command(task, data_root, msd_h5, lastfm, triplets, workers, shard_size):
    return [sys.executable, "-m", "luigi", "--module", "pipeline", task, "--local-scheduler",
            "--workers", str(workers), "--krotos-data-root", data_root,
            "--krotos-msd-h5", msd_h5, "--krotos-lastfm-json", lastfm,
            "--krotos-triplets", triplets, "--krotos-features", "echonest",
            "--TagDatabase-audio-filter", "none", "--EchonestIndex-shard-size", str(shard_size),
            "--log-level", "WARNING"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--shard-size", type=int, default=1000,
                        help="tracks per EchonestFeatures shard (as [EchonestIndex] shard_size)")
    parser.add_argument("--workdir", default="/tmp/krotos-bench-echonest")
    parser.add_argument("--generated", action="store_true",
                        help="generate the files even where the real fixtures are present")
    parser.add_argument("--keep", action="store_true", help="keep the tree for another run")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        code = subprocess.call(args.command)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
        sys.exit(code)

    work = os.path.abspath(args.workdir)
    msd_h5 = os.path.join(work, "msd_h5")
    sources = None if args.generated else sorted(glob.glob(os.path.join(FIXTURES, "TR*.h5")))
    track_ids = new_track_ids(args.files)
    marker = os.path.join(work, "tree.json")
    wanted = {"files": args.files, "real": bool(sources)}
    if not (os.path.exists(marker) and json.load(open(marker)) == wanted):
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        started = time.monotonic()
        build_tree(msd_h5, track_ids, sources)
        write_side_inputs(work, track_ids)
        with open(marker, "w") as f:
            json.dump(wanted, f)
        print(f"tree: {args.files} files ({'copies of the real fixtures' if sources else 'generated'}),"
              f" written in {time.monotonic() - started:.1f} s")
    lastfm, triplets = os.path.join(work, "lastfm_train"), os.path.join(work, "train_triplets.txt")
    paths = sorted(glob.glob(os.path.join(msd_h5, "*", "*", "*", "*.h5")))
    n = len(paths)
    data_root = os.path.join(work, "data")
    shutil.rmtree(data_root, ignore_errors=True)

    read_floor(paths)  # warms the page cache: every figure below reads from memory
    floors = [read_floor(paths)]
    seconds, cpu, tagdb_peak = measured(luigi_command(
        "TagDatabase", data_root, msd_h5, lastfm, triplets, 1, args.shard_size))
    rows = [("TagDatabase (track list from the files), luigi", n / seconds, n / cpu, tagdb_peak)]
    rates = {}
    for workers in (1, 2):
        for family in ("EchonestIndex", "EchonestFeatures"):
            shutil.rmtree(os.path.join(data_root, family), ignore_errors=True)
        command = luigi_command("EchonestIndex", data_root, msd_h5, lastfm, triplets, workers,
                                args.shard_size)
        seconds, cpu, peak = measured(command)
        # The same command again finds everything done: what remains is start-up.
        idle_seconds, idle_cpu, _ = measured(command)
        floors.append(read_floor(paths))
        rates[workers] = dict(wall=n / seconds, cpu=n / cpu,
                              wall_run=n / max(seconds - idle_seconds, 1e-9),
                              cpu_run=n / max(cpu - idle_cpu, 1e-9))
        rows.append((f"EchonestIndex, luigi --workers {workers}", n / seconds, n / cpu, peak))
        rows.append((f"  the same less start-up ({idle_seconds:.1f} s: a no-op rerun)",
                     rates[workers]["wall_run"], rates[workers]["cpu_run"], None))
    floor = dict(wall=float(np.median([f[0] for f in floors])),
                 cpu=float(np.median([f[1] for f in floors])))
    rows.insert(0, (f"read floor (plain h5py, 1 process; median of {len(floors)})",
                    floor["wall"], floor["cpu"], None))

    from krotos.features.echonest import EchonestParams
    from krotos.features.echonest_shard import extract_echonest_shard

    ids = [os.path.basename(p)[:-3] for p in paths]
    started, cpu = time.perf_counter(), time.process_time()
    results = extract_echonest_shard(ids, msd_h5, os.path.join(work, "one_shard.h5"),
                                     EchonestParams())
    alone = (n / (time.perf_counter() - started), n / (time.process_time() - cpu))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = sum(r["status"] == "ok" for r in results.values())
    rows.append(("extraction function alone (1 shard, in process)", *alone, after))

    print(f"{n} files ({ok} ok), shards of {args.shard_size}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"  {'':62s} {'files/s':>9s} {'per CPU s':>10s}")
    for label, rate, per_cpu, peak in rows:
        memory = f"   peak {peak:5.0f} MiB" if peak else ""
        print(f"  {label:62s} {rate:9.0f} {per_cpu:10.0f}{memory}")
    print(f"  floors measured: {', '.join(f'{f[0]:.0f}' for f in floors)} files/s")
    for key, what in (("wall", "wall clock, start-up included"),
                      ("wall_run", "wall clock, less start-up")):
        print(f"  pipeline / floor per worker ({what}): 1 worker {rates[1][key] / floor['wall']:.2f}, "
              f"2 workers {rates[2][key] / 2 / floor['wall']:.2f} (target >= 0.5); "
              f"2 workers / 1 worker {rates[2][key] / rates[1][key]:.2f}x")
    # Files per CPU second are per worker already, and do not depend on what
    # else the machine runs (as long as it has a core for each worker).
    print(f"  pipeline / floor in CPU time (start-up included): 1 worker "
          f"{rates[1]['cpu'] / floor['cpu']:.2f}, 2 workers {rates[2]['cpu'] / floor['cpu']:.2f}; "
          f"less start-up: {rates[1]['cpu_run'] / floor['cpu']:.2f}, "
          f"{rates[2]['cpu_run'] / floor['cpu']:.2f}; extraction function alone "
          f"{alone[1] / floor['cpu']:.2f}")
    if not args.keep:
        shutil.rmtree(data_root, ignore_errors=True)


if __name__ == "__main__":
    main()
