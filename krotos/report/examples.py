"""Pick a few tracks per tag to show their model input in the report."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from krotos.shards.reader import ShardReader


def spectrogram_examples(shard_paths: Sequence[str],
                         tag_matrix: Callable[[list[str]], np.ndarray],
                         vocabulary: Sequence[str], n_tags: int = 4, per_tag: int = 2,
                         max_frames: int | None = None) -> list[tuple[str, np.ndarray]]:
    """``(caption, matrix)`` for the first tracks carrying each of the commonest tags.

    Parameters
    ----------
    shard_paths : sequence of str
    tag_matrix : callable
        ``track_ids -> (n, n_tags) 0/1 array`` (e.g. ``TagDB.tag_matrix``).
    vocabulary : sequence of str
    n_tags, per_tag : int
    max_frames : int, optional
        Crop each example to this many frames.
    """
    if not shard_paths or not vocabulary:
        return []
    with ShardReader(shard_paths[0]) as reader:
        ids = list(reader.track_ids)
        labels = tag_matrix(ids)
        order = labels.sum(axis=0).argsort()[::-1][:n_tags]
        out, shown = [], set()
        for j in order:
            # Co-occurring tags (classical, piano) would otherwise show the same tracks.
            rows = [i for i in labels[:, j].nonzero()[0] if i not in shown][:per_tag]
            shown.update(rows)
            for i in rows:
                frames = reader.read(int(i), 0, max_frames)
                out.append((f"{vocabulary[j]}: {ids[i]}", frames))
    return out
