"""The one split of songs that every model and evaluation reads."""

import hashlib
import json
import logging
import os

import luigi

from pipeline.base import KrotosTask, Replicated
from pipeline.tagdb import TagDatabase

logger = logging.getLogger("luigi-interface")

#: The list settings of ``method = file``, by split.
LIST_SETTINGS = {"train": "train_file", "valid": "valid_file", "test": "test_file"}


class SongSplit(Replicated, KrotosTask):
    """Train / valid / test tracks, drawn once upstream of every model (``split.tsv``).

    Test songs are seen by no model in training, validation or early
    stopping: the tag evaluation scores their audio and tags, and their plays
    are held out of the factorization to become the cold-start songs. See
    :mod:`krotos.splits`. With ``method = file`` the split is read from three
    track-id lists (the published MSD top-50 tagging split) instead of drawn.
    """

    version = 1

    #: Output files.
    SPLIT = "split.tsv"
    SUMMARY = "summary.json"

    method = luigi.ChoiceParameter(
        default="artist", choices=["artist", "song", "file"],
        description="artist: artist-disjoint splits (as in the MSD tagging literature); "
                    "song: only the tracks of one song stay together; file: the track-id "
                    "lists named by train_file, valid_file and test_file")
    valid_fraction = luigi.FloatParameter(default=0.1, description="fraction of tracks in valid")
    test_fraction = luigi.FloatParameter(default=0.2, description="fraction of tracks in test")
    seed = luigi.IntParameter(default=0, description="seed of the draw of test and valid artists")
    train_file = luigi.Parameter(
        default="", description="method = file: track ids of the train split, one a line "
                                "(e.g. train_x_msd_id.txt)")
    valid_file = luigi.Parameter(
        default="", description="method = file: track ids of the valid split (valid_x_msd_id.txt)")
    test_file = luigi.Parameter(
        default="", description="method = file: track ids of the test split (test_x_msd_id.txt)")

    def requires(self):
        return TagDatabase()

    def list_files(self):
        """``{split: absolute path}`` of the lists of ``method = file``.

        Raises
        ------
        krotos.config.ConfigError
            A list is not set, or is not a file (the message names the setting).
        """
        from krotos.config import ConfigError

        paths = {name: getattr(self, key) for name, key in LIST_SETTINGS.items()}
        unset = [LIST_SETTINGS[name] for name, path in paths.items() if not path]
        if unset:
            raise ConfigError(
                f"[SongSplit] method = file needs the track-id list of every split: set "
                f"{', '.join(unset)} in [SongSplit] (e.g. train_x_msd_id.txt, "
                f"valid_x_msd_id.txt and test_x_msd_id.txt of the MSD top-50 tagging split)")
        paths = {name: os.path.abspath(os.path.expanduser(path)) for name, path in paths.items()}
        for name, path in paths.items():
            if not os.path.isfile(path):
                raise ConfigError(f"[SongSplit] {LIST_SETTINGS[name]} = {path}: no such file")
        return paths

    def signature_params(self):
        params = super().signature_params()
        if self.method == "file":
            # The lists' contents decide the split, wherever they are kept;
            # nothing is drawn.
            for key in ("valid_fraction", "test_fraction", "seed"):
                params.pop(key)
            for name, path in self.list_files().items():
                with open(path, "rb") as f:
                    params[LIST_SETTINGS[name]] = hashlib.sha256(f.read()).hexdigest()
        else:
            for key in LIST_SETTINGS.values():
                params.pop(key)
        return params

    def run(self):
        from krotos.msd.errors import BadInputLog
        from krotos.splits import (draw_song_split, read_track_list, split_from_lists,
                                   write_song_split)
        from krotos.tagdb import TagDB

        with TagDB(self.requires().file(TagDatabase.DB)) as db:
            tracks = db.tracks()
        summary = {}
        if self.method == "file":
            errors = BadInputLog()
            files = self.list_files()
            names = {n: f"[SongSplit] {LIST_SETTINGS[n]} ({os.path.basename(p)})"
                     for n, p in files.items()}
            lists = {n: read_track_list(p, errors) for n, p in files.items()}
            split, report = split_from_lists(tracks, lists, names, errors)
            split.params.update({LIST_SETTINGS[n]: os.path.basename(p) for n, p in files.items()})
            summary.update(lists=report, bad_rows=errors.summary())
            logger.info("SongSplit: %s tracks of the list files kept, %d of the track list in "
                        "no list; ids not in the track list: %s", report["kept"],
                        report["left_out"], report["unknown"])
        else:
            split = draw_song_split(tracks, method=self.method,
                                    valid_fraction=self.valid_fraction,
                                    test_fraction=self.test_fraction,
                                    seed=self.replicate_seed(self.seed))
        counts = split.counts()
        with self.staging() as tmp:
            write_song_split(os.path.join(tmp, self.SPLIT), split)
            with open(os.path.join(tmp, self.SUMMARY), "w") as f:
                json.dump(dict(summary, params=split.params, counts=counts), f, indent=2,
                          sort_keys=True)
                f.write("\n")
        unit = "listed tracks" if self.method == "file" else f"{self.method}s"
        message = ", ".join(f"{name} {c['tracks']:,} tracks ({c['groups']:,} {unit})"
                            for name, c in counts.items())
        if self.method == "file":
            report = summary["lists"]
            message += (f"; {report['left_out']:,} tracks in no list left out, "
                        f"{sum(report['unknown'].values()):,} listed ids not in the track list")
        self.set_status_message(message)

    def read(self):
        """The :class:`krotos.splits.SongSplit` of this task's output."""
        from krotos.splits import read_song_split

        with open(self.file(self.SUMMARY)) as f:
            params = json.load(f)["params"]
        return read_song_split(self.file(self.SPLIT), params)
