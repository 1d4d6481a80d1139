"""Speed of the tag CNN's training: is it model-bound or input-bound?

Prints, in one run:

1. training samples/s fed by the real input pipeline (HDF5 shards -> tf.data);
2. training samples/s of the same model on in-memory random tensors (the
   model-bound ceiling);
3. samples/s of the input pipeline alone (no model).

Targets (issue 6): (1) >= 0.9 x (2), and (3) >= 5 x what a training step consumes.

By default it writes synthetic shards (30 s clips at 22.05 kHz / hop 512, 128
mel bands, float16, gzip, as the Spectrograms task does) into a temporary
folder; ``--manifest`` uses a real SpectrogramIndex output instead::

    python bench/bench_model.py                       # demo-sized model (luigi.cfg)
    python bench/bench_model.py --dieleman            # the code defaults (Dieleman's sizes)
    python bench/bench_model.py --shortchunk --window 159   # the 2-D short-chunk CNN, 3.7 s
    python bench/bench_model.py --augment             # with SpecAugment, gain, shift, mixup
    python bench/bench_model.py --manifest data/SpectrogramIndex/<sig>/manifest.json

``--augment`` measures whether augmenting in the tf.data pipeline (on whole
batches, see :class:`krotos.model.data.Augmentation`) keeps the pipeline well
ahead of training. Which model is *better* is measured by the
``CompareTagModels`` task, not here.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEMO = dict(filters=(32, 32, 64, 64), pool_sizes=(4, 2, 2), dense_units=(256, 256))
DIELEMAN = dict(filters=(256, 256, 512, 512), pool_sizes=(4, 2, 2), dense_units=(2048, 2048))
SHORTCHUNK = dict(architecture="shortchunk", filters=(16, 32, 32, 64, 64), kernel_size=3,
                  pool_sizes=(2, 2, 2, 2, 2), batch_norm=True, dense_units=(128,))
AUGMENT = dict(gain_db=6.0, time_shift=8, time_masks=2, time_mask_frames=12, freq_masks=2,
               freq_mask_bands=12, mixup=0.2)


def synthetic_shards(folder, n_tracks, n_mels, frames, per_shard=100, seed=0):
    from krotos.shards.writer import ShardWriter

    rng = np.random.default_rng(seed)
    paths, ids = [], []
    for s in range(0, n_tracks, per_shard):
        path = os.path.join(folder, f"shard-{s // per_shard:05d}.h5")
        with ShardWriter(path, n_mels, dtype="float16", attrs={"n_mels": n_mels}) as w:
            for i in range(s, min(s + per_shard, n_tracks)):
                tid = f"TRBENCH{i:06d}"
                # Smooth-ish values like a real spectrogram (noise compresses worse).
                base = rng.normal(-40, 8, n_mels)
                w.append(tid, base + rng.normal(0, 3, (frames, n_mels)))
                ids.append(tid)
        paths.append(path)
    return paths, ids


def rate(fn, samples):
    t0 = time.perf_counter()
    fn()
    return samples / (time.perf_counter() - t0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--manifest", help="a SpectrogramIndex manifest.json (default: synthetic)")
    p.add_argument("--tracks", type=int, default=400, help="synthetic tracks")
    p.add_argument("--seconds", type=float, default=30.0, help="synthetic clip length")
    p.add_argument("--n-mels", type=int, default=128)
    p.add_argument("--window", type=int, default=129, help="frames per window (3 s)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--crops", type=int, default=4, help="random windows per track per epoch")
    p.add_argument("--tags", type=int, default=50)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up)")
    p.add_argument("--parallel-reads", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="TF intra-op threads (0 = all)")
    p.add_argument("--cache-mb", type=float, default=1024,
                   help="track cache of the pipeline (0: read every window from disk)")
    p.add_argument("--dieleman", action="store_true", help="full-size model (code defaults)")
    p.add_argument("--shortchunk", action="store_true",
                   help="the 2-D short-chunk CNN (demo sizes; use --window 159 for 3.7 s)")
    p.add_argument("--augment", action="store_true",
                   help=f"augment the training batches ({AUGMENT})")
    a = p.parse_args(argv)

    import tensorflow as tf
    from krotos.model.train import configure_threads

    configure_threads(a.threads, 2 if a.threads else 0)
    import keras

    from krotos.model.data import Augmentation, ShardReaderPool, index_tracks, training_dataset
    from krotos.model.network import build_tag_model
    from krotos.model.params import DIELEMAN as DIELEMAN_NET, TrainingParams

    tmp = None
    if a.manifest:
        from krotos.shards.manifest import read_manifest

        m = read_manifest(a.manifest)
        paths = [s["path"] for s in m["shards"]]
        index = index_tracks(paths)
        source = f"manifest {a.manifest}"
    else:
        tmp = tempfile.TemporaryDirectory(prefix="krotos-bench-")
        frames = int(a.seconds * 22050 / 512)
        t0 = time.perf_counter()
        paths, _ = synthetic_shards(tmp.name, a.tracks, a.n_mels, frames)
        index = index_tracks(paths)
        source = (f"{a.tracks} synthetic {a.seconds:g} s tracks x {a.n_mels} mels, "
                  f"{len(paths)} shards (written in {time.perf_counter() - t0:.1f} s)")
    n = len(index)
    rng = np.random.default_rng(0)
    targets = {t: (rng.random(a.tags) < 0.1).astype(np.float32) for t in index.track_ids}
    sizes = SHORTCHUNK if a.shortchunk else DIELEMAN if a.dieleman else DEMO
    augmentation = Augmentation(**AUGMENT) if a.augment else Augmentation()
    keras.utils.set_random_seed(0)
    # Dieleman's 1-D network (the former code defaults) with these sizes.
    model = build_tag_model(index.n_mels, a.window, a.tags, dataclasses.replace(DIELEMAN_NET, **sizes))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    pool = ShardReaderPool(index, cache_bytes=int(a.cache_mb * 2 ** 20))

    def pipeline(epoch, pool=pool):
        params = TrainingParams(batch_size=a.batch, crops_per_track=a.crops, seed=0,
                                parallel_reads=a.parallel_reads, augmentation=augmentation)
        return training_dataset(index, targets, a.window, params, epoch=epoch, pool=pool)

    def read_uncached():
        cold = ShardReaderPool(index)
        for _ in pipeline(200, pool=cold):
            pass
        cold.close()

    # Warm-up: traces the training step, opens the shards, fills OS caches.
    model.fit(pipeline(0), epochs=1, verbose=0, shuffle=False)

    def read_only():
        for e in range(a.epochs):
            for _ in pipeline(100 + e):
                pass

    # The same, without each epoch's fixed cost (building the dataset, tracing
    # its map functions, starting its threads): what reading sustains within
    # an epoch, and the fixed cost, which only small epochs notice.
    setup_seconds, steady_seconds = [], []
    for e in range(a.epochs):
        t0 = time.perf_counter()
        batches = iter(pipeline(300 + e))
        next(batches)
        t1 = time.perf_counter()
        for _ in batches:
            pass
        setup_seconds.append(t1 - t0)
        steady_seconds.append(time.perf_counter() - t1)
    steady = a.epochs * (n * a.crops - a.batch) / sum(steady_seconds)

    def fit_pipeline():
        for e in range(a.epochs):
            model.fit(pipeline(1 + e), epochs=1, verbose=0, shuffle=False)

    steps = -(-n * a.crops // a.batch)
    x = tf.random.normal((a.batch, a.window, index.n_mels), -40, 8)
    y = tf.cast(tf.random.uniform((a.batch, a.tags)) < 0.1, tf.float32)
    w = tf.ones((a.batch,))
    in_memory = tf.data.Dataset.from_tensors((x, y, w)).repeat(steps)

    def fit_memory():
        for _ in range(a.epochs):
            model.fit(in_memory, epochs=1, verbose=0, shuffle=False)

    samples = a.epochs * n * a.crops
    pipe_uncached = rate(read_uncached, n * a.crops)
    pipe_alone = rate(read_only, samples)
    memory = rate(fit_memory, a.epochs * steps * a.batch)
    fed = rate(fit_pipeline, samples)
    print(f"data: {source}")
    name = "short-chunk" if a.shortchunk else "Dieleman" if a.dieleman else "demo"
    print(f"model: {name} sizes {sizes}, window {a.window} "
          f"frames, batch {a.batch}, {n} tracks x {a.crops} crops per epoch, "
          f"{model.count_params():,} parameters; "
          f"TF threads intra={tf.config.threading.get_intra_op_parallelism_threads()} "
          f"(0 = all {os.cpu_count()} cores); devices "
          f"{[d.device_type for d in tf.config.list_logical_devices()]}; augmentation "
          f"{augmentation.as_dict() if augmentation else 'none'}")
    print(f"1. training, real input pipeline : {fed:9.1f} samples/s "
          f"({fed / memory:.2f} x ceiling; target >= 0.9)")
    print(f"2. training, in-memory tensors   : {memory:9.1f} samples/s (model-bound ceiling)")
    print(f"3. input pipeline alone          : {pipe_alone:9.1f} samples/s "
          f"({pipe_alone / memory:.1f} x training; target >= 5)"
          + (f"; from the track cache ({a.cache_mb:g} MB)" if pool.cached else "; no cache"))
    print(f"   input pipeline within an epoch  : {steady:9.1f} samples/s "
          f"({steady / memory:.1f} x training), plus {1000 * np.mean(setup_seconds):.0f} ms "
          f"per epoch to build and start it")
    print(f"   input pipeline, every window read from disk (first epoch, or a split larger "
          f"than the cache): {pipe_uncached:.1f} samples/s ({pipe_uncached / memory:.1f} x)")
    pool.close()
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
