"""Audio stage: previews -> log-mel spectrogram shards -> manifest.

How the shard tasks are found: the track list lives in the TagDatabase's
SQLite file, which does not exist when Luigi builds the graph on a first
run. The number of shards is therefore counted from the dataset's inputs
as the graph is built (:func:`krotos.audio.sharding.count_input_tracks`: an
upper bound of the tracks the database keeps), so ``SpectrogramIndex`` lists
every ``Spectrograms(shard=i, n_shards=n)`` task in ``requires()`` from the
very first run: every worker process that schedules the index, on every
machine, can take shards (Luigi runs a task only on the workers that listed
it; yielded tasks would stay on the one worker that yielded them). Each
shard task reads its own slice of the track list from the database in its
own ``run()``. A rerun with nothing changed finds the manifest and does
nothing; after a crash only the shards without output are redone.
"""

import logging

import luigi

from pipeline.base import KrotosTask
from pipeline.dataset import dataset_task
from pipeline.tagdb import TagDatabase

logger = logging.getLogger("luigi-interface")

# = krotos.sources.sevendigital.DEFAULT_BASE_URL, not imported to keep `import pipeline` light
SEVENDIGITAL_DEFAULT_URL = "https://previews.7digital.com/clip/"


def _shard_tracks(tagdb_task, shard, n_shards):
    from krotos.audio.sharding import shard_items
    from krotos.tagdb import TagDB

    with TagDB(tagdb_task.file("tags.sqlite")) as db:
        return shard_items(db.tracks(), shard, n_shards)


def input_track_count():
    """Upper bound of the tag database's tracks, from the dataset's inputs (graph-build time).

    The demo writes ``n_songs`` tracks; a real dataset's track list is
    counted without parsing it (see :func:`krotos.audio.sharding.count_input_tracks`).
    """
    from krotos.audio.sharding import count_input_tracks
    from pipeline.demo import DemoDataset

    dataset = dataset_task()
    if isinstance(dataset, DemoDataset):
        return dataset.n_songs
    paths = dataset.paths()
    return count_input_tracks(paths.get("track_metadata"), paths.get("msd_h5"),
                              paths.get("unique_tracks"))


class FetchPreviews(KrotosTask):
    """The previews of one shard of the track list (``previews.json``, plus
    the downloaded mp3 files when the source is 7digital)."""

    # The only network-bound task: a shard may fail twice (network, 7digital
    # rate limits) before Luigi gives up on it ([scheduler] retry_delay).
    retry_count = 3
    version = 2

    shard = luigi.IntParameter(description="zero-based shard number")
    n_shards = luigi.IntParameter(
        description="shards the track list is spread over (SpectrogramIndex sets it from "
                    "its shard_size)")
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

        tracks = _shard_tracks(self.requires()["tagdb"], self.shard, self.n_shards)
        source = open_source(
            self.source, previews_folder=self.requires()["dataset"].paths()["previews"],
            download_dir=self.work_dir, consumer_key=self.consumer_key,
            consumer_secret=self.consumer_secret, base_url=self.base_url,
            country=self.country, rate_limit=self.rate_limit,
            timeout=(min(self.timeout, 10.0), self.timeout), retries=self.retries,
            backoff=self.backoff)
        with self.staging() as tmp:
            fetch_shard(tracks, source, tmp, progress=self.progress)

    def previews(self):
        """The records of ``previews.json``, each ``path`` absolute (resolved against the
        dataset's previews folder, wherever it is now)."""
        from krotos.sources.fetch import read_previews_json

        return read_previews_json(self.file("previews.json"),
                                  self.requires()["dataset"].paths().get("previews"))


class Spectrograms(KrotosTask):
    """Log-mel spectrograms of one shard (``shard.h5``, ``results.json``)."""

    version = 2

    shard = luigi.IntParameter(description="zero-based shard number")
    n_shards = luigi.IntParameter(
        description="shards the track list is spread over (SpectrogramIndex sets it from "
                    "its shard_size)")
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
        return FetchPreviews(shard=self.shard, n_shards=self.n_shards)

    def extract_params(self):
        from krotos.audio.extract import ExtractParams

        return ExtractParams(
            sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax or None,
            resampler=self.resampler, resample_quality=self.resample_quality or None,
            dtype=self.dtype, min_seconds=self.min_seconds, silence_db=self.silence_db)

    def run(self):
        from krotos.audio.extract import extract_shard_files

        # previews.json names local previews relative to the dataset's folder.
        previews = self.requires().requires()["dataset"].paths().get("previews")
        with self.staging() as tmp:
            extract_shard_files(self.requires().file("previews.json"), tmp,
                                self.extract_params(), progress=self.progress,
                                previews_folder=previews)


@Spectrograms.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)
def _warm_up_before_fork(task, dependency):
    # Fires in the worker's main process when it schedules a shard. Loading
    # librosa there once, instead of in every forked shard task, saves ~1.5 s
    # per shard, and the tag database's reader (every shard reads its tracks
    # from it); it stays out of module import so that `import pipeline`
    # remains cheap. Importing opens no database.
    import krotos.tagdb.reader  # noqa: F401
    from krotos.audio.extract import warm_up

    warm_up()


class ShardIndex(KrotosTask):
    """Base of the tasks that run every shard of the track list and index them.

    Subclasses name their per-shard task in ``shard_task`` (with parameters
    ``shard`` and ``n_shards``). The shard count comes from the dataset's
    inputs as the graph is built (see the module's docstring), so all shards
    are listed in ``requires()``, on the first run too. The index then writes
    ``manifest.json`` over them (read it with
    :func:`krotos.audio.manifest.read_manifest`).
    """

    version = 2
    shard_task = None

    shard_size = luigi.IntParameter(default=100, description="tracks per shard (at most)")

    def shard_count(self):
        """Number of shards: the dataset's input tracks over ``shard_size``, rounded up.

        Counted once per task object: Luigi asks for ``requires()`` again just
        before ``run()``, and the answer must not change in between.
        """
        from krotos.audio.sharding import n_shards

        if not hasattr(self, "_shard_count"):
            self._shard_count = n_shards(input_track_count(), self.shard_size)
        return self._shard_count

    def requires(self):
        count = self.shard_count()
        return [TagDatabase()] + [self.shard(i, count) for i in range(count)]

    def shard(self, i, count):
        return self.shard_task(shard=i, n_shards=count)

    def signature_requires(self):
        # One shard stands for them all, so that an extraction parameter or a
        # source setting moves the manifest; the count follows from the
        # inputs, which the tag database's signature covers. Naming it here
        # would make every existence check count the inputs.
        return [TagDatabase(), self.shard(0, 1)]

    def run(self):
        from krotos.audio.manifest import index_shards

        count = self.shard_count()
        shards = [self.shard(i, count) for i in range(count)]
        with self.staging() as tmp:
            manifest = index_shards([s.output_dir for s in shards], tmp,
                                    progress=self.progress)
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(manifest["summary"].items()))
        logger.info("%s: %d shards, tracks by status: %s", self.get_task_family(), count, summary)
        self.set_status_message(f"{count} shards; {summary}")


class SpectrogramIndex(ShardIndex):
    """All spectrogram shards of the track list, and ``manifest.json`` over them."""

    shard_task = Spectrograms
