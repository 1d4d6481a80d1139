"""The demo dataset task: the DAG's root when no real dataset is configured."""

import os

import luigi
from luigi.task_register import Register

from pipeline.base import KrotosTask


class DemoDataset(KrotosTask):
    """Synthesized songs, tags and listeners, written in the real MSD formats.

    Its parameters are checked against what the rest of the pipeline needs
    (``[SongSplit]`` fractions, ``[TrainTagModel] window_seconds``, the feature
    extraction's ``min_seconds``) while Luigi builds the graph, so a demo too
    small for them fails before anything is rendered.
    """

    version = 2

    n_songs = luigi.IntParameter(default=600, description="number of songs (one track each)")
    n_users = luigi.IntParameter(default=2000, description="number of Taste Profile users")
    clip_seconds = luigi.FloatParameter(default=10.0, description="length of each mp3 preview")
    seed = luigi.IntParameter(default=0, description="same seed, byte-identical files")
    processes = luigi.IntParameter(
        default=0, significant=False,
        description="processes rendering audio; 0: one per CPU core")

    def requires(self):
        # Luigi asks for the requirements (directly, or through the signature
        # of any task downstream) before it runs anything: the place for checks.
        self.check_parameters()
        return []

    def check_parameters(self):
        """Raise :class:`krotos.demo.checks.DemoParameterError` for settings too small
        for the pipeline, naming the parameter and its minimum."""
        from krotos.demo.checks import check_demo_parameters

        check_demo_parameters(self.n_songs, self.n_users, self.clip_seconds, **_pipeline_needs())

    def paths(self):
        """``{input: path}`` in the same keys as a configured real dataset."""
        return {
            "track_metadata": self.file("track_metadata.db"),
            "lastfm_tags": self.file("lastfm_tags.db"),
            "triplets": self.file("train_triplets.txt"),
            "sid_mismatches": self.file("sid_mismatches.txt"),
            "unique_tracks": self.file("unique_tracks.txt"),
            "previews": self.file("previews"),
        }

    def run(self):
        from krotos.demo import write_demo_dataset

        with self.staging() as tmp:
            write_demo_dataset(tmp, n_songs=self.n_songs, n_users=self.n_users,
                               clip_seconds=self.clip_seconds, seed=self.seed,
                               workers=self.processes or os.cpu_count(),
                               progress=self.progress)


def _setting(family, name):
    """Parameter ``name`` of the task ``family`` as configured (command line,
    luigi.cfg, default), without instantiating the task (its other parameters
    may be required).

    The task is looked up by name in Luigi's registry, as the ``luigi``
    command does: the demo is the root of the DAG and must not import the
    stages built on it (``import pipeline`` has registered them all).
    """
    cls = Register.get_task_cls(family)
    return dict(cls.get_params())[name].task_value(family, name)


def _pipeline_needs():
    """What the configured pipeline asks of the demo."""
    from pipeline.config import krotos

    features = "EchonestFeatures" if krotos().features == "echonest" else "Spectrograms"
    return dict(valid_fraction=_setting("SongSplit", "valid_fraction"),
                test_fraction=_setting("SongSplit", "test_fraction"),
                window_seconds=_setting("TrainTagModel", "window_seconds"),
                min_seconds=_setting(features, "min_seconds"),
                min_seconds_setting=f"[{features}] min_seconds")


class DemoMSDFiles(KrotosTask):
    """MSD per-track HDF5 files (``msd_h5/A/B/C/TR*.h5``) for the demo songs, with
    Echo Nest-style segments analysed from their audio, for ``features = echonest``."""

    version = 1

    processes = luigi.IntParameter(
        default=0, significant=False, description="processes analysing audio; 0: one per core")

    def requires(self):
        return DemoDataset()

    def paths(self):
        return {"msd_h5": self.file("msd_h5")}

    def run(self):
        from krotos.demo.msd_h5 import read_track_rows, write_msd_h5_tree

        demo = self.requires().paths()
        with self.staging() as tmp:
            write_msd_h5_tree(os.path.join(tmp, "msd_h5"), read_track_rows(demo["track_metadata"]),
                              demo["previews"], workers=self.processes or os.cpu_count(),
                              progress=self.progress)
