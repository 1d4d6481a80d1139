"""Spectrogram augmentation in the tf.data pipeline: what each does, seeded, refused when unsafe."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from krotos.shards.writer import ShardWriter  # noqa: E402
from krotos.model import data  # noqa: E402
from krotos.model.augment import Augmentation, augment_batch  # noqa: E402
from krotos.model.params import TrainingParams  # noqa: E402

B, T, F = 6, 40, 16
SEED = tf.constant([3, 7], tf.int64)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(-40, 5, (B, T, F)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(B) % 3]             # one tag per window
    return tf.constant(x), tf.constant(y), tf.ones([B])


def _run(aug, seed=SEED, fill=None, batch=None):
    x, y, w = batch or _batch()
    out = augment_batch(x, y, w, seed, aug, np.zeros(F) if fill is None else fill)
    return [v.numpy() for v in out]


def test_each_augmentation_changes_only_what_it_should():
    x, y, w = [v.numpy() for v in _batch()]
    gx, gy, _ = _run(Augmentation(gain_db=6))
    offset = gx - x
    assert np.allclose(offset, offset[:, :1, :1], atol=1e-4)            # one gain per window
    assert np.all(np.abs(offset) <= 6 + 1e-4) and np.array_equal(gy, y)
    sx, _, _ = _run(Augmentation(time_shift=5))
    for i in range(B):
        assert any(np.array_equal(sx[i], np.roll(x[i], k, axis=0)) for k in range(-5, 6))
    fill = np.arange(F, dtype=np.float32) * 100
    mx, _, _ = _run(Augmentation(time_masks=2, time_mask_frames=6, freq_masks=1,
                                 freq_mask_bands=3), fill=fill)
    changed = mx != x
    assert np.all(mx[changed] == np.broadcast_to(fill, mx.shape)[changed])  # masks hold the fill
    assert changed.any() and not changed.all()


def test_mixup_mixes_windows_and_labels_alike():
    x, y, _ = [v.numpy() for v in _batch()]
    w = tf.constant([1, 1, 1, 1, 1, 0], tf.float32)
    mx, my, mw = _run(Augmentation(mixup=1.0), batch=(tf.constant(x), tf.constant(y), w))
    assert np.allclose(my.sum(axis=1), 1.0)                            # convex combinations
    assert np.all((my >= 0) & (my <= 1))
    # Each window is lam * itself + (1 - lam) * a partner; weights multiply, so
    # a window mixed with a NaN/inf one (weight 0) is left out too.
    assert set(np.unique(mw)) <= {0.0, 1.0} and mw[5] == 0
    assert not np.allclose(mx, x)


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    aug = Augmentation(gain_db=3, time_shift=4, time_masks=1, time_mask_frames=5, freq_masks=1,
                       freq_mask_bands=4, mixup=0.3)
    a, b = _run(aug), _run(aug)
    c = _run(aug, seed=tf.constant([3, 8], tf.int64))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert all(np.all(np.isfinite(v)) for v in a)


def test_tiny_mixup_alpha_never_gives_nan():
    # Beta(alpha, alpha) from two Gamma draws: both underflow to 0 for tiny alpha.
    x, y, w = _run(Augmentation(mixup=1e-4))
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.isfinite(w))


@pytest.mark.parametrize("aug, batch, message", [
    (Augmentation(time_masks=1, time_mask_frames=40), 8,
     r"time masks wider than the input: 1 x time_mask_frames=40 frames could cover the whole "
     r"40-frame window"),
    (Augmentation(time_masks=3, time_mask_frames=14), 8, "time masks wider than the input"),
    (Augmentation(freq_masks=2, freq_mask_bands=8), 8,
     "frequency masks wider than the input: 2 x freq_mask_bands=8 bands could cover all 16"),
    (Augmentation(mixup=0.2), 1, r"mixup needs batches of at least 2 windows to mix \(batch_size=1\)"),
    (Augmentation(gain_db=float("nan")), 8, "gain_db=nan: must be a finite number >= 0"),
    (Augmentation(mixup=-1), 8, "mixup=-1: must be a finite number >= 0"),
    (Augmentation(time_shift=40), 8, "time_shift=40 frames is not shorter than the 40-frame"),
    (Augmentation(time_masks=1.5, time_mask_frames=2), 8, "time_masks=1.5: must be an integer"),
])
def test_augmentation_that_would_produce_nan_or_erase_the_input_is_refused(aug, batch, message):
    with pytest.raises(ValueError, match=message):
        aug.check(T, F, batch)


def test_unknown_settings_are_refused():
    assert not Augmentation.from_dict(None).active
    assert Augmentation.from_dict({"mixup": 0.2}).active
    with pytest.raises(ValueError, match=r"unknown augmentation settings \['specaug'\]"):
        Augmentation.from_dict({"specaug": 1})


def test_training_dataset_augments_each_epoch_reproducibly(tmp_path):
    rng = np.random.default_rng(0)
    path = str(tmp_path / "s.h5")
    with ShardWriter(path, F, attrs={"n_mels": F}) as writer:
        for i in range(10):
            writer.append(f"TRAUG{i:03d}", rng.normal(-40, 5, (60, F)).astype(np.float32))
    index = data.index_tracks([path])
    targets = {t: np.array([i % 2, 1 - i % 2], np.float32) for i, t in enumerate(index.track_ids)}
    aug = Augmentation(gain_db=3, time_masks=1, time_mask_frames=5, mixup=0.4)

    def epoch(e, augmentation=aug):
        params = TrainingParams(batch_size=4, seed=1, crops_per_track=1,
                                augmentation=augmentation or Augmentation())
        return [tuple(v.numpy() for v in batch) for batch in data.training_dataset(
            index, targets, 32, params, epoch=e)]

    first, again, second, plain = epoch(0), epoch(0), epoch(1), epoch(0, None)
    assert len(first) == len(plain) == 3
    assert all(np.array_equal(a, b) for p, q in zip(first, again) for a, b in zip(p, q))
    assert not np.array_equal(first[0][0], second[0][0])
    assert not np.array_equal(first[0][0], plain[0][0])
    with pytest.raises(ValueError, match="mixup needs batches of at least 2"):
        data.training_dataset(index, targets, 32,
                              TrainingParams(batch_size=1, crops_per_track=1, augmentation=aug))
