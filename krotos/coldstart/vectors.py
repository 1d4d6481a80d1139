"""Song vectors predicted from audio: normalization and their HDF5 file.

Kept free of TensorFlow so that evaluation and serving code can read
predictions without loading a model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import h5py
import numpy as np

from krotos.staging import atomic_path


def unit_normalize(vectors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows divided by their L2 norm (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, eps)


def write_latents(path: str | os.PathLike, track_ids: Sequence[str], factors: np.ndarray) -> None:
    """Write ``/track_ids`` (str) and ``/factors`` (n, f) float32, atomically."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("track_ids", data=np.asarray(list(track_ids), dtype=object),
                          dtype=h5py.string_dtype("utf-8"))
        h5.create_dataset("factors", data=np.asarray(factors, dtype=np.float32))


def read_latents(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """``(track_ids: list of str, factors: np.ndarray)`` from :func:`write_latents`."""
    with h5py.File(path, "r") as h5:
        ids = [t.decode() if isinstance(t, bytes) else str(t) for t in h5["track_ids"][()]]
        return ids, h5["factors"][()]
