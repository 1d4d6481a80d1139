"""The TagDatabase task: MSD metadata + Last.fm tags -> ``tags.sqlite``."""

import json
import os

import luigi

from krotos.tagdb.params import AUDIO_FILTERS, TagDatabaseParams
from pipeline.base import KrotosTask
from pipeline.dataset import dataset_task


class TagDatabase(KrotosTask):
    """Track list, canonical Last.fm tags, top-``n_tags`` vocabulary and the song map, in SQLite.

    Splits are drawn downstream, by ``SongSplit``, so that another draw of
    test songs never rebuilds the database or the spectrograms.

    Output folder: ``tags.sqlite`` (read it with :class:`krotos.tagdb.TagDB`)
    and ``summary.json`` (counts of tracks, tags and bad input rows by reason).
    """

    version = 3  # 3: paths relative to the data root, renamed-file map

    #: Output files.
    DB = "tags.sqlite"
    SUMMARY = "summary.json"

    # Defaults: krotos.tagdb.TagDatabaseParams's (= luigi.cfg's).
    n_tags = luigi.IntParameter(
        default=TagDatabaseParams.n_tags,
        description="vocabulary size: the most frequent tags (50 as in the MSD literature)")
    min_weight = luigi.FloatParameter(
        default=TagDatabaseParams.min_weight,
        description="Last.fm weight (0-100) from which a tag counts as present")
    audio_filter = luigi.ChoiceParameter(
        default=TagDatabaseParams.audio_filter, choices=list(AUDIO_FILTERS),
        description="keep tracks with a 7digital id or local preview (any), a local preview "
                    "(local), or all tracks (none)")

    # Only one worker at a time writes a given SQLite file (see [resources]).
    resources = {"tagdb_sqlite": 1}

    def requires(self):
        return dataset_task()

    def run(self):
        from krotos.tagdb import build_tag_database

        params = TagDatabaseParams(n_tags=self.n_tags, min_weight=self.min_weight,
                                   audio_filter=self.audio_filter)
        paths = self.requires().paths()
        with self.staging() as tmp:
            summary = build_tag_database(
                os.path.join(tmp, self.DB),
                track_metadata=paths.get("track_metadata"),
                lastfm_tags=paths.get("lastfm_tags"),
                lastfm_json=[p for p in (paths.get("lastfm_json"),) if p],
                sid_mismatches=paths.get("sid_mismatches"),
                unique_tracks=paths.get("unique_tracks"),
                previews=paths.get("previews"), msd_h5=paths.get("msd_h5"),
                params=params, progress=self.progress, relative_to=self.data_root)
            with open(os.path.join(tmp, self.SUMMARY), "w", encoding="utf-8") as f:
                json.dump(summary, f, indent=2, sort_keys=True)
