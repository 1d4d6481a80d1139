"""The one split of songs that every model and evaluation reads."""

import hashlib
import json
import os

import luigi

from pipeline.base import KrotosTask, Replicated
from pipeline.tagdb import TagDatabase

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

    def lists(self):
        """``{split: (setting, absolute path)}`` of ``method = file``'s lists, else None."""
        if self.method != "file":
            return None
        return {name: (LIST_SETTINGS[name], path) for name, path in self.list_files().items()}

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
        from krotos.splits import describe_song_split, make_song_split
        from krotos.tagdb import TagDB

        with TagDB(self.requires().file(TagDatabase.DB)) as db:
            tracks = db.tracks()
        with self.staging() as tmp:
            summary = make_song_split(
                tracks, os.path.join(tmp, self.SPLIT), os.path.join(tmp, self.SUMMARY),
                self.method, lists=self.lists(), where="[SongSplit]", valid_fraction=self.valid_fraction,
                test_fraction=self.test_fraction, seed=self.replicate_seed(self.seed))
        self.set_status_message(describe_song_split(summary, self.method))

    def read(self):
        """The :class:`krotos.splits.SongSplit` of this task's output."""
        from krotos.splits import read_song_split

        with open(self.file(self.SUMMARY)) as f:
            params = json.load(f)["params"]
        return read_song_split(self.file(self.SPLIT), params)
