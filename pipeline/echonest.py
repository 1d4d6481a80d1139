"""Echonest stage: MSD per-track HDF5 files -> Echo Nest feature shards -> manifest.

The audio-free counterpart of ``Spectrograms`` / ``SpectrogramIndex``
(pipeline/audio.py), for ``[krotos] features = echonest``: each shard task
reads the Echo Nest segments of its slice of the track list from the MSD
HDF5 files under the dataset's ``msd_h5`` path and writes the same
``shard.h5`` + ``results.json``; ``EchonestIndex`` lists all shard tasks in
``requires()`` (their number is counted from the dataset's inputs as the
graph is built, so every worker on every machine takes shards from the first
run on) and writes the same ``manifest.json`` (see :mod:`pipeline.features`).
"""

import luigi

from pipeline.base import KrotosTask
from pipeline.dataset import msd_h5_task
from pipeline.features import ShardIndex
from pipeline.tagdb import TagDatabase


class EchonestFeatures(KrotosTask):
    """Echo Nest segment features of one shard (``shard.h5``, ``results.json``)."""

    version = 2

    shard = luigi.IntParameter(description="zero-based shard number")
    n_shards = luigi.IntParameter(
        description="shards the track list is spread over (EchonestIndex sets it from its "
                    "shard_size)")
    grid = luigi.ChoiceParameter(choices=["fixed", "beats"], default="fixed",
                                 description="fixed time grid, or one frame per beat")
    frame_rate = luigi.FloatParameter(default=10.0,
                                      description="frames per second of the fixed grid")
    loudness = luigi.ChoiceParameter(choices=["max", "start"], default="max",
                                     description="segments_loudness_max or _start as channel 25")
    dtype = luigi.ChoiceParameter(choices=["float16", "float32"], default="float32",
                                  description="storage type of the features")
    min_seconds = luigi.FloatParameter(default=5.0,
                                       description="shorter tracks are recorded as too_short")
    compression = luigi.ChoiceParameter(
        choices=["none", "lzf", "gzip"], default="none", significant=False,
        description="storage filter of shard.h5: none (fastest), lzf (a third smaller, "
                    "extraction about 1.3x slower) or gzip (40% smaller, about 1.6x slower); "
                    "the features are the same")

    def requires(self):
        return {"tagdb": TagDatabase(), "dataset": msd_h5_task()}

    def echonest_params(self):
        from krotos.features.echonest import EchonestParams

        return EchonestParams(frame_rate=self.frame_rate, grid=self.grid,
                              loudness=self.loudness, dtype=self.dtype,
                              min_seconds=self.min_seconds)

    def msd_h5(self):
        """The dataset's folder (or aggregate file) of MSD HDF5 files."""
        from krotos.config import ConfigError

        path = self.requires()["dataset"].paths().get("msd_h5")
        if not path:
            raise ConfigError("features = echonest needs the MSD per-track HDF5 files: set "
                              "[krotos] msd_h5 to the folder holding A/B/C/TR*.h5")
        return path

    def run(self):
        from krotos.features.echonest_shard import echonest_shard_stage

        with self.staging() as tmp:
            echonest_shard_stage(self.requires()["tagdb"].file(TagDatabase.DB), self.shard,
                                 self.n_shards, self.msd_h5(), tmp, self.echonest_params(),
                                 progress=self.progress, compression=self.compression)


@EchonestFeatures.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)
def _import_before_fork(task, dependency):
    # Fires in the worker's main process when it schedules a shard: what
    # every shard imports (h5py, the tag database's reader) loads once there
    # instead of in each forked shard task. Importing opens no database.
    import krotos.features.echonest_shard  # noqa: F401
    import krotos.tagdb.reader  # noqa: F401


class EchonestIndex(ShardIndex):
    """All echonest shards of the track list, and ``manifest.json`` over them
    (the same contract as ``SpectrogramIndex``)."""

    feature = "echonest"
    shard_task = EchonestFeatures

    # About 2 ms a track: 1000 keeps the per-task start-up small (luigi.cfg).
    shard_size = luigi.IntParameter(default=1000, description="tracks per shard (at most)")
