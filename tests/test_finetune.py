"""Fine-tuning the tag CNN to predict latent factors (tiny shards, real training)."""

import dataclasses
import json

import numpy as np
import pytest
import scipy.sparse as sp

keras = pytest.importorskip("keras")

from krotos.shards.writer import ShardWriter  # noqa: E402
from krotos.coldstart.vectors import read_latents, unit_normalize  # noqa: E402
from krotos.model.finetune import (  # noqa: E402
    finetune_latents, mean_cosine, predict_latents, wpe_loss, wpe_targets)
from krotos.model.network import build_tag_model, conv_layer_names, load_model  # noqa: E402
from krotos.model.params import DIELEMAN, FinetuneParams, TagModelParams  # noqa: E402

# Real training of the tag CNN on tiny shards, in most tests.
pytestmark = pytest.mark.slow

N_MELS = 12
N_FACTORS = 4


def tuning(**settings):
    """:class:`FinetuneParams` of these small tests (slower and shorter than luigi.cfg's)."""
    return FinetuneParams(**dict(dict(epochs=30, learning_rate=5e-4, patience=5,
                                      crops_per_track=2), **settings))


def _planted(n_tracks=64, seed=0):
    """Spectrograms whose band-group pulses decide both tags and latent factors."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(3, N_FACTORS))
    specs, factors = {}, {}
    for i in range(n_tracks):
        tid = f"TRLAT{i:05d}"
        n = int(rng.integers(40, 80))
        x = rng.normal(-40, 2, (n, N_MELS))
        y = (rng.random(3) < 0.5).astype(float)
        pulse = (np.arange(n) % 4 < 2)[:, None] * 6.0
        for k in range(3):
            if y[k]:
                x[:, 4 * k:4 * k + 4] += pulse
        specs[tid] = x.astype(np.float32)
        factors[tid] = (y - 0.5) @ mixing + rng.normal(0, 0.05, N_FACTORS)
    return specs, factors


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("latents")
    specs, factors = _planted()
    ids = sorted(specs)
    path = str(folder / "shard-0.h5")
    with ShardWriter(path, N_MELS, attrs={"n_mels": N_MELS}) as w:
        for tid in ids:
            w.append(tid, specs[tid])
    frames = np.concatenate([specs[t] for t in ids])
    keras.utils.set_random_seed(0)
    tag_model = build_tag_model(N_MELS, 24, 3,
                                dataclasses.replace(DIELEMAN, filters=(8, 8), pool_sizes=(2,),
                                                    dense_units=(16,), dropout=0.0),
                                norm_mean=frames.mean(axis=0), norm_std=frames.std(axis=0))
    model_path = str(folder / "tag_model.keras")
    tag_model.save(model_path)
    return [path], ids, factors, model_path


def test_wpe_target_is_the_als_objective_up_to_a_constant():
    rng = np.random.default_rng(1)
    n_users, f = 30, 3
    x = rng.normal(size=(n_users, f))
    plays = sp.random(n_users, 2, density=0.4, random_state=2, format="csr",
                      data_rvs=lambda n: rng.integers(1, 9, n).astype(float))
    confidence = lambda c: 1.0 + 2.0 * np.log1p(c)  # noqa: E731
    reg = 0.5
    # The ALS solution for each song, then the direct objective at two points.
    c_dense = np.where(plays.toarray() > 0, confidence(plays.toarray()), 1.0)
    p = (plays.toarray() > 0).astype(float)
    y_star = np.stack([np.linalg.solve(x.T @ (c_dense[:, i, None] * x) + reg * np.eye(f),
                                       x.T @ (c_dense[:, i] * p[:, i])) for i in range(2)])
    targets = wpe_targets(y_star, x, plays, confidence, reg)
    assert targets.shape == (2, f + f * f)

    def objective(i, y):
        return np.sum(c_dense[:, i] * (p[:, i] - x @ y) ** 2) + reg * y @ y

    loss = wpe_loss(f)
    for i in range(2):
        a, b = rng.normal(size=f), rng.normal(size=f)
        direct = objective(i, a) - objective(i, b)
        batch = np.stack([targets[i], targets[i]]).astype(np.float32)
        via_loss = np.asarray(loss(batch, np.stack([a, b]).astype(np.float32)))
        scale = via_loss[0] - via_loss[1]
        # Same objective up to the one global scale that keeps losses near 1.
        ratio = scale / direct
        assert ratio > 0
        c, d = rng.normal(size=f), rng.normal(size=f)
        via2 = np.asarray(loss(batch, np.stack([c, d]).astype(np.float32)))
        assert via2[0] - via2[1] == pytest.approx(ratio * (objective(i, c) - objective(i, d)),
                                                  rel=1e-3, abs=1e-4)


def test_finetune_learns_factors_and_predicts_unseen_songs(corpus, tmp_path):
    paths, ids, factors, model_path = corpus
    targets = {t: v for t, v in zip(ids, unit_normalize(np.stack([factors[t] for t in ids])))}
    held_out = ids[48:]  # like cold-start songs: never trained or validated on
    splits = {"train": ids[:40], "valid": ids[40:48]}
    messages = []
    summary = finetune_latents(
        model_path, paths, splits, {t: targets[t] for t in ids[:48]}, N_FACTORS,
        str(tmp_path / "out"), str(tmp_path / "work"),
        params=tuning(epochs=25, patience=25, freeze_epochs=1, batch_size=8, learning_rate=3e-3,
                      crops_per_track=2, seed=3),
        progress=lambda f, m=None: messages.append(m))
    assert summary["best_metric"] > 0.8
    assert summary["history"][0]["frozen"] and not summary["history"][-1]["frozen"]
    assert json.loads((tmp_path / "out" / "training.json").read_text())["objective"] == "mse"

    out = str(tmp_path / "predicted.h5")
    counts = predict_latents(str(tmp_path / "out" / "model.keras"), paths, out)
    assert counts == {"n_tracks": len(ids), "n_failed": 0}
    pred_ids, pred = read_latents(out)
    row = {t: i for i, t in enumerate(pred_ids)}
    truth = np.stack([targets[t] for t in held_out])
    guess = pred[[row[t] for t in held_out]]
    assert mean_cosine(N_FACTORS)(truth, guess) > 0.7


def test_frozen_epochs_keep_the_convolutions(corpus, tmp_path):
    paths, ids, factors, model_path = corpus
    targets = {t: v for t, v in zip(ids, unit_normalize(np.stack([factors[t] for t in ids])))}
    finetune_latents(model_path, paths, {"train": ids[:40], "valid": ids[40:48]}, targets,
                     N_FACTORS, str(tmp_path / "out"), str(tmp_path / "work"),
                     params=tuning(epochs=1, freeze_epochs=1, batch_size=8, seed=0))
    before = load_model(model_path)
    after = load_model(str(tmp_path / "out" / "model.keras"))
    for name in conv_layer_names(before):
        for w0, w1 in zip(before.get_layer(name).get_weights(),
                          after.get_layer(name).get_weights()):
            np.testing.assert_array_equal(w0, w1)
    assert after.outputs[0].shape[-1] == N_FACTORS


def test_wpe_objective_trains(corpus, tmp_path):
    paths, ids, factors, model_path = corpus
    rng = np.random.default_rng(0)
    y_star = np.stack([factors[t] for t in ids])
    users = rng.normal(size=(20, N_FACTORS))
    plays = sp.csr_matrix((users @ y_star.T > 0.5).astype(float))
    rows = wpe_targets(y_star, users, plays, lambda c: 1.0 + c, 0.1)
    summary = finetune_latents(model_path, paths, {"train": ids[:40], "valid": ids[40:48]},
                               dict(zip(ids, rows)), N_FACTORS, str(tmp_path / "out"),
                               str(tmp_path / "work"),
                               params=tuning(objective="wpe", epochs=3, freeze_epochs=0,
                                             batch_size=8, seed=0))
    assert np.isfinite(summary["history"][-1]["loss"])


def test_empty_split_is_a_clear_error(corpus, tmp_path):
    paths, ids, factors, model_path = corpus
    with pytest.raises(ValueError, match="'valid' split"):
        finetune_latents(model_path, paths, {"train": ids, "valid": []}, factors, N_FACTORS,
                         str(tmp_path / "o"), str(tmp_path / "w"), params=tuning())


def test_starts_from_any_tag_model_with_the_same_features(corpus, tmp_path):
    """A short-chunk model with another vocabulary, 'trained elsewhere' (its own folder)."""
    paths, ids, factors, _ = corpus
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    keras.utils.set_random_seed(1)
    other = build_tag_model(N_MELS, 24, 7, TagModelParams(
        architecture="shortchunk", filters=(4, 8), kernel_size=3, pool_sizes=(2, 2),
        dense_units=(8,), dropout=0.5, batch_norm=False))
    other.save(elsewhere / "model.keras")
    features = {"sample_rate": 22050, "hop_length": 512, "n_fft": 1024, "n_mels": N_MELS}
    (elsewhere / "features.json").write_text(json.dumps(features))
    targets = {t: v for t, v in zip(ids, unit_normalize(np.stack([factors[t] for t in ids])))}
    splits = {"train": ids[:40], "valid": ids[40:48]}
    with pytest.raises(ValueError, match=r"other input features .* \(hop_length: model 512, "
                                         r"data 256\)"):
        finetune_latents(str(elsewhere), paths, splits, targets, N_FACTORS,
                         str(tmp_path / "o"), str(tmp_path / "w"),
                         features=dict(features, hop_length=256))
    assert not (tmp_path / "w").exists()                      # refused before any training
    summary = finetune_latents(str(elsewhere), paths, splits, targets, N_FACTORS,
                               str(tmp_path / "out"), str(tmp_path / "work"),
                               params=tuning(epochs=2, freeze_epochs=1, batch_size=8, seed=0),
                               features=features)
    # Named by its last components, never by an absolute path (the data root may move).
    assert summary["tag_model"] == "/".join((elsewhere / "model.keras").parts[-3:])
    tuned = load_model(str(tmp_path / "out" / "model.keras"))
    assert tuned.outputs[0].shape[-1] == N_FACTORS
    assert isinstance(tuned.get_layer("conv1"), keras.layers.Conv2D)
