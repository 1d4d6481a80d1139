"""Audio stage: previews -> log-mel spectrogram shards -> manifest (``features = mel``).

``FetchPreviews`` gets the previews of one shard of the track list,
``Spectrograms`` turns them into one shard of the shard store
(:mod:`krotos.shards`), and ``SpectrogramIndex`` lists every shard and writes
the manifest over them (how the shards are counted and found:
:mod:`pipeline.features`).
"""

import luigi

from pipeline.base import KrotosTask
from pipeline.dataset import dataset_task
from pipeline.features import ShardIndex
from pipeline.tagdb import TagDatabase

# = krotos.sources.sevendigital.DEFAULT_BASE_URL, not imported to keep `import pipeline` light
SEVENDIGITAL_DEFAULT_URL = "https://previews.7digital.com/clip/"


class FetchPreviews(KrotosTask):
    """The previews of one shard of the track list (``previews.json``, plus
    the downloaded mp3 files when the source is 7digital)."""

    # The only network-bound task: a shard may fail twice (network, 7digital
    # rate limits) before Luigi gives up on it ([scheduler] retry_delay).
    retry_count = 3
    version = 2

    #: Output file (written by :func:`krotos.sources.fetch.fetch_shard`).
    PREVIEWS = "previews.json"

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
        from krotos.shards.sharding import shard_tracks
        from krotos.sources.fetch import fetch_shard, open_source

        tracks = shard_tracks(self.requires()["tagdb"].file(TagDatabase.DB), self.shard,
                              self.n_shards)
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

        return read_previews_json(self.file(self.PREVIEWS),
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
            extract_shard_files(self.requires().file(FetchPreviews.PREVIEWS), tmp,
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


class SpectrogramIndex(ShardIndex):
    """All spectrogram shards of the track list, and ``manifest.json`` over them."""

    feature = "mel"
    shard_task = Spectrograms
