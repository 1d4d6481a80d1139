"""Benchmark: spectrogram extraction through the pipeline vs the naive librosa loop.

    python bench/bench_audio.py --n 200 --shard-size 50 --repeat 3

Generates N real-length clips (30 s, 44.1 kHz stereo mp3, like 7digital
previews in the wild) and times, in one run:

* decode only (soundfile mp3 -> float32, serial): the floor no extraction beats;
* the pipeline with 1 and 2 workers: ``krotos.audio.extract.extract_shard``
  per shard of ``--shard-size`` clips, each shard in a freshly forked process
  as Luigi's ``--workers N`` runs each task, forked from a parent that has
  called ``warm_up()`` as Luigi's worker process does (see
  ``pipeline/audio.py``), HDF5 writing included;
* the naive serial baseline: ``librosa.load(sr=22050)`` +
  ``librosa.feature.melspectrogram`` + ``power_to_db`` per clip, imports
  already done (which flatters it).

It prints clips/s for each and the ratios. The issue's target: 2 workers at
least 1.8x the naive baseline on a 2-core machine.
"""

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SR = 44100
SECONDS = 30.0
UNIQUE_CLIPS = 6  # distinct encodes; the rest are copies (decoding cost is the same)


def synth_clip(seed):
    """30 s of stereo 'music': random partials, a beat, some noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * SR)) / SR
    y = np.zeros_like(t)
    for f in rng.uniform(80, 5000, 12):
        y += rng.uniform(0.02, 0.1) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
    beat = (np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t) > 0.95).astype(float)
    y += 0.3 * beat * rng.standard_normal(len(t))
    y *= 0.5 / np.abs(y).max()
    return np.stack([y, np.roll(y, 200)], axis=1).astype(np.float32)


def make_clips(folder, n):
    paths = []
    for i in range(min(n, UNIQUE_CLIPS)):
        path = os.path.join(folder, f"{i}.mp3")
        sf.write(path, synth_clip(i), SR, format="MP3")
        paths.append(path)
    for i in range(UNIQUE_CLIPS, n):
        path = os.path.join(folder, f"{i}.mp3")
        shutil.copyfile(paths[i % UNIQUE_CLIPS], path)
        paths.append(path)
    return paths


def decode_only(paths):
    from krotos.audio.decode import load_audio

    for p in paths:
        load_audio(p)


def _extract_one_shard(args):
    # Runs in a fresh forked process per shard, like a Luigi worker task.
    from krotos.audio.extract import ExtractParams, extract_shard

    shard_paths, out_path = args
    previews = [{"track_id": f"TR{i:06d}", "path": p, "status": "ok"}
                for i, p in enumerate(shard_paths)]
    results = extract_shard(previews, out_path, ExtractParams())
    return sum(r["status"] == "ok" for r in results.values())


def pipeline(paths, workers, shard_size, out_dir):
    shards = [(paths[i:i + shard_size], os.path.join(out_dir, f"shard-{i // shard_size:05d}.h5"))
              for i in range(0, len(paths), shard_size)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, maxtasksperchild=1) as pool:
        ok = sum(pool.map(_extract_one_shard, shards, chunksize=1))
    if ok != len(paths):
        raise RuntimeError(f"only {ok} of {len(paths)} clips extracted")


def naive(paths):
    import librosa

    for p in paths:
        y, sr = librosa.load(p, sr=22050)
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=512,
                                             n_mels=128)
        librosa.power_to_db(mel)


def timed(repeat, fn, *args):
    """Best of ``repeat`` wall-clock times (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="clips (default 200)")
    parser.add_argument("--shard-size", type=int, default=50,
                        help="clips per shard task (default 50)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each measurement; the best is reported (default 3)")
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="krotos-bench-audio-")
    try:
        print(f"generating {args.n} clips of {SECONDS:g} s, {SR} Hz stereo mp3 ...",
              flush=True)
        clips = os.path.join(tmp, "clips")
        os.makedirs(clips)
        paths = make_clips(clips, args.n)
        print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, shard size "
              f"{args.shard_size}, {-(-args.n // args.shard_size)} shards, best of "
              f"{args.repeat}")
        from krotos.audio.extract import warm_up

        warm_up()  # what pipeline/audio.py does in Luigi's worker before forking
        naive(paths[:1])  # imports and first-call set-up, outside the timing
        rows = []
        for w in args.workers:
            out = os.path.join(tmp, f"out-{w}")
            os.makedirs(out)
            rows.append((f"pipeline, {w} worker(s)", timed(args.repeat, pipeline, paths, w,
                                                             args.shard_size, out)))
        rows.append(("decode only (serial)", timed(args.repeat, decode_only, paths)))
        rows.append(("naive librosa (serial)", timed(args.repeat, naive, paths)))
        base = args.n / rows[-1][1]
        print(f"\n{'':26s} {'seconds':>8s} {'clips/s':>8s} {'x naive':>8s}")
        for name, seconds in rows:
            rate = args.n / seconds
            print(f"{name:26s} {seconds:8.2f} {rate:8.1f} {rate / base:8.2f}")
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (figures are only "
              f"meaningful on an otherwise idle machine)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
