"""Deterministic train / valid / test splits.

A track's split depends only on a hash of its key (the track id, or its
artist for artist-disjoint splits) and a salt: adding or removing tracks
never moves the others, and the same settings give the same split on every
machine (no Python ``hash()``, which is salted per process).
"""

import hashlib

SPLITS = ("train", "valid", "test")
METHODS = ("hash", "artist")


def check_fractions(valid_fraction, test_fraction):
    """Raise ValueError unless both fractions are in [0, 1) and leave a training set."""
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"valid_fraction + test_fraction must be < 1 (got {valid_fraction} + {test_fraction})")


def unit_hash(key, salt):
    """Map ``key`` to a float in [0, 1), uniformly and reproducibly."""
    digest = hashlib.sha1(f"{salt}\0{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split_key(track_id, artist_id, artist_name, method):
    """The string whose hash decides the split.

    ``artist`` uses the Echo Nest artist id, falling back to the artist name,
    then to the track id when both are empty (such a track is its own group).
    """
    if method == "hash":
        return track_id
    if method == "artist":
        if artist_id:
            return "artist:" + artist_id
        if artist_name and artist_name.strip():
            return "name:" + artist_name.strip().casefold()
        return "track:" + track_id
    raise ValueError(f"split_method must be one of {METHODS}, got {method!r}")


def assign_split(key, valid_fraction, test_fraction, salt):
    """Return ``'train'``, ``'valid'`` or ``'test'`` for ``key``."""
    u = unit_hash(key, salt)
    if u < test_fraction:
        return "test"
    if u < test_fraction + valid_fraction:
        return "valid"
    return "train"
