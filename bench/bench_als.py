"""Benchmark of the collaborative-filtering stages at (a fraction of) Taste Profile scale.

Writes a synthetic ``train_triplets.txt`` in the real format whose users are
a ``--fraction`` of the real 1,019,318 (with the real 47.5 songs per user on
average, so ``fraction x 48.4M`` lines) over the real 384,546 song ids, with
long-tailed song popularity and play counts; then times, each in a fresh
process so that its peak memory is its own:

1. ``PlayMatrix``: streaming parse + CSR build + split + HDF5 write;
2. ``Factorize``: HDF5 load + ALS (``implicit``), seconds per iteration;
3. ``EvaluateCF``: ranking metrics of ALS, popularity and random for
   ``--eval-users`` users over all warm songs.

Usage::

    python bench/bench_als.py --fraction 0.05 --iterations 5
    python bench/bench_als.py --fraction 1.0 --iterations 3   # the real shape: ~7 min, < 3 GB
"""

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REAL_USERS = 1_019_318
REAL_SONGS = 384_546
REAL_TRIPLETS = 48_373_586


def write_synthetic_triplets(path, fraction, seed=0, chunk_users=50_000):
    """Write a synthetic triplets file; returns the number of lines."""
    rng = np.random.default_rng(seed)
    n_users = max(1, int(round(fraction * REAL_USERS)))
    song_ids = np.array([f"SO{i:016X}" for i in rng.permutation(REAL_SONGS)])
    # Zipf-like song popularity: a few hits, a long tail.
    weight = 1.0 / (np.arange(REAL_SONGS) + 50.0) ** 0.9
    cdf = np.cumsum(weight / weight.sum())
    mean_songs = REAL_TRIPLETS / REAL_USERS
    lines = 0
    with open(path, "w") as f:
        for start in range(0, n_users, chunk_users):
            n = min(chunk_users, n_users - start)
            # Log-normal user activity with the real mean, at least one song each.
            per_user = np.maximum(1, rng.lognormal(np.log(mean_songs) - 0.5, 1.0, n).astype(np.int64))
            songs = np.searchsorted(cdf, rng.random(per_user.sum()))
            songs = np.minimum(songs, REAL_SONGS - 1)
            counts = 1 + rng.negative_binomial(1, 0.35, size=per_user.sum())
            users = np.array([f"{rng.integers(2**63):016x}{start + i:024x}" for i in range(n)])
            text = "".join(map("{}\t{}\t{}\n".format, np.repeat(users, per_user).tolist(),
                               song_ids[songs].tolist(), counts.tolist()))
            f.write(text)
            lines += int(per_user.sum())
    return lines


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _stage_playmatrix(triplets, plays):
    from krotos.cf.params import PlayMatrixParams
    from krotos.cf.playmatrix import build_play_split
    start = time.time()
    summary = build_play_split(triplets, plays, None,
                               params=PlayMatrixParams(holdout_fraction=0.2, valid_fraction=0.1))
    return dict(seconds=time.time() - start, peak_rss_mib=_peak_rss_mib(),
                users=summary["users"], songs=summary["songs"], nonzeros=summary["nonzeros"],
                duplicate_lines=summary["read"]["duplicate_lines"])


def _stage_factorize(plays, factors_path, factors, iterations, threads):
    from krotos.cf.als import fit_als
    from krotos.cf.params import ALSParams
    from krotos.cf.playmatrix import read_play_split
    start = time.time()
    split = read_play_split(plays)
    load = time.time() - start
    start = time.time()
    # regularization and alpha: any (the cost does not depend on them).
    _, _, info = fit_als(split.train, ALSParams(factors=factors, regularization=1.0, alpha=2.0,
                                                iterations=iterations, num_threads=threads))
    return dict(load_seconds=load, fit_seconds=time.time() - start,
                seconds_per_iteration=info["seconds_per_iteration"], solver=info["solver"],
                peak_rss_mib=_peak_rss_mib(), train_nonzeros=int(split.train.nnz))


def _stage_evaluate(plays, factors_path, factors, iterations, threads, eval_users):
    from krotos.cf.als import factorize_play_split
    from krotos.cf.evaluate import evaluate_cf
    from krotos.cf.params import ALSParams
    # regularization and alpha: any (the cost does not depend on them).
    factorize_play_split(plays, factors_path, ALSParams(factors=factors, regularization=1.0,
                                                        alpha=2.0, iterations=1,
                                                        num_threads=threads))
    start = time.time()
    result = evaluate_cf(plays, factors_path, max_users=eval_users)
    return dict(seconds=time.time() - start, users=result["n_users"], items=result["n_items"],
                peak_rss_mib=_peak_rss_mib(),
                map_at_500={m: round(v["map_at_500"], 4) for m, v in result["models"].items()})


def _in_child(func, *args):
    """Run a stage in a fresh process, so that its peak RSS is its own."""
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(func, *args).result()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fraction", type=float, default=0.05,
                        help="fraction of the real users (and triplets) to synthesize")
    parser.add_argument("--factors", type=int, default=50)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="implicit threads; 0: all cores")
    parser.add_argument("--eval-users", type=int, default=10_000)
    parser.add_argument("--workdir", default=None, help="keep files here (default: a temp dir)")
    args = parser.parse_args(argv)

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_als.")
    os.makedirs(workdir, exist_ok=True)
    triplets = os.path.join(workdir, "train_triplets.txt")
    plays = os.path.join(workdir, "plays.h5")
    factors_path = os.path.join(workdir, "factors.h5")
    try:
        start = time.time()
        lines = write_synthetic_triplets(triplets, args.fraction)
        report = {"fraction": args.fraction, "cpus": os.cpu_count(), "triplet_lines": lines,
                  "triplets_mib": round(os.path.getsize(triplets) / 2**20, 1),
                  "generate_seconds": round(time.time() - start, 1)}
        print(f"synthetic triplets: {lines:,} lines, {report['triplets_mib']} MiB "
              f"({report['generate_seconds']} s)", flush=True)
        report["playmatrix"] = pm = _in_child(_stage_playmatrix, triplets, plays)
        print(f"PlayMatrix: {pm['seconds']:.1f} s, peak RSS {pm['peak_rss_mib']:,.0f} MiB, "
              f"{pm['users']:,} users x {pm['songs']:,} songs, {pm['nonzeros']:,} plays "
              f"({pm['duplicate_lines']:,} duplicate lines summed)", flush=True)
        report["factorize"] = fz = _in_child(_stage_factorize, plays, factors_path, args.factors,
                                            args.iterations, args.threads)
        per_it = fz["seconds_per_iteration"]
        print(f"Factorize: load {fz['load_seconds']:.1f} s, {fz['solver']}, {args.factors} factors, "
              f"{np.mean(per_it):.2f} s/iteration (median {np.median(per_it):.2f}, "
              f"{len(per_it)} iterations), peak RSS {fz['peak_rss_mib']:,.0f} MiB", flush=True)
        report["evaluate"] = ev = _in_child(_stage_evaluate, plays, factors_path, args.factors,
                                           args.iterations, args.threads, args.eval_users)
        print(f"EvaluateCF: {ev['users']:,} users x {ev['items']:,} songs, 3 models, "
              f"{ev['seconds']:.1f} s, peak RSS {ev['peak_rss_mib']:,.0f} MiB", flush=True)
        print(json.dumps(report, indent=1))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
