"""Tag model stage: train the CNN on the spectrograms, then score it on the test split.

``TrainTagModel`` holds the ``training`` resource (``[resources] training=1``
in luigi.cfg), so that one model trains at a time however many workers run.
Its checkpoints live in the task's ``.work`` folder: a killed run, started
again, resumes after the last finished epoch.
"""

import dataclasses
import os

import luigi

from krotos.model.augment import Augmentation
from krotos.model.params import TagEvaluationParams, TagModelParams, TrainingParams

from pipeline.features import ShardIndex, feature_index_task
from pipeline.base import KrotosTask, Replicated
from pipeline.split import SongSplit
from pipeline.tagdb import TagDatabase


def _fields_of(task, cls):
    """``{field: task's parameter value}`` for the fields of dataclass ``cls`` that
    ``task`` has as Luigi parameters (the others keep the class's code-only defaults)."""
    names = {name for name, _ in task.get_params()}
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(cls) if f.name in names}


class TrainTagModel(Replicated, KrotosTask):
    """The tag CNN (``model.keras`` + ``normalization.json``, ``vocabulary.json``,
    ``features.json``, ``training.json``); TensorBoard logs in the ``.work``
    folder while training.

    Trains on the ``train`` tracks of ``SongSplit`` and stops early on the
    ``valid`` ones; the test tracks are refused (:func:`krotos.splits.check_no_test_tracks`).
    The architecture and the augmentation are checked against the window and
    the mel bands before any spectrogram is read."""

    version = 3
    resources = {"training": 1}

    #: Output files (written by :func:`krotos.model.train.train_tag_model`).
    MODEL = "model.keras"
    TRAINING = "training.json"

    # The defaults are those of krotos.model.params (= luigi.cfg's, checked by
    # tests/test_config_defaults.py); run() hands the library the two objects whole.
    window_seconds = luigi.FloatParameter(default=3.0, description="training window, seconds")
    architecture = luigi.ChoiceParameter(choices=["dieleman", "shortchunk"],
                                         default=TagModelParams.architecture,
                                         description="1-D Dieleman CNN or 2-D short-chunk CNN")
    filters = luigi.ListParameter(default=TagModelParams.filters,
                                  description="conv filters per layer (JSON list)")
    kernel_size = luigi.IntParameter(default=TagModelParams.kernel_size,
                                     description="conv width in frames (shortchunk: side of the "
                                                 "square kernel)")
    pool_sizes = luigi.ListParameter(default=TagModelParams.pool_sizes,
                                     description="dieleman: max-pool after each conv but the last; "
                                                 "shortchunk: after each conv, N or \"TIMExFREQ\" "
                                                 "(JSON list)")
    dense_units = luigi.ListParameter(default=TagModelParams.dense_units,
                                      description="hidden dense layers (JSON list)")
    dropout = luigi.FloatParameter(default=TagModelParams.dropout,
                                   description="dropout after each dense layer")
    batch_norm = luigi.BoolParameter(default=TagModelParams.batch_norm,
                                     parsing=luigi.BoolParameter.EXPLICIT_PARSING,
                                     description="batch norm after each conv")
    residual = luigi.BoolParameter(default=TagModelParams.residual,
                                   parsing=luigi.BoolParameter.EXPLICIT_PARSING,
                                   description="shortchunk: residual blocks")
    global_pooling = luigi.ListParameter(default=TagModelParams.global_pooling,
                                         description="temporal pooling stats (JSON list)")
    epochs = luigi.IntParameter(default=TrainingParams.epochs, description="maximum epochs")
    batch_size = luigi.IntParameter(default=TrainingParams.batch_size,
                                    description="windows per step")
    crops_per_track = luigi.IntParameter(default=TrainingParams.crops_per_track,
                                         description="random windows per track per epoch")
    optimizer = luigi.ChoiceParameter(choices=["adam", "adamw", "sgd", "rmsprop"],
                                      default=TrainingParams.optimizer, description="optimizer")
    learning_rate = luigi.FloatParameter(default=TrainingParams.learning_rate,
                                         description="(peak) learning rate")
    schedule = luigi.ChoiceParameter(choices=["constant", "cosine", "exponential"],
                                     default=TrainingParams.schedule,
                                     description="learning-rate schedule")
    warmup_epochs = luigi.FloatParameter(default=TrainingParams.warmup_epochs,
                                         description="linear warm-up, epochs")
    weight_decay = luigi.FloatParameter(default=TrainingParams.weight_decay,
                                        description="0 = none")
    label_smoothing = luigi.FloatParameter(default=TrainingParams.label_smoothing,
                                           description="0 = none")
    gain_db = luigi.FloatParameter(default=Augmentation.gain_db,
                                   description="augmentation: random gain, +-dB")
    time_shift = luigi.IntParameter(default=Augmentation.time_shift,
                                    description="augmentation: circular shift, frames")
    time_masks = luigi.IntParameter(default=Augmentation.time_masks,
                                    description="augmentation: SpecAugment time masks")
    time_mask_frames = luigi.IntParameter(default=Augmentation.time_mask_frames,
                                          description="widest time mask, frames")
    freq_masks = luigi.IntParameter(default=Augmentation.freq_masks,
                                    description="augmentation: frequency masks")
    freq_mask_bands = luigi.IntParameter(default=Augmentation.freq_mask_bands,
                                         description="widest frequency mask, bands")
    mixup = luigi.FloatParameter(default=Augmentation.mixup,
                                 description="augmentation: mixup alpha; 0 = off")
    patience = luigi.IntParameter(default=TrainingParams.patience,
                                  description="epochs without val ROC-AUC gain")
    stats_max_tracks = luigi.IntParameter(default=TrainingParams.stats_max_tracks,
                                          description="tracks read for band statistics")
    max_train_tracks = luigi.IntParameter(default=TrainingParams.max_train_tracks,
                                          description="train on a seeded subset of this many "
                                                      "tracks; 0 = all")
    eval_max_windows = luigi.IntParameter(default=TrainingParams.eval_max_windows,
                                          description="validation windows per clip; 0 = all")
    seed = luigi.IntParameter(default=TrainingParams.seed, description="random seed")
    cache_mb = luigi.FloatParameter(default=TrainingParams.cache_mb, significant=False,
                                    description="MB of RAM for caching a split's spectrograms "
                                                "(used if the split fits whole)")
    threads = luigi.IntParameter(default=0, significant=False,
                                 description="TensorFlow intra-op threads; 0 = all cores")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Unsafe settings are refused when the task is configured, before
        # anything runs; what needs the data (window, bands) is checked again
        # before training reads any spectrogram.
        try:
            network, training = self.network_params(), self.training_params()
            training.augmentation.check(batch_size=training.batch_size)
        except ValueError as exc:
            raise ValueError(f"[TrainTagModel] {exc}") from None
        if network.residual and network.architecture != "shortchunk":
            raise ValueError("[TrainTagModel] residual = true needs architecture = shortchunk")

    def requires(self):
        return {"tagdb": TagDatabase(), "spectrograms": feature_index_task(),
                "split": SongSplit(replicate=self.replicate)}

    def network_params(self):
        """The architecture: :class:`krotos.model.params.TagModelParams`."""
        return TagModelParams(**_fields_of(self, TagModelParams))

    def training_params(self):
        """How it trains: :class:`krotos.model.params.TrainingParams` (seed shifted by the
        replicate number)."""
        return TrainingParams(**dict(_fields_of(self, TrainingParams),
                                     augmentation=Augmentation(**_fields_of(self, Augmentation)),
                                     seed=self.replicate_seed(self.seed)))

    def run(self):
        from krotos.model.stages import train_tag_stage

        inputs = self.requires()
        with self.staging() as tmp:
            train_tag_stage(
                inputs["spectrograms"].file(ShardIndex.MANIFEST), inputs["tagdb"].file(TagDatabase.DB),
                inputs["split"].read(), tmp, self.work_dir, window_seconds=self.window_seconds,
                network=self.network_params(), training=self.training_params(),
                threads=self.threads, progress=self.progress)


class Embed(Replicated, KrotosTask):
    """The penultimate-layer embedding of every track with a spectrogram
    (``embeddings.h5``: ``track_ids``, ``embeddings``; see :mod:`krotos.model.embed`).

    The model is this pipeline's ``TrainTagModel``, or with ``model`` any tag
    model trained elsewhere on the same input features (checked against the
    spectrograms' extraction parameters)."""

    version = 1

    #: Output file.
    EMBEDDINGS = "embeddings.h5"

    model = luigi.Parameter(default="", description="a tag model (model.keras or TrainTagModel "
                                                    "folder) to use instead of TrainTagModel")
    batch_size = luigi.IntParameter(default=64, significant=False, description="windows per batch")
    max_windows = luigi.IntParameter(default=0, description="windows per clip; 0 = all")
    threads = luigi.IntParameter(default=0, significant=False,
                                 description="TensorFlow intra-op threads; 0 = all cores")

    def requires(self):
        inputs = {"spectrograms": feature_index_task()}
        if not self.model:
            inputs["model"] = TrainTagModel(replicate=self.replicate)
        return inputs

    def signature_params(self):
        params = super().signature_params()
        if self.model:
            # A path says nothing of what is in it: the model's content signs.
            from krotos.model.embed import model_digest

            params["model"] = model_digest(self.model)
        return params

    def model_path(self):
        return self.model or self.requires()["model"].file(TrainTagModel.MODEL)

    def run(self):
        from krotos.model.stages import embed_stage

        with self.staging() as tmp:
            result = embed_stage(
                self.model_path(), self.requires()["spectrograms"].file(ShardIndex.MANIFEST),
                os.path.join(tmp, self.EMBEDDINGS), batch_size=self.batch_size,
                max_windows=self.max_windows or None, threads=self.threads, progress=self.progress)
        self.set_status_message(f"{result['n_tracks']} tracks embedded in {result['dim']} "
                                f"dimensions ({result['n_failed']} without a finite window)")


class EvaluateTags(Replicated, KrotosTask):
    """Per-tag ROC-AUC / PR-AUC of the tag model on the test tracks, beside a
    bag-of-frames logistic baseline and a linear probe on the tag model's
    embeddings (``Embed``), with 95% bootstrap intervals over clips
    (``metrics.json``)."""

    version = 3

    #: Output file.
    METRICS = "metrics.json"

    n_resamples = luigi.IntParameter(default=TagEvaluationParams.n_resamples,
                                     description="bootstrap resamples")
    seed = luigi.IntParameter(default=TagEvaluationParams.seed, description="seed of the bootstrap")
    batch_size = luigi.IntParameter(default=TagEvaluationParams.batch_size, significant=False,
                                    description="windows per batch")
    max_windows = luigi.IntParameter(default=TagEvaluationParams.max_windows,
                                     description="windows per clip; 0 = all")
    linear_probe = luigi.BoolParameter(default=True, parsing=luigi.BoolParameter.EXPLICIT_PARSING,
                                       description="also score a linear probe on the embeddings")
    threads = luigi.IntParameter(default=0, significant=False,
                                 description="TensorFlow intra-op threads; 0 = all cores")

    def requires(self):
        inputs = {"model": TrainTagModel(replicate=self.replicate), "tagdb": TagDatabase(),
                  "spectrograms": feature_index_task(),
                  "split": SongSplit(replicate=self.replicate)}
        if self.linear_probe:
            inputs["embeddings"] = Embed(replicate=self.replicate)
        return inputs

    def evaluation_params(self):
        """:class:`krotos.model.params.TagEvaluationParams` (seed shifted by the replicate number)."""
        return TagEvaluationParams(**dict(_fields_of(self, TagEvaluationParams),
                                          seed=self.replicate_seed(self.seed)))

    def run(self):
        from krotos.model.stages import evaluate_tags_stage
        from krotos.report.summary import format_interval
        from krotos.signature import output_name

        inputs = self.requires()
        embeddings = inputs.get("embeddings")
        with self.staging() as tmp:
            metrics = evaluate_tags_stage(
                inputs["model"].output_dir, inputs["spectrograms"].file(ShardIndex.MANIFEST),
                inputs["tagdb"].file(TagDatabase.DB), inputs["split"].read(),
                os.path.join(tmp, self.METRICS), params=self.evaluation_params(),
                embeddings=embeddings.file(Embed.EMBEDDINGS) if embeddings else None,
                embeddings_model=output_name(embeddings.model_path()) if embeddings else "",
                threads=self.threads, progress=self.progress)
        self.set_status_message(
            f"test ROC-AUC {format_interval(metrics['models']['cnn']['roc_auc_macro'])}")


class DemoTagCeiling(Replicated, KrotosTask):
    """The demo's tag ceiling (``metrics.json``): tags predicted from what each
    test track is truly made of, scored on the clips ``EvaluateTags`` scores
    (see :mod:`krotos.demo.ceiling`). Only for the built-in demo, whose
    generator knows those attributes."""

    version = 1

    #: Output file.
    METRICS = "metrics.json"

    n_resamples = luigi.IntParameter(default=1000, description="bootstrap resamples")
    seed = luigi.IntParameter(default=0, description="seed of the bootstrap")

    def requires(self):
        from pipeline.dataset import dataset_task
        from pipeline.demo import DemoDataset

        demo = dataset_task()
        if not isinstance(demo, DemoDataset):
            raise ValueError("DemoTagCeiling needs the built-in demo dataset (its generator "
                             "knows what each track is made of); a real dataset is configured "
                             "in [krotos]")
        return {"demo": demo, "tagdb": TagDatabase(), "spectrograms": feature_index_task(),
                "split": SongSplit(replicate=self.replicate)}

    def run(self):
        from krotos.model.stages import tag_ceiling_stage
        from krotos.report.summary import format_interval

        inputs = self.requires()
        demo = inputs["demo"]
        with self.staging() as tmp:
            metrics = tag_ceiling_stage(
                demo.n_songs, demo.n_users, demo.seed, inputs["spectrograms"].file(ShardIndex.MANIFEST),
                inputs["tagdb"].file(TagDatabase.DB), inputs["split"].read(),
                os.path.join(tmp, self.METRICS), n_resamples=self.n_resamples,
                seed=self.replicate_seed(self.seed), progress=self.progress)
        self.set_status_message(
            f"ceiling ROC-AUC {format_interval(metrics['models']['audible_attributes']['roc_auc_macro'])}")


#: ``[CompareTagModels] grid`` of luigi.cfg (where the points are explained).
DEFAULT_COMPARISON_GRID = {
    "default": {},
    "default + specaug + mixup": {
        "architecture": "shortchunk", "window_seconds": 3.0, "filters": [8, 16, 32, 32, 64],
        "kernel_size": 3, "pool_sizes": [2, 2, 2, 2, 2], "dense_units": [128], "dropout": 0.1,
        "batch_norm": True, "gain_db": 6, "time_masks": 2, "time_mask_frames": 12,
        "freq_masks": 2, "freq_mask_bands": 12, "mixup": 0.2},
    "shortchunk 16-64, dropout 0.5": {
        "architecture": "shortchunk", "window_seconds": 3.7, "filters": [16, 32, 32, 64, 64],
        "kernel_size": 3, "pool_sizes": [2, 2, 2, 2, 2], "dense_units": [128], "dropout": 0.5,
        "batch_norm": True},
    "dieleman + batch norm": {
        "architecture": "dieleman", "window_seconds": 3.0, "filters": [32, 32, 64, 64],
        "kernel_size": 4, "pool_sizes": [4, 2, 2], "dense_units": [256, 256], "dropout": 0.5,
        "batch_norm": True},
}


class CompareTagModels(KrotosTask):
    """Every model of a grid under ``seeds`` replicates, scored beside the bag of
    frames on the same test clips (``comparison.json``, ``comparison.md``,
    ``comparison.png``; see :mod:`krotos.model.compare`).

    Each grid point is a set of ``[TrainTagModel]`` settings that override
    luigi.cfg's; each point and replicate is one ``TrainTagModel`` task (so
    ``--workers N`` and reruns reuse them, and the point without overrides is
    the main job's own model). ``curve_config`` is also trained on seeded
    subsets of ``train_sizes`` training tracks: the learning curve against
    the bag of frames. The best model is chosen on the validation ROC-AUC."""

    version = 1

    #: Output files.
    TABLE_JSON = "comparison.json"
    TABLE_MD = "comparison.md"
    PLOT = "comparison.png"

    seeds = luigi.IntParameter(default=3, description="replicates (seeds 0..seeds-1)")
    grid = luigi.DictParameter(default=DEFAULT_COMPARISON_GRID,
                               description="{name: {TrainTagModel parameter: value}} (JSON)")
    curve_config = luigi.Parameter(default="default",
                                   description="grid point of the learning curve")
    train_sizes = luigi.ListParameter(default=(100, 200),
                                      description="training tracks of the learning curve, e.g. "
                                                  "[100, 200, 400] (the full set is always there)")
    n_resamples = luigi.IntParameter(default=TagEvaluationParams.n_resamples,
                                     description="bootstrap resamples")
    seed = luigi.IntParameter(default=TagEvaluationParams.seed, description="seed of the bootstrap")
    batch_size = luigi.IntParameter(default=TagEvaluationParams.batch_size, significant=False,
                                    description="windows per batch")
    threads = luigi.IntParameter(default=0, significant=False,
                                 description="TensorFlow intra-op threads; 0 = all cores")

    def _overrides(self, name):
        params = dict(TrainTagModel.get_params())
        out = {}
        for key, value in dict(self.grid[name]).items():
            if key not in params or key in ("replicate", "max_train_tracks"):
                raise ValueError(f"[CompareTagModels] grid point {name!r}: {key!r} is not a "
                                 f"TrainTagModel setting that a grid point may change")
            param = params[key]
            out[key] = param.parse(value) if isinstance(value, str) else param.normalize(value)
        return out

    def points(self):
        """``(name, train_size, replicate, TrainTagModel)`` of every run."""
        if self.curve_config not in self.grid:
            raise ValueError(f"[CompareTagModels] curve_config {self.curve_config!r} is not a "
                             f"grid point ({sorted(self.grid)})")
        sizes = sorted({int(v) for v in self.train_sizes} - {0})
        if any(s < 1 for s in sizes):
            raise ValueError(f"[CompareTagModels] train_sizes must be positive: {sizes}")
        out = []
        for name in self.grid:
            overrides = self._overrides(name)
            for r in range(self.seeds):
                out.append((name, 0, r, TrainTagModel(replicate=r, **overrides)))
        for size in sizes:
            overrides = self._overrides(self.curve_config)
            for r in range(self.seeds):
                out.append((self.curve_config, size, r,
                            TrainTagModel(replicate=r, max_train_tracks=size, **overrides)))
        return out

    def requires(self):
        return {"models": [task for *_, task in self.points()], "tagdb": TagDatabase(),
                "spectrograms": feature_index_task(),
                "splits": [SongSplit(replicate=r) for r in range(self.seeds)]}

    def run(self):
        from krotos.model.stages import compare_tags_stage

        inputs = self.requires()
        runs = [dict(config=name, train_size=size, replicate=r, model_dir=task.output_dir)
                for name, size, r, task in self.points()]
        with self.staging() as tmp:
            result = compare_tags_stage(
                runs, inputs["spectrograms"].file(ShardIndex.MANIFEST),
                inputs["tagdb"].file(TagDatabase.DB), [split.read() for split in inputs["splits"]],
                {"json": os.path.join(tmp, self.TABLE_JSON), "md": os.path.join(tmp, self.TABLE_MD),
                 "png": os.path.join(tmp, self.PLOT)},
                grid=self.grid, curve_config=self.curve_config,
                params=TagEvaluationParams(**_fields_of(self, TagEvaluationParams)),
                threads=self.threads, progress=self.progress)
        self.set_status_message(f"chosen on validation: {result['summary']['chosen']}")
