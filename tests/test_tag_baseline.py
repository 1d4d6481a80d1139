"""The bag-of-frames tag baseline on tiny synthetic shards with a planted band-mean signal."""

import numpy as np
import pytest

from krotos.shards.writer import ShardWriter
from krotos.model.scores import roc_auc_macro
from krotos.model.tag_baseline import fit_tag_baseline, tag_baseline_scores

N_MELS = 12
# "loud-3": band 3 is louder on average; "never" and "always" cannot be learned;
# "noise" is unrelated to the audio.
VOCAB = ["loud-3", "never", "always", "noise"]


def planted(n_tracks=120, seed=0):
    rng = np.random.default_rng(seed)
    specs, targets = {}, {}
    for i in range(n_tracks):
        tid = f"TRBASE{i:05d}"
        y = np.array([rng.random() < 0.4, 0, 1, rng.random() < 0.5], dtype=np.float32)
        x = rng.normal(-40, 4, (int(rng.integers(30, 60)), N_MELS))
        x[:, 3] += 3.0 * y[0]
        specs[tid], targets[tid] = x.astype(np.float32), y
    return specs, targets


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baseline")
    specs, targets = planted()
    ids = sorted(specs)
    paths = []
    for s in range(0, len(ids), 50):
        path = str(folder / f"shard-{s // 50}.h5")
        with ShardWriter(path, N_MELS, attrs={"n_mels": N_MELS}) as w:
            for tid in ids[s:s + 50]:
                w.append(tid, specs[tid])
        paths.append(path)
    splits = {"train": ids[:60], "valid": ids[60:90], "test": ids[90:]}
    return paths, splits, targets


def test_learns_band_mean_tag_and_scores_degenerate_tags_constant(corpus):
    paths, splits, targets = corpus
    # Skipped: a test track without a spectrogram, another without a tag vector.
    splits = dict(splits, test=splits["test"] + ["TRNOSPECTROGRAM"])
    targets = {t: v for t, v in targets.items() if t != "TRBASE00119"}
    targets["TRNOSPECTROGRAM"] = np.ones(len(VOCAB), np.float32)
    test_ids, scores, info = tag_baseline_scores(paths, splits, targets)
    assert test_ids == [t for t in splits["test"] if t.startswith("TRBASE") and t != "TRBASE00119"]
    assert scores.shape == (len(test_ids), len(VOCAB))
    assert info["n_train"] == 60 and info["n_valid"] == 30 and info["n_test"] == 29
    assert info["C"] in info["valid_roc_auc_by_C"]
    assert set(info["valid_roc_auc_by_C"]) == {0.01, 0.1, 1.0, 10.0}
    assert info["valid_roc_auc_by_C"][info["C"]] == max(info["valid_roc_auc_by_C"].values())
    assert info["constant_tags"] == [1, 2]
    assert np.all(scores[:, 1] == 0.0) and np.all(scores[:, 2] == 1.0)
    y = np.stack([targets[t] for t in test_ids])
    assert roc_auc_macro(y[:, :1], scores[:, :1]) > 0.85
    assert np.all((scores >= 0) & (scores <= 1))


def test_regularization_is_chosen_on_valid_never_on_test(corpus):
    paths, splits, targets = corpus
    _, _, info = tag_baseline_scores(paths, splits, targets)
    # Another test set, and test labels flipped: nothing the choice may depend on.
    flipped = {t: (1 - v if t in splits["test"] else v) for t, v in targets.items()}
    _, _, other = tag_baseline_scores(paths, dict(splits, test=splits["test"][:7]), flipped)
    assert other["C"] == info["C"]
    assert other["valid_roc_auc_by_C"] == info["valid_roc_auc_by_C"]
    # The validation set, on the other hand, decides.
    specs, _ = planted()
    x = np.stack([np.concatenate([specs[t].mean(0), specs[t].std(0)]) for t in sorted(specs)])
    y = np.stack([targets[t] for t in sorted(specs)])
    model = fit_tag_baseline(x[:60], y[:60], x[60:90], y[60:90], Cs=(1e-4, 1.0))
    assert set(model.valid_scores_) == {1e-4, 1.0}
    assert model.valid_scores_[model.C_] == max(model.valid_scores_.values())
    assert model.predict_scores(x[90:]).shape == (30, len(VOCAB))


def test_degenerate_inputs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 4))
    y = np.zeros((20, 2))
    y[::2, 0] = 1
    # Only one tag can be scored on valid, the other has no positive anywhere.
    model = fit_tag_baseline(x[:10], y[:10], x[10:], y[10:], Cs=(1.0,))
    assert model.C_ == 1.0 and model.constant_tags_ == [1]
    assert np.all(model.predict_scores(x)[:, 1] == 0.0)
    with pytest.raises(ValueError, match="validation"):
        fit_tag_baseline(x[:10], y[:10], x[10:], np.zeros((10, 2)))
    with pytest.raises(ValueError, match="training and validation"):
        fit_tag_baseline(x[:0], y[:0], x[10:], y[10:])
    # A constant feature (a silent band) does not break the standardization.
    x[:, 2] = 5.0
    assert np.all(np.isfinite(fit_tag_baseline(x[:10], y[:10], x[10:], y[10:])
                              .predict_scores(x)))
