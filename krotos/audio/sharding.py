"""Deterministic split of the track list into shards.

The track list comes sorted by track id (``TagDB.tracks()``), and shard ``i``
is the contiguous slice ``[i * shard_size, (i + 1) * shard_size)`` of it: the
same list and size always give the same shards, on any machine, without
storing an assignment anywhere.
"""


def n_shards(n_tracks, shard_size):
    """Number of shards needed for ``n_tracks`` (0 for an empty list)."""
    shard_size = _check_size(shard_size)
    return -(-int(n_tracks) // shard_size)


def shard_slice(items, shard, shard_size):
    """The items of shard number ``shard`` (empty beyond the last shard).

    Parameters
    ----------
    items : sequence
        The full, sorted track list.
    shard : int
        Zero-based shard number.
    shard_size : int
        Tracks per shard (the last shard may hold fewer).
    """
    shard_size = _check_size(shard_size)
    if shard < 0:
        raise ValueError(f"shard number must be >= 0, got {shard}")
    return list(items[shard * shard_size:(shard + 1) * shard_size])


def _check_size(shard_size):
    shard_size = int(shard_size)
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    return shard_size
