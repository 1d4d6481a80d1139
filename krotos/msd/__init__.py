"""Readers of the real Million Song Dataset, Last.fm and Taste Profile files.

Every reader takes an optional :class:`BadInputLog` that counts and keeps
examples of rejected rows (file + line/row + reason); a file that cannot be
read at all raises :class:`InputFileError` naming it.
"""

from krotos.msd.errors import BadInput, BadInputLog, EmptyResultError, InputFileError
from krotos.msd.hdf5 import MSDFile, find_msd_h5, iter_msd_h5_folder, read_msd_h5
from krotos.msd.lastfm import (
    LastfmTagsDB, LastfmTrack, TagRow, iter_lastfm_json, iter_lastfm_json_tags,
    iter_lastfm_tags_db)
from krotos.msd.mismatches import read_sid_mismatches
from krotos.msd.track_metadata import TrackMeta, iter_track_metadata, read_track_metadata
from krotos.msd.triplets import iter_triplet_chunks, iter_triplets
from krotos.msd.unique_tracks import UniqueTrack, iter_unique_tracks, read_unique_tracks

__all__ = [
    "BadInput", "BadInputLog", "EmptyResultError", "InputFileError", "LastfmTagsDB", "LastfmTrack", "MSDFile",
    "TagRow", "TrackMeta", "UniqueTrack", "find_msd_h5", "iter_lastfm_json",
    "iter_lastfm_json_tags", "iter_lastfm_tags_db", "iter_msd_h5_folder", "iter_track_metadata",
    "iter_triplet_chunks", "iter_triplets", "iter_unique_tracks", "read_msd_h5",
    "read_sid_mismatches", "read_track_metadata", "read_unique_tracks",
]
