"""The SQLite tag database: Last.fm tags of MSD tracks, a vocabulary, the song map.

Build it with :func:`build_tag_database` (the ``TagDatabase`` task does), read
it with :class:`TagDB`.
"""

from krotos.tagdb.builder import AUDIO_FILTERS, build_tag_database
from krotos.tagdb.canonical import canonical_tag
from krotos.tagdb.reader import TagDB, Track

__all__ = ["AUDIO_FILTERS", "TagDB", "Track", "build_tag_database",
           "canonical_tag"]
