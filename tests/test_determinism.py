"""The same seed and settings train the same model: history and weights, bit for bit.

Two runs in this process, a third in a fresh process (other hash seed, same
intra-op thread count: results depend on it, see ``configure_threads``), and a
run with another seed that must differ.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("keras")

from krotos.shards.writer import ShardWriter  # noqa: E402
from krotos.model.network import load_model  # noqa: E402
from krotos.model.params import TagModelParams, TrainingParams  # noqa: E402
from krotos.model.train import train_tag_model  # noqa: E402

# Trains the same model three times, once in a fresh process.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
N_MELS = 12
VOCAB = ["a", "b", "c"]
#: Dropout and batch normalization on: both draw or keep state while training.
NET = TagModelParams(architecture="dieleman", filters=(8, 8), kernel_size=4, pool_sizes=(2,),
                     dense_units=(16,), dropout=0.3, batch_norm=True)
TRAINING = dict(epochs=3, patience=5, batch_size=8, learning_rate=3e-3, crops_per_track=2)
#: Timings, the only entries of the history that may differ.
TIMING = ("seconds", "samples_per_s")


def write_corpus(folder, n_tracks=40, seed=0):
    """Two shards of random spectrograms; tag k raises bands 4k..4k+3."""
    rng = np.random.default_rng(seed)
    ids = [f"TRDET{i:05d}" for i in range(n_tracks)]
    targets, paths = {}, []
    for s in range(0, n_tracks, n_tracks // 2):
        path = os.path.join(folder, f"shard-{s}.h5")
        with ShardWriter(path, N_MELS, attrs={"n_mels": N_MELS}) as w:
            for tid in ids[s:s + n_tracks // 2]:
                y = (rng.random(len(VOCAB)) < 0.5).astype(np.float32)
                x = rng.normal(-40, 3, (int(rng.integers(30, 50)), N_MELS))
                for k in np.flatnonzero(y):
                    x[:, 4 * k:4 * k + 4] += 2.0
                w.append(tid, x.astype(np.float32))
                targets[tid] = y
        paths.append(path)
    return paths, {"train": ids[:28], "valid": ids[28:]}, targets


def train_once(folder, run, seed):
    """Train from scratch in ``folder/run``; returns (history without timings, weights)."""
    paths, splits, targets = write_corpus(folder)
    out, work = os.path.join(folder, run, "out"), os.path.join(folder, run, "work")
    summary = train_tag_model(paths, splits, targets, VOCAB, out, work, window_frames=24,
                              network=NET, training=TrainingParams(seed=seed, **TRAINING))
    history = [{k: v for k, v in e.items() if k not in TIMING} for e in summary["history"]]
    return history, load_model(os.path.join(out, "model.keras")).get_weights()


# The child is a plain python process, not pytest: no conftest puts tests/ on
# its sys.path, so it inserts the folder itself to import this module.
CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
from krotos.model.train import configure_threads
configure_threads({intra}, {inter})
from test_determinism import train_once
history, _ = train_once({folder!r}, "child", 7)
print(json.dumps(history))
"""


def test_same_seed_same_model_other_seed_another(tmp_path):
    history, weights = train_once(str(tmp_path), "first", 7)
    again, weights_again = train_once(str(tmp_path), "second", 7)
    assert len(history) == TRAINING["epochs"]
    assert again == history
    assert all(np.array_equal(a, b) for a, b in zip(weights, weights_again))

    from tensorflow.python.framework import config

    if hasattr(config, "is_op_determinism_enabled"):
        assert config.is_op_determinism_enabled()

    # A fresh process: nothing carried over in TensorFlow, Keras or Python state.
    code = CHILD.format(tests=str(REPO / "tests"), folder=str(tmp_path),
                        intra=tf.config.threading.get_intra_op_parallelism_threads(),
                        inter=tf.config.threading.get_inter_op_parallelism_threads())
    env = dict(os.environ, PYTHONHASHSEED="12345", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == history
    child = load_model(str(tmp_path / "child" / "out" / "model.keras")).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(weights, child))

    _, other = train_once(str(tmp_path), "other-seed", 8)
    assert not all(np.array_equal(a, b) for a, b in zip(weights, other))
