"""The tag CNN's input pipeline, network and metrics, on tiny real HDF5 shards."""

import dataclasses

import h5py
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from krotos.shards.writer import ShardWriter  # noqa: E402
from krotos.model import data, evaluate, network  # noqa: E402
from krotos.model.params import DIELEMAN, TrainingParams  # noqa: E402

N_MELS = 16


def net(**sizes):
    """Dieleman's network with ``sizes`` changed (small ones: the tests are quick)."""
    return dataclasses.replace(DIELEMAN, **sizes)


def write_shards(folder, lengths, n_mels=N_MELS, per_shard=20, seed=0, fill=None):
    """Shards of random spectrograms; returns (paths, track_ids, {track_id: frames})."""
    rng = np.random.default_rng(seed)
    ids = [f"TR{i:05d}" for i in range(len(lengths))]
    frames, paths = {}, []
    for s in range(0, len(ids), per_shard):
        path = str(folder / f"shard-{s // per_shard:03d}.h5")
        with ShardWriter(path, n_mels, dtype="float32", attrs={"n_mels": n_mels}) as w:
            for i in range(s, min(s + per_shard, len(ids))):
                x = (fill(i, lengths[i]) if fill else
                     rng.normal(-40, 5, (lengths[i], n_mels))).astype(np.float32)
                w.append(ids[i], x)
                frames[ids[i]] = x
        paths.append(path)
    return paths, ids, frames


def poison(path, track_position, frame=1):
    """Put a NaN into a written shard (ShardWriter itself refuses them)."""
    with h5py.File(path, "r+") as f:
        start = f["offsets"][track_position]
        f["frames"][start + frame, 3] = np.nan


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    lengths = [50 + 7 * i for i in range(30)] + [12]      # the last one shorter than a window
    return write_shards(folder, lengths, per_shard=10)


# --- index ---------------------------------------------------------------------------------

def test_index_locates_tracks_and_records_missing(shards):
    paths, ids, frames = shards
    index = data.index_tracks(paths, [ids[3], "TRNOPE", ids[25]])
    assert index.track_ids == [ids[3], ids[25]]
    assert index.n_frames.tolist() == [len(frames[ids[3]]), len(frames[ids[25]])]
    assert index.shard.tolist() == [0, 2] and index.position.tolist() == [3, 5]
    assert index.skipped == {"TRNOPE": "not in any spectrogram shard"}
    assert len(data.index_tracks(paths)) == len(ids)


def test_index_rejects_shard_with_other_band_count(shards, tmp_path):
    paths, _, _ = shards
    other, _, _ = write_shards(tmp_path, [40, 40], n_mels=8)
    with pytest.raises(ValueError,
                       match=r"shard-000\.h5: spectrograms have 8 mel bands, expected 16"):
        data.index_tracks(paths + other)
    with pytest.raises(ValueError, match="expected 32"):
        data.index_tracks(paths, n_mels=32)


# --- statistics ----------------------------------------------------------------------------

def test_band_statistics_match_numpy_and_skip_nan_track(tmp_path):
    paths, ids, frames = write_shards(tmp_path, [30, 40, 50, 60], per_shard=2)
    poison(paths[1], 0)                                   # ids[2]
    mean, std, bad = data.band_statistics(data.index_tracks(paths))
    clean = np.concatenate([frames[t] for t in ids if t != ids[2]]).astype(np.float64)
    assert bad == [ids[2]]
    np.testing.assert_allclose(mean, clean.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(std, clean.std(axis=0), rtol=1e-6)


def test_band_statistics_refuse_empty_split(shards):
    paths, _, _ = shards
    with pytest.raises(ValueError, match="empty split"):
        data.band_statistics(data.index_tracks(paths, []))


# --- plans and datasets --------------------------------------------------------------------

def test_epoch_plan_is_seeded_complete_and_in_range(shards):
    paths, _, _ = shards
    index = data.index_tracks(paths)
    rows, starts = data.epoch_plan(index, 32, seed=1, epoch=0, crops_per_track=3,
                                   shards_per_block=2)
    again = data.epoch_plan(index, 32, seed=1, epoch=0, crops_per_track=3, shards_per_block=2)
    other = data.epoch_plan(index, 32, seed=1, epoch=1, crops_per_track=3, shards_per_block=2)
    assert np.array_equal(rows, again[0]) and np.array_equal(starts, again[1])
    assert not np.array_equal(rows, other[0])
    assert np.bincount(rows, minlength=len(index)).tolist() == [3] * len(index)
    assert np.all(starts >= 0) and np.all(starts <= np.maximum(index.n_frames[rows] - 32, 0))
    # Blocks of two shards: the first 3 * 20 entries come from exactly two shards.
    assert len(set(index.shard[rows[:60]].tolist())) == 2


@pytest.mark.parametrize("cache_bytes", [0, 2 ** 24])
def test_training_dataset_yields_crops_with_their_targets(shards, cache_bytes):
    paths, ids, frames = shards
    index = data.index_tracks(paths)
    targets = {t: np.array([i, -i], np.float32) for i, t in enumerate(ids)}
    pool = data.ShardReaderPool(index, cache_bytes=cache_bytes)
    assert pool.cached == bool(cache_bytes)
    ds = data.training_dataset(index, targets, 32, TrainingParams(batch_size=8, seed=3,
                                                                  crops_per_track=1),
                               epoch=2, weights={ids[0]: 0.5}, pool=pool)
    rows, starts = data.epoch_plan(index, 32, seed=3, epoch=2)
    seen = 0
    for x, y, w in ds:
        assert x.shape[1:] == (32, N_MELS)
        for k in range(x.shape[0]):
            row, start = rows[seen], starts[seen]
            tid = index.track_ids[row]
            expected = np.resize(frames[tid][start:start + 32], (32, N_MELS))
            np.testing.assert_array_equal(x[k].numpy(), expected)
            assert y[k].numpy().tolist() == [row, -row]
            assert w[k].numpy() == (0.5 if tid == ids[0] else 1.0)
            seen += 1
    assert seen == len(index)


@pytest.mark.parametrize("cache_bytes", [0, 2 ** 24])
def test_nan_window_gets_zero_weight_and_is_counted(tmp_path, cache_bytes):
    paths, ids, _ = write_shards(tmp_path, [20, 20, 20], per_shard=3,
                                 fill=lambda i, n: np.full((n, N_MELS), float(i)))
    poison(paths[0], 1, frame=0)
    index = data.index_tracks(paths)
    pool = data.ShardReaderPool(index, cache_bytes=cache_bytes)
    ds = data.training_dataset(index, {t: [1.0] for t in ids}, 20,
                               TrainingParams(batch_size=3, crops_per_track=1, seed=0), pool=pool)
    x, y, w = next(iter(ds))
    rows, _ = data.epoch_plan(index, 20)
    bad = list(rows).index(1)
    assert w.numpy()[bad] == 0 and np.all(np.delete(w.numpy(), bad) == 1)
    assert np.all(np.isfinite(x.numpy()))
    assert pool.bad_windows == 1 and pool.bad_tracks == {ids[1]}


def test_training_dataset_refuses_empty_split_and_missing_targets(shards):
    paths, ids, _ = shards
    with pytest.raises(ValueError, match="training split is empty"):
        data.training_dataset(data.index_tracks(paths, []), {}, 32, TrainingParams(batch_size=8))
    with pytest.raises(KeyError, match="have no target"):
        data.training_dataset(data.index_tracks(paths, ids[:3]), {ids[0]: [1]}, 32,
                              TrainingParams(batch_size=8))


def test_cache_is_used_only_when_the_split_fits(shards):
    paths, _, _ = shards
    index = data.index_tracks(paths)
    size = int(index.n_frames.sum()) * N_MELS * 4            # write_shards stores float32
    assert data.ShardReaderPool(index, cache_bytes=size).cached
    assert not data.ShardReaderPool(index, cache_bytes=size - 1).cached


def test_all_finite_catches_float16_nan_and_inf():
    for bad in (np.nan, np.inf, -np.inf):
        assert not data.all_finite(np.array([1.0, bad], np.float16))
    assert data.all_finite(np.array([65504.0, -65504.0, 0.0, 6e-8], np.float16))


def test_window_plan_covers_every_clip():
    index = data.TrackIndex(["x.h5"], ["a", "b", "c"], np.zeros(3, np.int64),
                            np.arange(3), np.array([100, 20, 64]), N_MELS)
    rows, starts = data.window_plan(index, 32)
    assert list(zip(rows.tolist(), starts.tolist())) == [
        (0, 0), (0, 32), (0, 64), (0, 68), (1, 0), (2, 0), (2, 32)]
    rows, starts = data.window_plan(index, 32, hop_frames=16, max_windows=2)
    assert starts[rows == 0].tolist() == [0, 68]


# --- network -------------------------------------------------------------------------------

def test_dieleman_preset_is_dielemans_design():
    model = network.build_tag_model(128, 130, 50, DIELEMAN)
    convs = [model.get_layer(f"conv{i}") for i in range(1, 5)]
    assert [c.filters for c in convs] == [256, 256, 512, 512]
    assert {c.kernel_size for c in convs} == {(4,)}
    assert [model.get_layer(f"pool{i}").pool_size for i in range(1, 4)] == [(4,), (2,), (2,)]
    assert model.get_layer("global_pool").output.shape[-1] == 3 * 512
    assert [model.get_layer(f"dense{i}").units for i in (1, 2)] == [2048, 2048]
    assert model.get_layer("dropout1").rate == 0.5
    assert model.output.shape[-1] == 50
    assert model.get_layer("output").activation.__name__ == "sigmoid"


def test_network_options_and_too_short_window():
    model = network.build_tag_model(N_MELS, 40, 3, net(filters=(8, 8), pool_sizes=(2,),
                                                       dense_units=(), batch_norm=True,
                                                       padding="valid"))
    assert "conv1_bn" in [layer.name for layer in model.layers]
    assert network.conv_layer_names(model) == ["conv1", "conv1_bn", "conv2", "conv2_bn"]
    with pytest.raises(ValueError, match="window_frames=12 is too short"):
        network.build_tag_model(N_MELS, 12, 3, net(filters=(8, 8, 8), pool_sizes=(2, 2),
                                                   padding="valid"))
    with pytest.raises(ValueError, match=r"pool_sizes needs len\(filters\) - 1 = 1 values, got 2"):
        network.build_tag_model(N_MELS, 40, 3, net(filters=(8, 8), pool_sizes=(2, 2)))


def test_model_standardizes_and_round_trips_through_keras_file(tmp_path):
    rng = np.random.default_rng(0)
    mean, std = rng.normal(-40, 3, N_MELS), rng.uniform(2, 6, N_MELS)
    model = network.build_tag_model(N_MELS, 24, 4, net(filters=(8, 8), pool_sizes=(2,),
                                                       dense_units=(16,)),
                                    norm_mean=mean, norm_std=std)
    x = rng.normal(-40, 5, (3, 24, N_MELS)).astype(np.float32)
    standardized = keras.Model(model.inputs, model.get_layer("standardize").output)
    np.testing.assert_allclose(standardized(x).numpy(), (x - mean) / std, rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "m.keras")
    loaded = network.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_replace_output_keeps_trained_layers():
    model = network.build_tag_model(N_MELS, 24, 4, net(filters=(8,), pool_sizes=(),
                                                       dense_units=(16,)))
    latent = network.replace_output(model, 7)
    assert latent.output.shape[-1] == 7
    assert latent.get_layer("output").activation.__name__ == "linear"
    assert latent.get_layer("conv1") is model.get_layer("conv1")
    # The fresh head starts at zero (a linear probe of the embedding), so its
    # first errors cannot push the hidden ReLUs dead (issue 14).
    np.testing.assert_array_equal(latent.get_layer("output").kernel.numpy(), 0.0)
    x = np.random.default_rng(0).normal(size=(2, 24, N_MELS)).astype(np.float32)
    np.testing.assert_array_equal(latent(x).numpy(), 0.0)


def test_global_pooling_statistics():
    x = np.array([[[1.0, -2.0], [3.0, 2.0]]], np.float32)          # (1, time 2, channels 2)
    out = network.GlobalTemporalPooling(("mean", "max", "l2"))(x).numpy()
    np.testing.assert_allclose(out[0], [2, 0, 3, 2, np.sqrt(5), 2], rtol=1e-5)
    with pytest.raises(ValueError, match="subset"):
        network.GlobalTemporalPooling(("median",))


# --- evaluation ----------------------------------------------------------------------------

def _mean_model(window, n_mels):
    """A model whose output is the window's mean (per band, then averaged): checkable."""
    inputs = keras.Input((window, n_mels))
    out = keras.layers.GlobalAveragePooling1D()(inputs)
    out = keras.layers.Lambda(lambda v: keras.ops.mean(v, axis=-1, keepdims=True))(out)
    return keras.Model(inputs, out)


def test_predict_clips_is_the_mean_over_windows(tmp_path):
    paths, ids, frames = write_shards(tmp_path, [100, 20, 64], per_shard=3)
    poison(paths[0], 2, frame=40)                       # ids[2]: second window is bad
    index = data.index_tracks(paths)
    scores, ok = evaluate.predict_clips(_mean_model(32, N_MELS), index, batch_size=2)
    expected0 = np.mean([frames[ids[0]][s:s + 32].mean() for s in (0, 32, 64, 68)])
    expected1 = np.resize(frames[ids[1]], (32, N_MELS)).mean()
    expected2 = frames[ids[2]][0:32].mean()            # the NaN window is left out
    np.testing.assert_allclose(scores[:, 0], [expected0, expected1, expected2], rtol=1e-5)
    assert ok.tolist() == [True, True, True]


def test_predict_clips_refuses_other_band_count(shards):
    paths, _, _ = shards
    with pytest.raises(ValueError, match="expects 8 mel bands"):
        evaluate.predict_clips(_mean_model(32, 8), data.index_tracks(paths))


def test_tag_metrics_report_unscorable_tags_instead_of_nan():
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    s = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.4], [0.4, 0.2, 0.1], [0.6, 0.0, 0.2]])
    m = evaluate.tag_metrics(y, s, ["rock", "jazz", "pop"])
    assert m["per_tag"]["jazz"] == {"roc_auc": None, "pr_auc": None, "positives": 0,
                                    "status": "no_positive"}
    assert m["per_tag"]["pop"]["status"] == "no_negative"
    assert m["tags_not_scored"] == {"jazz": "no_positive", "pop": "no_negative"}
    assert m["roc_auc_macro"] == pytest.approx(roc_auc_score(y[:, 0], s[:, 0]))
    assert m["pr_auc_macro"] == pytest.approx(average_precision_score(y[:, 0], s[:, 0]))
    assert m["n_tags_scored"] == 1 and m["per_tag"]["rock"]["positives"] == 2
    assert evaluate.tag_metrics(y[:, 1:2], s[:, 1:2], ["jazz"])["roc_auc_macro"] is None
    assert np.isnan(evaluate.roc_auc_macro(y[:, 1:], s[:, 1:]))
