"""Tag model stage: train the CNN on the spectrograms, then score it on the test split.

``TrainTagModel`` holds the ``training`` resource (``[resources] training=1``
in luigi.cfg), so that one model trains at a time however many workers run.
Its checkpoints live in the task's ``.work`` folder: a killed run, started
again, resumes after the last finished epoch.
"""

import luigi

from pipeline.echonest import feature_index_task
from pipeline.base import KrotosTask, Replicated
from pipeline.split import SongSplit
from pipeline.tagdb import TagDatabase


def _int_tuple(text):
    return tuple(int(v) for v in str(text).replace(",", " ").split())


def _str_tuple(text):
    return tuple(v for v in str(text).replace(",", " ").split())


def _frames(seconds, params):
    """Frames of ``seconds`` at the spectrograms' frame rate (from the manifest)."""
    try:
        rate = float(params["sample_rate"]) / float(params["hop_length"])
    except KeyError as exc:
        raise ValueError(f"the spectrogram manifest's params lack {exc}; cannot convert "
                         f"window_seconds to frames") from None
    return max(1, int(round(float(seconds) * rate)))


def _split_targets(tagdb_path, manifest, song_split):
    """Splits (every track), vocabulary, and tag vectors of the tracks with spectrograms."""
    from krotos.tagdb import TagDB

    have = {tid for shard in manifest["shards"] for tid in shard["track_ids"]}
    splits = {name: song_split.tracks(name) for name in ("train", "valid", "test")}
    with TagDB(tagdb_path) as db:
        vocabulary = db.vocabulary()
        ids = [t for name in ("train", "valid", "test") for t in splits[name] if t in have]
        matrix = db.tag_matrix(ids) if ids else None
    targets = {t: matrix[i] for i, t in enumerate(ids)}
    return splits, targets, vocabulary


class TrainTagModel(Replicated, KrotosTask):
    """The tag CNN (``model.keras`` + ``normalization.json``, ``vocabulary.json``,
    ``training.json``); TensorBoard logs in the ``.work`` folder while training.

    Trains on the ``train`` tracks of ``SongSplit`` and stops early on the
    ``valid`` ones; the test tracks are refused (:func:`krotos.splits.check_no_test_tracks`)."""

    version = 2
    resources = {"training": 1}

    window_seconds = luigi.FloatParameter(default=3.0, description="training window, seconds")
    filters = luigi.Parameter(default="256,256,512,512", description="conv filters per layer")
    kernel_size = luigi.IntParameter(default=4, description="conv width in frames")
    pool_sizes = luigi.Parameter(default="4,2,2",
                                 description="max-pool after each conv but the last")
    dense_units = luigi.Parameter(default="2048,2048", description="hidden dense layers")
    dropout = luigi.FloatParameter(default=0.5, description="dropout after each dense layer")
    batch_norm = luigi.BoolParameter(default=False, parsing=luigi.BoolParameter.EXPLICIT_PARSING,
                                     description="batch norm after each conv")
    global_pooling = luigi.Parameter(default="mean,max,l2", description="temporal pooling stats")
    epochs = luigi.IntParameter(default=50, description="maximum epochs")
    batch_size = luigi.IntParameter(default=32, description="windows per step")
    crops_per_track = luigi.IntParameter(default=1,
                                         description="random windows per track per epoch")
    optimizer = luigi.ChoiceParameter(choices=["adam", "adamw", "sgd", "rmsprop"], default="adam",
                                      description="optimizer")
    learning_rate = luigi.FloatParameter(default=1e-3, description="(peak) learning rate")
    schedule = luigi.ChoiceParameter(choices=["constant", "cosine", "exponential"],
                                     default="constant", description="learning-rate schedule")
    weight_decay = luigi.FloatParameter(default=0.0, description="0 = none")
    patience = luigi.IntParameter(default=5, description="epochs without val ROC-AUC gain")
    stats_max_tracks = luigi.IntParameter(default=5000,
                                          description="tracks read for band statistics")
    eval_max_windows = luigi.IntParameter(default=0,
                                          description="validation windows per clip; 0 = all")
    seed = luigi.IntParameter(default=0, description="random seed")
    cache_mb = luigi.FloatParameter(default=1024, significant=False,
                                    description="MB of RAM for caching a split's spectrograms "
                                                "(used if the split fits whole)")
    threads = luigi.IntParameter(default=0, significant=False,
                                 description="TensorFlow intra-op threads; 0 = all cores")

    def requires(self):
        return {"tagdb": TagDatabase(), "spectrograms": feature_index_task(),
                "split": SongSplit(replicate=self.replicate)}

    def run(self):
        from krotos.audio.manifest import read_manifest
        from krotos.model.train import configure_threads, train_tag_model
        from krotos.splits import check_no_test_tracks

        configure_threads(self.threads, 2 if self.threads else 0)
        manifest = read_manifest(self.requires()["spectrograms"].file("manifest.json"))
        song_split = self.requires()["split"].read()
        splits, targets, vocabulary = _split_targets(
            self.requires()["tagdb"].file("tags.sqlite"), manifest, song_split)
        check_no_test_tracks(song_split, splits["train"] + splits["valid"], "tag model training")
        with self.staging() as tmp:
            train_tag_model(
                [s["path"] for s in manifest["shards"]],
                {"train": splits["train"], "valid": splits["valid"]}, targets, vocabulary,
                out_dir=tmp, work_dir=self.work_dir,
                window_frames=_frames(self.window_seconds, manifest["params"]),
                filters=_int_tuple(self.filters), kernel_size=self.kernel_size,
                pool_sizes=_int_tuple(self.pool_sizes), dense_units=_int_tuple(self.dense_units),
                dropout=self.dropout, batch_norm=self.batch_norm,
                global_pooling=_str_tuple(self.global_pooling), epochs=self.epochs,
                batch_size=self.batch_size, optimizer=self.optimizer,
                learning_rate=self.learning_rate, schedule=self.schedule,
                weight_decay=self.weight_decay or None, patience=self.patience,
                crops_per_track=self.crops_per_track, stats_max_tracks=self.stats_max_tracks,
                eval_max_windows=self.eval_max_windows or None,
                seed=self.replicate_seed(self.seed),
                cache_mb=self.cache_mb,
                n_mels=manifest["params"].get("n_mels"), progress=self.progress)


class EvaluateTags(Replicated, KrotosTask):
    """Per-tag ROC-AUC / PR-AUC of the tag model on the test tracks, beside a
    bag-of-frames logistic baseline, with 95% bootstrap intervals over clips
    (``metrics.json``)."""

    version = 2

    n_resamples = luigi.IntParameter(default=1000, description="bootstrap resamples")
    seed = luigi.IntParameter(default=0, description="seed of the bootstrap")
    batch_size = luigi.IntParameter(default=64, significant=False, description="windows per batch")
    max_windows = luigi.IntParameter(default=0, description="windows per clip; 0 = all")
    threads = luigi.IntParameter(default=0, significant=False,
                                 description="TensorFlow intra-op threads; 0 = all cores")

    def requires(self):
        return {"model": TrainTagModel(replicate=self.replicate), "tagdb": TagDatabase(),
                "spectrograms": feature_index_task(), "split": SongSplit(replicate=self.replicate)}

    def run(self):
        import json
        import os

        from krotos.audio.manifest import read_manifest
        from krotos.model.evaluate import evaluate_tags
        from krotos.model.tag_baseline import tag_baseline_scores
        from krotos.model.train import configure_threads

        configure_threads(self.threads, 2 if self.threads else 0)
        manifest = read_manifest(self.requires()["spectrograms"].file("manifest.json"))
        shard_paths = [s["path"] for s in manifest["shards"]]
        splits, targets, vocabulary = _split_targets(
            self.requires()["tagdb"].file("tags.sqlite"), manifest,
            self.requires()["split"].read())
        baseline = {}

        def baseline_scores(test_ids):
            import numpy as np

            ids, scores, info = tag_baseline_scores(
                shard_paths, dict(splits, test=list(test_ids)), targets)
            baseline.update(info)
            # A clip without clip statistics (non-finite frames) gets a NaN
            # row; evaluate_tags then drops it for both models and says so.
            out = np.full((len(test_ids), scores.shape[1]), np.nan, dtype=np.float64)
            row = {t: i for i, t in enumerate(ids)}
            for i, t in enumerate(test_ids):
                if t in row:
                    out[i] = scores[row[t]]
            return out

        metrics = evaluate_tags(
            self.requires()["model"].file("model.keras"), shard_paths, splits, targets,
            vocabulary, baseline_scores=baseline_scores, n_resamples=self.n_resamples,
            seed=self.replicate_seed(self.seed), batch_size=self.batch_size,
            max_windows=self.max_windows or None, progress=self.progress)
        metrics["bag_of_frames_baseline"] = baseline
        with self.staging() as tmp:
            with open(os.path.join(tmp, "metrics.json"), "w") as f:
                json.dump(metrics, f, indent=1, sort_keys=True)
        cnn = metrics["models"]["cnn"]["roc_auc_macro"]
        self.set_status_message(f"test ROC-AUC {cnn['value']:.3f} "
                                f"[{cnn['ci_low']:.3f}, {cnn['ci_high']:.3f}]")
