"""The demo dataset task: the DAG's root when no real dataset is configured."""

import os

import luigi

from pipeline.base import KrotosTask


class DemoDataset(KrotosTask):
    """Synthesized songs, tags and listeners, written in the real MSD formats."""

    version = 1

    n_songs = luigi.IntParameter(default=600, description="number of songs (one track each)")
    n_users = luigi.IntParameter(default=2000, description="number of Taste Profile users")
    clip_seconds = luigi.FloatParameter(default=10.0, description="length of each mp3 preview")
    seed = luigi.IntParameter(default=0, description="same seed, byte-identical files")
    processes = luigi.IntParameter(
        default=0, significant=False,
        description="processes rendering audio; 0: one per CPU core")

    def requires(self):
        return []

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
