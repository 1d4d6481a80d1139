"""The SQLite tag database: Last.fm tags of MSD tracks, a vocabulary, splits.

Build it with :func:`build_tag_database` (the ``TagDatabase`` task does), read
it with :class:`TagDB`.
"""

from krotos.tagdb.builder import AUDIO_FILTERS, build_tag_database
from krotos.tagdb.canonical import canonical_tag
from krotos.tagdb.reader import TagDB, Track
from krotos.tagdb.splits import METHODS as SPLIT_METHODS, SPLITS

__all__ = ["AUDIO_FILTERS", "SPLIT_METHODS", "SPLITS", "TagDB", "Track", "build_tag_database",
           "canonical_tag"]
