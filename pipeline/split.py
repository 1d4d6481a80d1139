"""The one split of songs that every model and evaluation reads."""

import json
import os

import luigi

from pipeline.base import KrotosTask, Replicated
from pipeline.tagdb import TagDatabase


class SongSplit(Replicated, KrotosTask):
    """Train / valid / test tracks, drawn once upstream of every model (``split.tsv``).

    Test songs are seen by no model in training, validation or early
    stopping: the tag evaluation scores their audio and tags, and their plays
    are held out of the factorization to become the cold-start songs. See
    :mod:`krotos.splits`.
    """

    version = 1

    method = luigi.ChoiceParameter(
        default="artist", choices=["artist", "song"],
        description="artist: artist-disjoint splits (as in the MSD tagging literature); "
                    "song: only the tracks of one song stay together")
    valid_fraction = luigi.FloatParameter(default=0.1, description="fraction of tracks in valid")
    test_fraction = luigi.FloatParameter(default=0.2, description="fraction of tracks in test")
    seed = luigi.IntParameter(default=0, description="seed of the draw of test and valid artists")

    def requires(self):
        return TagDatabase()

    def run(self):
        from krotos.splits import draw_song_split, write_song_split
        from krotos.tagdb import TagDB

        with TagDB(self.requires().file("tags.sqlite")) as db:
            tracks = db.tracks()
        split = draw_song_split(tracks, method=self.method, valid_fraction=self.valid_fraction,
                                test_fraction=self.test_fraction,
                                seed=self.replicate_seed(self.seed))
        counts = split.counts()
        with self.staging() as tmp:
            write_song_split(os.path.join(tmp, "split.tsv"), split)
            with open(os.path.join(tmp, "summary.json"), "w") as f:
                json.dump(dict(params=split.params, counts=counts), f, indent=2, sort_keys=True)
                f.write("\n")
        self.set_status_message(", ".join(
            f"{name} {c['tracks']:,} tracks ({c['groups']:,} {self.method}s)"
            for name, c in counts.items()))

    def read(self):
        """The :class:`krotos.splits.SongSplit` of this task's output."""
        from krotos.splits import read_song_split

        with open(self.file("summary.json")) as f:
            params = json.load(f)["params"]
        return read_song_split(self.file("split.tsv"), params)
