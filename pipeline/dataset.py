"""The root of the DAG: the configured real dataset, or the built-in demo."""

import os

import luigi

from krotos.config import check_data_root, check_dataset_inputs, configured_inputs, DATASET_INPUTS
from pipeline.base import KrotosTask
from pipeline.config import krotos
from pipeline.demo import DemoDataset, DemoMSDFiles


class RealDataset(KrotosTask):
    """A real MSD / Last.fm / Taste Profile copy configured in ``[krotos]``.

    Nothing is written: the task is complete when the configured files exist.
    Its signature hashes the configured paths, so outputs built from two
    datasets never mix.
    """

    track_metadata = luigi.Parameter(default="")
    lastfm_tags = luigi.Parameter(default="")
    lastfm_json = luigi.Parameter(default="")
    triplets = luigi.Parameter(default="")
    sid_mismatches = luigi.Parameter(default="")
    unique_tracks = luigi.Parameter(default="")
    previews = luigi.Parameter(default="")
    msd_h5 = luigi.Parameter(default="")

    run = None  # an external input: Luigi never runs it

    def complete(self):
        return all(os.path.exists(p) for p in self.paths().values() if p)

    def paths(self):
        """``{input: absolute path or None}`` for every dataset input."""
        given = configured_inputs({k: getattr(self, k) for k in DATASET_INPUTS})
        return {key: given.get(key) for key in DATASET_INPUTS}


def dataset_task():
    """The dataset task every stage requires, after checking the configuration.

    Raises
    ------
    krotos.config.ConfigError
        When ``data_root`` is not writable or a configured path does not exist;
        raised while Luigi builds the graph, so before any work starts.
    """
    config = krotos()
    check_data_root(config.data_root)
    settings = config.dataset_settings()
    if not configured_inputs(settings):
        return DemoDataset()
    check_dataset_inputs(settings)
    return RealDataset(**configured_inputs(settings))


def msd_h5_task():
    """The task whose ``paths()["msd_h5"]`` holds the MSD per-track HDF5 files.

    The demo writes them in a task of their own (:class:`DemoMSDFiles`), so
    that only runs with ``features = echonest`` pay for the audio analysis.
    """
    task = dataset_task()
    return DemoMSDFiles() if isinstance(task, DemoDataset) else task
