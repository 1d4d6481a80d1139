"""The SQLite tag database: Last.fm tags of MSD tracks, a vocabulary, the song map.

Build it with :func:`build_tag_database` (the ``TagDatabase`` task does), read
it with :class:`TagDB`.

The names are imported on first use: a reader of the database (every shard
task) does not load the builder, its ORM schema and SQLAlchemy's ORM.
"""

import importlib

_WHERE = {"AUDIO_FILTERS": "params", "TagDatabaseParams": "params",
          "build_tag_database": "builder",
          "canonical_tag": "canonical", "TagDB": "reader", "Track": "reader"}

__all__ = ["AUDIO_FILTERS", "TagDB", "TagDatabaseParams", "Track", "build_tag_database",
           "canonical_tag"]


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
