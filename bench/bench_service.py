"""Latency and throughput of embedding one 30 s clip, as the service's worker does it.

End to end per clip: decode (mp3), resample, log-mel with the pipeline's
parameters, both models over the clip's windows, window averaging; the models
are loaded once beforehand, as in ``krotos worker``. Prints the median (and
p90) latency of repeated runs, the per-stage split, and the throughput of one
worker process (clips/s, sequential).

Target (issue 9): under 0.5 s per clip on 2 cores with the model loaded.

Without ``--model`` the models are built untrained at the chosen size (timing
does not depend on the weights)::

    python bench/bench_service.py                       # Dieleman's sizes (the code defaults)
    python bench/bench_service.py --size demo           # the demo's smaller network
    python bench/bench_service.py --model data/FinetuneModel/<signature>
    python bench/bench_service.py --threads 2 --runs 30 --audio some.mp3
    python bench/bench_service.py --memory          # decoding limits: peak memory per input

``--memory`` measures the peak of numpy allocations (tracemalloc) while one
input goes through the worker's feature path (limited decoding, then the
pipeline's spectrogram function), beside the unlimited path the worker used
before (``krotos.audio.decode.load_audio``, whole file, then the same
function), for: a 30 s clip (reference), the probe's 4 KB WAV claiming a
1 Hz sample rate, and the largest input the limits accept (300 s at 96 kHz,
stereo).
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REAL_MP3 = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "shared", "fixtures", "real", "audio", "TRWJAZW128F42760DD_test.mp3")
SIZES = {
    "dieleman": dict(filters=(256, 256, 512, 512), pool_sizes=(4, 2, 2), dense_units=(2048, 2048)),
    "demo": dict(filters=(32, 32, 64, 64), pool_sizes=(4, 2, 2), dense_units=(256, 256)),
}


def untrained_models(folder, size, n_mels=128, window_frames=130, n_tags=50, n_factors=50):
    """Tag and latent models of the given size, saved as the pipeline saves them."""
    from krotos.audio.extract import ExtractParams
    from krotos.model.network import build_tag_model, replace_output
    from krotos.model.params import DIELEMAN

    tags = build_tag_model(n_mels, window_frames, n_tags,
                           dataclasses.replace(DIELEMAN, dropout=0.5, **SIZES[size]))
    latent = replace_output(tags, n_factors, activation="linear", name="latent_model")
    paths = {"tag": os.path.join(folder, "tags.keras"),
             "latent": os.path.join(folder, "latent.keras")}
    tags.save(paths["tag"])
    latent.save(paths["latent"])
    vocabulary = [f"tag{i}" for i in range(n_tags)]
    return paths["tag"], vocabulary, paths["latent"], ExtractParams(n_mels=n_mels).as_dict()


def test_clip(folder):
    """The real 30 s 7digital preview, or a generated 30 s 44.1 kHz stereo mp3."""
    if os.path.isfile(REAL_MP3):
        return REAL_MP3
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(44100 * 30) / 44100
    x = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))
    path = os.path.join(folder, "clip30.mp3")
    sf.write(path, np.stack([x, x], axis=1).astype(np.float32), 44100, format="MP3")
    return path


def _wav_claiming(rate, data_bytes=4000):
    import struct

    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = np.random.default_rng(0).integers(-8000, 8000, data_bytes // 2,
                                             dtype=np.int16).tobytes()
    return (b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE" + b"fmt " +
            struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(body)) + body)


def _peak(fn):
    """(peak MiB of numpy allocations, seconds, outcome) of ``fn()``."""
    import tracemalloc

    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        fn()
        outcome = "ok"
    except Exception as exc:  # noqa: BLE001 (the refusal is the figure)
        outcome = getattr(exc, "code", None) or getattr(exc, "status", None) or \
            type(exc).__name__
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak, seconds, outcome


def memory(tmp):
    """Peak memory of the limited and the unlimited feature path, per input."""
    import soundfile as sf

    from krotos.audio.decode import load_audio
    from krotos.audio.extract import ExtractParams, spectrogram_of_samples
    from krotos.inference import DecodeLimits, decode_limited

    params, limits = ExtractParams(), DecodeLimits()
    rng = np.random.default_rng(0)
    inputs = {"30 s clip": open(test_clip(tmp), "rb").read(),
              "4 KB WAV claiming 1 Hz": _wav_claiming(1)}
    big = os.path.join(tmp, "big.wav")
    x = (0.1 * rng.standard_normal((int(limits.max_seconds) * 96000, 2))).astype(np.float32)
    sf.write(big, x, 96000, subtype="PCM_16")
    del x
    inputs["300 s, 96 kHz stereo"] = open(big, "rb").read()
    from krotos.audio.extract import warm_up

    warm_up()  # librosa's first call compiles and caches; not a per-input cost
    print(f"peak numpy memory per input (tracemalloc), limits {limits}")
    for name, data in inputs.items():
        def limited(data=data, name=name):
            samples, sr, _ = decode_limited(data, name, limits)
            spectrogram_of_samples(samples, sr, params, name, min_seconds=0.5)

        def unlimited(data=data, name=name):
            path = os.path.join(tmp, "input.bin")
            with open(path, "wb") as f:
                f.write(data)
            samples, sr = load_audio(path)
            spectrogram_of_samples(samples, sr, params, name, min_seconds=0.5)
        new, new_s, new_out = _peak(limited)
        old, old_s, old_out = _peak(unlimited)
        print(f"  {name:24s} limited {new:8.1f} MiB {new_s:6.2f} s ({new_out}); "
              f"unlimited {old:8.1f} MiB {old_s:6.2f} s ({old_out}); "
              f"unlimited/limited {old / max(new, 0.01):.2f}x")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="a FinetuneModel output folder (the fine-tuned models)")
    p.add_argument("--size", choices=sorted(SIZES), default="dieleman",
                   help="network size without --model (dieleman)")
    p.add_argument("--audio", help="the clip (default: the real 30 s 7digital preview)")
    p.add_argument("--runs", type=int, default=20, help="timed runs (20)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: all cores)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--memory", action="store_true",
                   help="measure the decoding limits' effect on peak memory instead")
    args = p.parse_args(argv)
    if args.memory:
        with tempfile.TemporaryDirectory() as tmp:
            return memory(tmp)

    if args.threads:
        from krotos.model.train import configure_threads

        configure_threads(args.threads, min(2, args.threads))
    from krotos.audio.decode import load_audio
    from krotos.inference import Embedder

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if args.model:
            from krotos.locate import locate

            embedder = Embedder.from_files(locate(args.model))
            what = args.model
        else:
            embedder = Embedder(*untrained_models(tmp, args.size))
            what = f"untrained, {args.size} size"
        load_s = time.perf_counter() - t0
        clip = args.audio or test_clip(tmp)
        embedder.embed(clip)  # warm-up (first decode, allocations)
        total, decode, spectrogram = [], [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result = embedder.embed(clip)
            total.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            load_audio(clip)
            decode.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            mel, _ = embedder.spectrogram(clip)
            spectrogram.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(args.runs):
            embedder.predict_spectrogram(mel)
        model_s = (time.perf_counter() - t0) / args.runs
    median = statistics.median(total)
    figures = {
        "model": what, "clip": clip, "clip_seconds": result["duration"],
        "windows": result["windows"], "cores": os.cpu_count(), "threads": args.threads or "all",
        "runs": args.runs, "model_load_s": round(load_s, 2),
        "latency_median_s": round(median, 4),
        "latency_p90_s": round(float(np.percentile(total, 90)), 4),
        "decode_median_s": round(statistics.median(decode), 4),
        "spectrogram_median_s": round(statistics.median(spectrogram), 4),
        "model_mean_s": round(model_s, 4),
        "throughput_clips_per_s": round(1.0 / statistics.mean(total), 2),
        "target_s": 0.5,
    }
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        print(f"embedding one {figures['clip_seconds']:.1f} s clip ({figures['windows']} "
              f"windows), model: {what}, {figures['cores']} cores, TF threads "
              f"{figures['threads']}, {args.runs} runs")
        print(f"  latency   median {median:.3f} s, p90 {figures['latency_p90_s']:.3f} s "
              f"(target < 0.5 s: {'met' if median < 0.5 else 'NOT met'})")
        print(f"  split     decode {figures['decode_median_s']:.3f} s, decode+resample+log-mel "
              f"{figures['spectrogram_median_s']:.3f} s, models {model_s:.3f} s")
        print(f"  throughput {figures['throughput_clips_per_s']:.2f} clips/s per worker "
              f"process; model load {load_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
