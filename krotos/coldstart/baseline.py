"""The "bag of frames" baseline: a linear map from clip statistics to latent factors.

Each clip is summarized by the mean and standard deviation of every band over
time, and a ridge regression (regularization chosen by efficient leave-one-out
cross-validation) maps those statistics to the unit-normalized ALS factors.
It is what the CNN has to beat to show that learning temporal structure helps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from krotos.shards.reader import ShardReader

ALPHAS = np.logspace(-2, 4, 13)


def clip_statistics(shard_paths: Sequence[str],
                    track_ids: Iterable[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Mean and standard deviation over time of every band, per track.

    Parameters
    ----------
    shard_paths : sequence of str
    track_ids : iterable of str, optional
        Tracks wanted; default all.

    Returns
    -------
    ids : list of str
        Tracks found, in shard order.
    features : np.ndarray float32 (n, 2 * n_channels)
    """
    wanted = None if track_ids is None else set(track_ids)
    ids, rows = [], []
    for path in shard_paths:
        with ShardReader(path) as reader:
            for i, tid in enumerate(reader.track_ids):
                if wanted is not None and tid not in wanted:
                    continue
                frames = np.asarray(reader.read(i), dtype=np.float32)
                if len(frames) == 0 or not np.all(np.isfinite(frames)):
                    continue
                ids.append(tid)
                rows.append(np.concatenate([frames.mean(axis=0), frames.std(axis=0)]))
    width = 2 * (rows[0].shape[0] // 2) if rows else 0
    return ids, (np.vstack(rows).astype(np.float32) if rows else np.zeros((0, width), np.float32))


def fit_linear_baseline(features: npt.ArrayLike, factors: npt.ArrayLike) -> Pipeline:
    """Ridge regression from clip statistics to factors (standardized inputs).

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``.predict(features) -> factors``.
    """
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))
    return model.fit(np.asarray(features, dtype=np.float64), np.asarray(factors, dtype=np.float64))
