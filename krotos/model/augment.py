"""Spectrogram augmentation of training batches: settings, their checks, and the TF ops.

:class:`Augmentation` imports no TensorFlow, so that a Luigi task can refuse
unsafe settings when it is configured, before anything runs; the full check
(against the window and the mel bands) runs again when training is set up,
before any spectrogram is read. :func:`augment_batch` is what the tf.data
pipeline of :mod:`krotos.model.data` applies to every training batch.
"""

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class Augmentation:
    """Spectrogram augmentation of the training windows (all off by default).

    Each window of a batch draws its own values. Masked regions take the
    per-band mean of the training split (``fill``), which the model's
    standardization maps to zero, so a mask never adds energy.

    Attributes
    ----------
    gain_db : float
        Random gain: a uniform offset in ``[-gain_db, gain_db]`` dB added to
        every bin of the window (log-mel frames are in dB). 0: off.
    time_shift : int
        Circular shift of the window by a uniform number of frames in
        ``[-time_shift, time_shift]`` (on top of the random crop). 0: off.
    time_masks, time_mask_frames : int
        SpecAugment time masking (Park et al. 2019): ``time_masks`` masks, each
        of a uniform width in ``[0, time_mask_frames]`` frames.
    freq_masks, freq_mask_bands : int
        SpecAugment frequency masking: ``freq_masks`` masks of up to
        ``freq_mask_bands`` mel bands.
    mixup : float
        Mixup (Zhang et al. 2018): alpha of the Beta(alpha, alpha) mixing
        weight; each window is mixed with another window of its batch, and so
        are their labels. 0: off.
    """

    gain_db: float = 0.0
    time_shift: int = 0
    time_masks: int = 0
    time_mask_frames: int = 0
    freq_masks: int = 0
    freq_mask_bands: int = 0
    mixup: float = 0.0

    @classmethod
    def from_dict(cls, values: dict | None) -> "Augmentation":
        """An Augmentation from a dict (None or {} gives no augmentation); unknown keys raise."""
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown augmentation settings {unknown} (known: {sorted(names)})")
        return cls(**values)

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @property
    def active(self) -> bool:
        """Whether any augmentation is on."""
        return bool(self.gain_db or self.time_shift or (self.time_masks and self.time_mask_frames)
                    or (self.freq_masks and self.freq_mask_bands) or self.mixup)

    def check(self, window_frames: int | None = None, n_mels: int | None = None,
              batch_size: int | None = None) -> "Augmentation":
        """Refuse settings that would produce NaN or mask nothing but the input.

        Called when a task is configured (with what is known then) and again
        when training is set up, before any data is read. A check whose input
        is None is skipped.

        Parameters
        ----------
        window_frames, n_mels, batch_size : int, optional

        Returns
        -------
        Augmentation
            Itself.

        Raises
        ------
        ValueError
            A negative or non-finite setting; a count or width that is not an
            integer; masks that together could cover the whole window
            (``time_masks * time_mask_frames >= window_frames``) or every band
            (``freq_masks * freq_mask_bands >= n_mels``); a shift of a whole
            window or more; mixup with ``batch_size < 2`` (no other window to
            mix with).
        """
        for name, value in self.as_dict().items():
            if not math.isfinite(float(value)) or float(value) < 0:
                raise ValueError(f"augmentation {name}={value}: must be a finite number >= 0")
        for name in ("time_shift", "time_masks", "time_mask_frames", "freq_masks",
                     "freq_mask_bands"):
            if int(getattr(self, name)) != getattr(self, name):
                raise ValueError(f"augmentation {name}={getattr(self, name)}: must be an integer")
        if window_frames is not None:
            w = int(window_frames)
            if self.time_masks and self.time_masks * self.time_mask_frames >= w:
                raise ValueError(
                    f"time masks wider than the input: {self.time_masks} x time_mask_frames="
                    f"{self.time_mask_frames} frames could cover the whole {w}-frame window")
            if self.time_shift >= w:
                raise ValueError(f"time_shift={self.time_shift} frames is not shorter than the "
                                 f"{w}-frame window")
        if n_mels is not None:
            m = int(n_mels)
            if self.freq_masks and self.freq_masks * self.freq_mask_bands >= m:
                raise ValueError(
                    f"frequency masks wider than the input: {self.freq_masks} x freq_mask_bands="
                    f"{self.freq_mask_bands} bands could cover all {m} mel bands")
        if batch_size is not None and self.mixup and int(batch_size) < 2:
            raise ValueError(f"mixup needs batches of at least 2 windows to mix "
                             f"(batch_size={batch_size})")
        return self


def augment_batch(x: "tf.Tensor", y: "tf.Tensor", w: "tf.Tensor", seed: "tf.Tensor",
                  aug: Augmentation, fill: npt.ArrayLike) -> tuple["tf.Tensor", "tf.Tensor", "tf.Tensor"]:
    """Augment one batch (TensorFlow ops; see :class:`Augmentation`).

    Parameters
    ----------
    x : tf.Tensor float32 (B, T, n_mels)
    y : tf.Tensor float32 (B, dim)
    w : tf.Tensor float32 (B,)
        Sample weights; a window mixed with a NaN/inf window (weight 0) gets 0.
    seed : tf.Tensor int64 (2,)
        Stateless seed of this batch.
    aug : Augmentation
    fill : array-like (n_mels,)
        Value of masked bins (the training split's band means).

    Returns
    -------
    x, y, w
    """
    import tensorflow as tf

    batch, frames, bands = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    keys = iter(range(1, 64))

    def sub_seed():
        return tf.stack([seed[0], seed[1] * 64 + next(keys)])

    fill = tf.reshape(tf.constant(np.asarray(fill, dtype=np.float32)), [1, 1, -1])
    if aug.gain_db:
        gain = tf.random.stateless_uniform([batch, 1, 1], sub_seed(), -aug.gain_db, aug.gain_db)
        x = x + gain
    if aug.time_shift:
        shift = tf.random.stateless_uniform([batch, 1], sub_seed(), -aug.time_shift,
                                            aug.time_shift + 1, dtype=tf.int32)
        where = tf.math.floormod(tf.range(frames)[None, :] - shift, frames)
        x = tf.gather(x, where, batch_dims=1)

    def masks(count, width, length, axis):
        nonlocal x
        positions = tf.range(length)[None, :]
        for _ in range(int(count)):
            size = tf.random.stateless_uniform([batch, 1], sub_seed(), 0, int(width) + 1,
                                               dtype=tf.int32)
            start = tf.cast(tf.random.stateless_uniform([batch, 1], sub_seed()) *
                            tf.cast(length - size + 1, tf.float32), tf.int32)
            hit = (positions >= start) & (positions < start + size)
            hit = hit[:, :, None] if axis == 1 else hit[:, None, :]
            x = tf.where(hit, fill, x)

    if aug.time_masks and aug.time_mask_frames:
        masks(aug.time_masks, aug.time_mask_frames, frames, 1)
    if aug.freq_masks and aug.freq_mask_bands:
        masks(aug.freq_masks, aug.freq_mask_bands, bands, 2)
    if aug.mixup:
        a = tf.random.stateless_gamma([batch], sub_seed(), alpha=float(aug.mixup))
        b = tf.random.stateless_gamma([batch], sub_seed(), alpha=float(aug.mixup))
        # Both draws can underflow to 0 for a small alpha: mix half and half.
        total = a + b
        lam = tf.where(total > 0, a / tf.where(total > 0, total, 1.0), 0.5)
        partner = tf.argsort(tf.random.stateless_uniform([batch], sub_seed()))
        lam_x = lam[:, None, None]
        x = lam_x * x + (1.0 - lam_x) * tf.gather(x, partner)
        y = lam[:, None] * y + (1.0 - lam[:, None]) * tf.gather(y, partner)
        w = w * tf.gather(w, partner)
    return x, y, w
