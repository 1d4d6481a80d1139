"""Benchmark: stream a Taste Profile triplets file with the krotos.msd readers.

Writes a synthetic ``train_triplets.txt`` of ``--lines`` lines (40-hex-digit
users, 18-character song ids, as in the real file) unless it exists, then
reports lines per CPU second and peak memory of ``iter_triplet_chunks`` and
of ``iter_triplets``. Peak memory must not grow with ``--lines``.

    python bench/bench_msd_triplets.py --lines 3000000 --chunk-lines 1000000
"""

import argparse
import os
import resource
import time

import numpy as np


def write_triplets(path, n_lines, seed=0):
    rng = np.random.default_rng(seed)
    users = [f"{u:040x}" for u in rng.integers(0, 2**62, max(1, n_lines // 47)).tolist()]
    songs = [f"SO{s:016X}" for s in rng.integers(0, 2**62, 50_000).tolist()]
    with open(path + ".part", "w") as f:
        for start in range(0, n_lines, 100_000):
            n = min(100_000, n_lines - start)
            song = rng.integers(0, len(songs), n).tolist()
            count = rng.geometric(0.4, n).tolist()
            f.writelines(f"{users[(start + k) // 47]}\t{songs[s]}\t{c}\n"
                         for k, (s, c) in enumerate(zip(song, count)))
    os.replace(path + ".part", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3_000_000)
    parser.add_argument("--chunk-lines", type=int, default=1_000_000)
    parser.add_argument("--path", default="/tmp/krotos-bench-triplets.txt")
    parser.add_argument("--mode", choices=["chunks", "stream"], default="chunks")
    args = parser.parse_args()
    if not os.path.exists(args.path):
        write_triplets(args.path, args.lines)

    from krotos.msd import BadInputLog, iter_triplet_chunks, iter_triplets

    errors = BadInputLog()
    cpu, wall = time.process_time(), time.monotonic()
    total = 0
    if args.mode == "chunks":
        for users, _songs, _counts in iter_triplet_chunks(args.path, args.chunk_lines, errors):
            total += len(users)
    else:
        total = sum(1 for _ in iter_triplets(args.path, errors))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.mode}: {total} lines, {total / cpu / 1e6:.2f} M lines per CPU second "
          f"({wall:.1f} s wall), peak RSS {peak:.0f} MiB, bad lines {errors.total}")


if __name__ == "__main__":
    main()
