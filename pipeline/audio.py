"""Audio stage: previews -> log-mel spectrogram shards -> manifest.

How the shard tasks are found: the number of shards depends on the track
list, which lives in the TagDatabase's SQLite file, which does not exist when
Luigi builds the graph. ``SpectrogramIndex.run()`` therefore opens the
database (in the worker, after the fork), computes the shard count and yields
all ``Spectrograms(shard=i)`` tasks at once as dynamic dependencies; Luigi
then runs them on every free worker (``--workers 4`` = four shards at a time)
and resumes ``run()`` when they are all done. When the database already
exists as the graph is built (a rerun, or a second machine joining later),
its ``summary.json`` gives the count and the shards are listed in
``requires()`` instead, so that every worker on every machine can take them.
Each shard task reads its own slice of the track list from the database in
its own ``run()``. A rerun with
nothing changed finds the manifest and does nothing; after a crash only the
shards without output are redone. A separate track-list file task was the
alternative, but it would only copy what the database already holds.
"""

import json
import logging

import luigi

from pipeline.base import KrotosTask
from pipeline.dataset import dataset_task
from pipeline.tagdb import TagDatabase

logger = logging.getLogger("luigi-interface")

# = krotos.sources.sevendigital.DEFAULT_BASE_URL, not imported to keep `import pipeline` light
SEVENDIGITAL_DEFAULT_URL = "https://previews.7digital.com/clip/"


def _shard_tracks(tagdb_task, shard, shard_size):
    from krotos.audio.sharding import shard_slice
    from krotos.tagdb import TagDB

    with TagDB(tagdb_task.file("tags.sqlite")) as db:
        return shard_slice(db.tracks(), shard, shard_size)


class FetchPreviews(KrotosTask):
    """The previews of one shard of the track list (``previews.json``, plus
    the downloaded mp3 files when the source is 7digital)."""

    # The only network-bound task: a shard may fail twice (network, 7digital
    # rate limits) before Luigi gives up on it ([scheduler] retry_delay).
    retry_count = 3
    version = 1

    shard = luigi.IntParameter(description="zero-based shard number")
    shard_size = luigi.IntParameter(
        description="tracks per shard (set it in [SpectrogramIndex])")
    source = luigi.ChoiceParameter(
        choices=["local", "7digital"], default="local",
        description="local: the dataset's previews folder; 7digital: download")
    base_url = luigi.Parameter(default=SEVENDIGITAL_DEFAULT_URL,
                               description="7digital clip endpoint")
    country = luigi.Parameter(default="US", description="7digital shop country")
    consumer_key = luigi.Parameter(
        default="", significant=False, visibility=luigi.parameter.ParameterVisibility.PRIVATE,
        description="7digital OAuth consumer key (else $KROTOS_7DIGITAL_KEY)")
    consumer_secret = luigi.Parameter(
        default="", significant=False, visibility=luigi.parameter.ParameterVisibility.PRIVATE,
        description="7digital OAuth consumer secret (else $KROTOS_7DIGITAL_SECRET)")
    rate_limit = luigi.FloatParameter(default=5.0, significant=False,
                                      description="requests per second per worker")
    timeout = luigi.FloatParameter(default=30.0, significant=False,
                                   description="connect/read timeout in seconds")
    retries = luigi.IntParameter(default=4, significant=False,
                                 description="retries on 429/5xx/timeouts/truncation")
    backoff = luigi.FloatParameter(default=1.0, significant=False,
                                   description="first retry wait in seconds (doubles)")

    def requires(self):
        return {"tagdb": TagDatabase(), "dataset": dataset_task()}

    def signature_params(self):
        params = super().signature_params()
        if self.source != "7digital":
            # The 7digital endpoint does not change previews read from disk.
            params.pop("base_url")
            params.pop("country")
        return params

    def run(self):
        from krotos.sources.fetch import fetch_shard, open_source

        tracks = _shard_tracks(self.requires()["tagdb"], self.shard, self.shard_size)
        source = open_source(
            self.source, previews_folder=self.requires()["dataset"].paths()["previews"],
            download_dir=self.work_dir, consumer_key=self.consumer_key,
            consumer_secret=self.consumer_secret, base_url=self.base_url,
            country=self.country, rate_limit=self.rate_limit,
            timeout=(min(self.timeout, 10.0), self.timeout), retries=self.retries,
            backoff=self.backoff)
        with self.staging() as tmp:
            fetch_shard(tracks, source, tmp, progress=self.progress)


class Spectrograms(KrotosTask):
    """Log-mel spectrograms of one shard (``shard.h5``, ``results.json``)."""

    version = 1

    shard = luigi.IntParameter(description="zero-based shard number")
    shard_size = luigi.IntParameter(
        description="tracks per shard (set it in [SpectrogramIndex])")
    sample_rate = luigi.IntParameter(default=22050, description="Hz, after resampling")
    n_fft = luigi.IntParameter(default=1024, description="STFT window (46 ms at 22.05 kHz)")
    hop_length = luigi.IntParameter(default=512, description="STFT hop (23 ms at 22.05 kHz)")
    n_mels = luigi.IntParameter(default=128, description="mel bands")
    fmin = luigi.FloatParameter(default=0.0, description="lowest mel band edge, Hz")
    fmax = luigi.FloatParameter(default=0.0, description="highest band edge, Hz; 0 = sample_rate/2")
    resampler = luigi.ChoiceParameter(choices=["soxr", "libsamplerate"], default="soxr",
                                      description="resampling library")
    resample_quality = luigi.Parameter(
        default="", description="soxr HQ/VHQ/MQ/LQ/QQ or libsamplerate sinc_fastest/"
                                "sinc_medium/sinc_best/linear; empty = HQ / sinc_fastest")
    dtype = luigi.ChoiceParameter(choices=["float16", "float32"], default="float16",
                                  description="storage type of the spectrograms")
    min_seconds = luigi.FloatParameter(default=5.0,
                                       description="shorter clips are recorded as too_short")
    silence_db = luigi.FloatParameter(default=-60.0,
                                      description="peak below this dBFS: recorded as silent")

    def requires(self):
        return FetchPreviews(shard=self.shard, shard_size=self.shard_size)

    def extract_params(self):
        from krotos.audio.extract import ExtractParams

        return ExtractParams(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax or None,
            resampler=self.resampler, resample_quality=self.resample_quality or None,
            dtype=self.dtype, min_seconds=self.min_seconds, silence_db=self.silence_db)

    def run(self):
        from krotos.audio.extract import extract_shard_files

        with self.staging() as tmp:
            extract_shard_files(self.requires().file("previews.json"), tmp,
                                self.extract_params(),
                                progress=self.progress)


@Spectrograms.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)
def _warm_up_before_fork(task, dependency):
    # Fires in the worker's main process when it schedules a shard (the
    # shards are yielded by SpectrogramIndex.run in a child, but Luigi adds
    # them in the parent). Loading librosa there once, instead of in every
    # forked shard task, saves ~1.5 s per shard; it stays out of module
    # import so that `import pipeline` remains cheap.
    from krotos.audio.extract import warm_up

    warm_up()


class ShardIndex(KrotosTask):
    """Base of the tasks that run every shard of the track list and index them.

    Subclasses name their per-shard task in ``shard_task``. The shard count
    comes from the tag database: when it exists at scheduling time the shards
    are listed in ``requires()``, otherwise ``run()`` yields them as dynamic
    dependencies. The index then writes ``manifest.json`` over them (read it with
    :func:`krotos.audio.manifest.read_manifest`).
    """

    version = 1
    shard_task = None

    shard_size = luigi.IntParameter(default=100, description="tracks per shard")

    def requires(self):
        # Once the tag database exists, its summary says how many shards there
        # are: listing them here lets every worker that schedules this task,
        # on any machine, take shards (Luigi runs yielded tasks only on the
        # worker that yielded them). Reading the summary is a plain JSON read,
        # no SQLite before the workers fork.
        # Decided once per task object: Luigi asks again just before run(),
        # and the answer must not change in between.
        if not hasattr(self, "_listed_shards"):
            self._listed_shards = self._shard_count_from_summary(TagDatabase()) or 0
        return [TagDatabase()] + [self.shard(i) for i in range(self._listed_shards)]

    def _shard_count_from_summary(self, tagdb):
        from krotos.audio.sharding import n_shards

        try:
            with open(tagdb.file("summary.json"), encoding="utf-8") as f:
                return n_shards(json.load(f)["tracks"]["kept"], self.shard_size)
        except (OSError, KeyError, TypeError, ValueError):
            return None

    def shard(self, i):
        return self.shard_task(shard=i, shard_size=self.shard_size)

    def signature_requires(self):
        # Shard 0 stands for them all (whether listed or yielded), so that an
        # extraction parameter or a source setting moves the manifest.
        return [TagDatabase(), self.shard(0)]

    def run(self):
        from krotos.audio.manifest import index_shards
        from krotos.audio.sharding import n_shards
        from krotos.tagdb import TagDB

        with TagDB(TagDatabase().file("tags.sqlite")) as db:
            count = n_shards(len(db.tracks()), self.shard_size)
        shards = [self.shard(i) for i in range(count)]
        yield shards  # done already when requires() could list them
        with self.staging() as tmp:
            manifest = index_shards([s.output_dir for s in shards], tmp,
                                    progress=self.progress)
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(manifest["summary"].items()))
        logger.info("%s: %d shards, tracks by status: %s", self.get_task_family(), count, summary)
        self.set_status_message(f"{count} shards; {summary}")


class SpectrogramIndex(ShardIndex):
    """All spectrogram shards of the track list, and ``manifest.json`` over them."""

    shard_task = Spectrograms
