"""Training the tag CNN on tiny shards with a planted, learnable tag signal."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from krotos.shards.writer import ShardWriter  # noqa: E402
from krotos.model import data, network  # noqa: E402
from krotos.model.evaluate import evaluate_tags  # noqa: E402
from krotos.model.params import TagEvaluationParams, TagModelParams, TrainingParams  # noqa: E402
from krotos.model.tag_baseline import tag_baseline_scores  # noqa: E402
from krotos.model.train import Objective, train, train_tag_model  # noqa: E402

# Real training of tag models on a tiny corpus (about a minute in all).
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
N_MELS = 16
VOCAB = ["pulse-low", "pulse-mid", "pulse-high", "never"]
#: A small Dieleman network and how it trains, as train_small's keywords.
SMALL = dict(window_frames=32, architecture="dieleman", filters=(8, 8), kernel_size=4,
             pool_sizes=(2,), dense_units=(16,), dropout=0.5, batch_norm=False,
             batch_size=8, learning_rate=3e-3, crops_per_track=2, seed=5, patience=5)
TINY_NET = TagModelParams(architecture="dieleman", filters=(8, 8), kernel_size=4, pool_sizes=(2,),
                          dense_units=(16,), dropout=0.5, batch_norm=False)


def train_small(paths, splits, targets, out, work, *, progress=None, n_mels=None, **settings):
    """:func:`train_tag_model` with flat ``settings`` sorted into its two parameter objects."""
    window_frames = settings.pop("window_frames")
    net = {f.name for f in dataclasses.fields(TagModelParams)}
    network_settings = {k: v for k, v in settings.items() if k in net}
    training = TrainingParams(**{k: v for k, v in settings.items() if k not in net})
    extra = {"progress": progress} if progress else {}
    return train_tag_model(paths, splits, targets, VOCAB, out, work, window_frames=window_frames,
                           network=TagModelParams(**network_settings), training=training,
                           n_mels=n_mels, **extra)


def planted(n_tracks=72, seed=0):
    """Random spectrograms where tag k is a 4-frame pulse in mel bands 5k..5k+4.

    Tag "never" has no positive anywhere. Returns (spectrograms, targets).
    """
    rng = np.random.default_rng(seed)
    specs, targets = {}, {}
    for i in range(n_tracks):
        tid = f"TRPLANT{i:05d}"
        n = int(rng.integers(48, 96))
        x = rng.normal(-40, 3, (n, N_MELS))
        y = np.zeros(len(VOCAB), np.float32)
        y[:3] = rng.random(3) < 0.4
        pulse = (np.arange(n) % 4 < 2)[:, None] * 6.0
        for k in range(3):
            if y[k]:
                x[:, 5 * k:5 * k + 5] += pulse
        specs[tid], targets[tid] = x.astype(np.float32), y
    return specs, targets


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    specs, targets = planted()
    ids = sorted(specs)
    paths = []
    for s in range(0, len(ids), 24):
        path = str(folder / f"shard-{s // 24}.h5")
        with ShardWriter(path, N_MELS, attrs={"n_mels": N_MELS}) as w:
            for tid in ids[s:s + 24]:
                w.append(tid, specs[tid])
        paths.append(path)
    splits = {"train": ids[:44], "valid": ids[44:58], "test": ids[58:]}
    return paths, splits, targets


def test_learns_planted_tags_and_writes_model_files(corpus, tmp_path):
    paths, splits, targets = corpus
    messages = []
    summary = train_small(paths, splits, targets, tmp_path / "out", tmp_path / "work",
                          progress=lambda f, m=None: messages.append((f, m)),
                          **dict(SMALL, epochs=25, patience=25))
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["model.keras", "normalization.json", "tracks.json", "training.json",
                                       "vocabulary.json"]
    assert json.loads((out / "vocabulary.json").read_text()) == VOCAB
    norm = json.loads((out / "normalization.json").read_text())
    assert len(norm["mean"]) == N_MELS and norm["window_frames"] == 32
    assert summary["tags_without_train_positives"] == ["never"]
    assert summary["best_metric"] > 0.9
    assert os.listdir(tmp_path / "work" / "tensorboard")
    assert messages[-1][0] == 1.0 and any("epoch 3/25" in (m or "") for _, m in messages)

    info = {}

    def bag_of_frames(test_ids):
        ids, scores, fitted = tag_baseline_scores(paths, dict(splits, test=list(test_ids)),
                                                  targets)
        info.update(fitted)
        return scores[[ids.index(t) for t in test_ids]]

    metrics = evaluate_tags(str(out / "model.keras"), paths, splits, targets, VOCAB,
                            baseline_scores=bag_of_frames,
                            params=TagEvaluationParams(n_resamples=300))
    cnn = metrics["models"]["cnn"]
    assert cnn["roc_auc_macro"]["value"] >= 0.9
    scored = [v["roc_auc"] for v in metrics["per_tag"].values() if v["status"] == "ok"]
    assert cnn["roc_auc_macro"]["value"] == pytest.approx(np.mean(scored))
    for name, entry in {**metrics["models"], **metrics["paired"]}.items():
        assert set(entry) == {"roc_auc_macro", "pr_auc_macro"}, name
        for iv in entry.values():
            assert iv["ci_low"] <= iv["value"] <= iv["ci_high"]
    assert set(metrics["models"]) == {"cnn", "bag_of_frames"}
    assert set(metrics["paired"]) == {"cnn_minus_bag_of_frames"}
    diff = metrics["paired"]["cnn_minus_bag_of_frames"]["roc_auc_macro"]
    base = metrics["models"]["bag_of_frames"]["roc_auc_macro"]
    assert diff["value"] == pytest.approx(cnn["roc_auc_macro"]["value"] - base["value"])
    assert metrics["bootstrap"]["unit"] == "clip" and metrics["bootstrap"]["n_resamples"] == 300
    assert "roc_auc_macro" not in metrics and info["n_train"] == len(splits["train"])
    # 14 test clips: far too few for a useful interval, and the report says so.
    assert metrics["warnings"][0].startswith("only 14 clips evaluated")
    assert metrics["per_tag"]["never"]["status"] == "no_positive"
    assert metrics["n_tags_scored"] == 3 and metrics["n_test_clips_scored"] == len(splits["test"])

    alone = evaluate_tags(str(out / "model.keras"), paths, splits, targets, VOCAB,
                          params=TagEvaluationParams(n_resamples=100))
    assert set(alone["models"]) == {"cnn"} and alone["paired"] == {}
    assert alone["models"]["cnn"]["roc_auc_macro"]["value"] == cnn["roc_auc_macro"]["value"]


KILLED_RUN = """
import json, sys, time
import numpy as np
from krotos.model.params import TagModelParams, TrainingParams
from krotos.model.train import train_tag_model
args = json.load(open(sys.argv[1]))
def progress(fraction, message=None):
    if message and message.startswith("epoch 2/4:"):
        open(args["marker"], "w").close()
        time.sleep(600)
targets = {t: np.array(v, np.float32) for t, v in args["targets"].items()}
train_tag_model(args["paths"], args["splits"], targets, args["vocab"], args["out"], args["work"],
                window_frames=args["window_frames"], network=TagModelParams(**args["network"]),
                training=TrainingParams(**args["training"]), progress=progress)
"""


def test_killed_run_resumes_from_its_last_checkpoint(corpus, tmp_path):
    paths, splits, targets = corpus
    args = dict(paths=paths, splits=splits, targets={t: v.tolist() for t, v in targets.items()},
                vocab=VOCAB, out=str(tmp_path / "out"), work=str(tmp_path / "work"),
                marker=str(tmp_path / "after-epoch-2"), window_frames=SMALL["window_frames"],
                network=TINY_NET.as_dict(),
                training=dict(batch_size=8, learning_rate=3e-3, crops_per_track=2, seed=5,
                              epochs=4, patience=10))
    (tmp_path / "args.json").write_text(json.dumps(args))
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path / "args.json")],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(args["marker"]):
            if child.poll() is not None:
                pytest.fail(f"training child exited early: {child.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "training child never finished epoch 2"
            time.sleep(0.1)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert not (tmp_path / "out").exists()
    assert json.loads((tmp_path / "work" / "state.json").read_text())["epoch"] == 2

    messages = []
    resumed = train_small(paths, splits, targets, tmp_path / "out", tmp_path / "work",
                          progress=lambda f, m=None: messages.append(m),
                          **dict(SMALL, epochs=4, patience=10))
    assert any(m and m.startswith("resuming after epoch 2") for m in messages)
    assert not any(m and m.startswith(("epoch 1/4", "epoch 2/4")) for m in messages)
    straight = train_small(paths, splits, targets, tmp_path / "out2", tmp_path / "work2",
                           **dict(SMALL, epochs=4, patience=10))
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4]
    # The resumed run continues exactly where the uninterrupted one would be.
    for a, b in zip(resumed["history"], straight["history"]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["val_roc_auc"] == pytest.approx(b["val_roc_auc"], abs=1e-3)


def test_finished_work_dir_is_not_retrained(corpus, tmp_path):
    paths, splits, targets = corpus
    first = train_small(paths, splits, targets, tmp_path / "out", tmp_path / "work",
                        **dict(SMALL, epochs=2))
    messages = []
    again = train_small(paths, splits, targets, tmp_path / "out2", tmp_path / "work",
                        progress=lambda f, m=None: messages.append(m), **dict(SMALL, epochs=2))
    assert again["history"] == first["history"]
    assert not any(m and m.startswith("epoch 1/2, batch") for m in messages)


def test_generic_train_freezes_convs_for_first_epochs_with_other_targets(corpus, tmp_path):
    """The fine-tuning use: latent-factor targets, MSE, frozen convolutions at first."""
    paths, splits, _ = corpus
    rng = np.random.default_rng(1)
    factors = {t: rng.normal(size=3).astype(np.float32) for s in splits.values() for t in s}
    train_index = data.index_tracks(paths, splits["train"])
    valid_index = data.index_tracks(paths, splits["valid"])
    keras.utils.set_random_seed(0)
    model = network.build_tag_model(N_MELS, 32, 3, TINY_NET, output_activation="linear")
    conv0 = model.get_layer("conv1").get_weights()[0].copy()
    out0 = model.get_layer("output").get_weights()[0].copy()

    def neg_mse(y, p):
        return -float(np.mean((y - p) ** 2))

    kwargs = dict(objective=Objective("mse", neg_mse, "neg_mse"), work_dir=str(tmp_path / "work"),
                  freeze_layers=network.conv_layer_names(model))
    settings = dict(batch_size=8, freeze_epochs=1, patience=5, crops_per_track=1)
    result = train(model, train_index, valid_index, factors,
                   params=TrainingParams(epochs=1, **settings), **kwargs)
    assert np.array_equal(model.get_layer("conv1").get_weights()[0], conv0)
    assert not np.array_equal(model.get_layer("output").get_weights()[0], out0)
    assert result["history"][0]["frozen"] is True and "neg_mse" in result["history"][0]

    result = train(model, train_index, valid_index, factors,
                   params=TrainingParams(epochs=2, **settings), **kwargs)
    assert [h["frozen"] for h in result["history"]] == [True, False]
    assert model.get_layer("conv1").trainable


def test_bad_splits_are_refused(corpus, tmp_path):
    paths, splits, targets = corpus
    with pytest.raises(ValueError, match="'valid' split is empty"):
        train_small(paths, dict(splits, valid=[]), targets, tmp_path / "o", tmp_path / "w",
                    **dict(SMALL, epochs=1))
    no_positive = {t: (np.zeros(len(VOCAB)) if t in splits["valid"] else v)
                   for t, v in targets.items()}
    with pytest.raises(ValueError, match="no tag has both positive and negative validation"):
        train_small(paths, splits, no_positive, tmp_path / "o", tmp_path / "w",
                    **dict(SMALL, epochs=1))
    with pytest.raises(ValueError, match="expected 40"):
        train_small(paths, splits, targets, tmp_path / "o", tmp_path / "w", n_mels=40,
                    **dict(SMALL, epochs=1))
    with pytest.raises(ValueError, match="test split is empty"):
        evaluate_tags("unused.keras", paths, dict(splits, test=[]), targets, VOCAB)


def test_small_data_training_options_learn_deterministically_and_are_recorded(corpus, tmp_path):
    """Augmentation, warm-up + cosine, label smoothing, AdamW, a subset of the training tracks."""
    paths, splits, targets = corpus
    kwargs = dict(SMALL, epochs=10, patience=10, optimizer="adamw", weight_decay=1e-4,
                  schedule="cosine", warmup_epochs=2, label_smoothing=0.1, max_train_tracks=36,
                  augmentation=dict(gain_db=3, time_shift=2, time_masks=1, time_mask_frames=4,
                                    freq_masks=1, freq_mask_bands=2, mixup=0.2))
    summary = train_small(paths, splits, targets, tmp_path / "out", tmp_path / "work", **kwargs)
    assert summary["best_metric"] > 0.8
    rates = [h["learning_rate"] for h in summary["history"]]
    assert rates[0] < rates[1] and rates[1] == pytest.approx(3e-3, rel=0.05)   # warm-up, peak
    assert rates[-1] < rates[2]                                                   # cosine decay
    assert summary["n_train"] == 36
    used = json.loads((tmp_path / "out" / "tracks.json").read_text())["train"]
    assert len(used) == 36 and set(used) < set(splits["train"])
    config = summary["config"]
    assert config["augmentation"]["mixup"] == 0.2 and config["label_smoothing"] == 0.1
    assert config["architecture"] == "dieleman" and config["max_train_tracks"] == 36
    assert summary["n_params"] > 0 and summary["seconds_per_epoch"] > 0
    assert summary["receptive_field_frames"] == 11
    assert json.loads((tmp_path / "out" / "training.json").read_text())["n_params"] == \
        summary["n_params"]
    again = train_small(paths, splits, targets, tmp_path / "out2", tmp_path / "work2", **kwargs)
    assert [h["loss"] for h in again["history"]] == [h["loss"] for h in summary["history"]]


def test_shortchunk_network_trains_end_to_end(corpus, tmp_path):
    paths, splits, targets = corpus
    summary = train_small(paths, splits, targets, tmp_path / "out", tmp_path / "work",
                          **dict(SMALL, architecture="shortchunk", filters=(4, 8),
                                     kernel_size=3, pool_sizes=(2, "2x1"), residual=True,
                                     epochs=3, patience=3))
    assert summary["config"]["architecture"] == "shortchunk" and summary["config"]["residual"]
    assert summary["config"]["pool_sizes"] == [2, "2x1"]
    model = network.load_model(tmp_path / "out" / "model.keras")
    assert isinstance(model.get_layer("conv1a"), keras.layers.Conv2D)


def test_unfit_settings_fail_before_any_spectrogram_is_read(corpus, tmp_path, monkeypatch):
    import krotos.model.train as train_module

    def no_reading(*args, **kwargs):
        pytest.fail("spectrograms were read before the settings were checked")

    monkeypatch.setattr(train_module, "band_statistics", no_reading)
    paths, splits, targets = corpus
    cases = [(dict(window_frames=10), r"receptive field of the dieleman network \(11 frames\) "
                                      r"is longer than the window \(10 frames\)"),
             (dict(architecture="shortchunk", filters=(4,) * 5, kernel_size=3,
                   pool_sizes=(2,) * 5, window_frames=200), "does not fit n_mels=16"),
             (dict(augmentation={"mixup": 0.2}, batch_size=1), "mixup needs batches"),
             (dict(augmentation={"freq_masks": 1, "freq_mask_bands": 16}),
              "frequency masks wider than the input"),
             (dict(max_train_tracks=-1), "max_train_tracks and freeze_epochs must be >= 0")]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message):
            train_small(paths, splits, targets, tmp_path / "o", tmp_path / "w",
                        **dict(SMALL, epochs=1, **overrides))


def test_warmup_ramps_linearly_to_the_peak_then_follows_the_schedule():
    from krotos.model.train import LinearWarmup, make_optimizer

    opt = make_optimizer("adam", 0.01, "cosine", total_steps=110, warmup_steps=10)
    schedule = opt._learning_rate
    assert isinstance(schedule, LinearWarmup)
    values = [float(schedule(step)) for step in (0, 4, 9, 10, 60, 109)]
    assert values[:3] == pytest.approx([0.001, 0.005, 0.01])
    assert values[3] == pytest.approx(0.01) and values[4] == pytest.approx(0.005, rel=0.02)
    assert values[5] < 1e-4
    flat = make_optimizer("adam", 0.01, "constant", warmup_steps=4)._learning_rate
    assert [float(flat(s)) for s in (0, 3, 50)] == pytest.approx([0.0025, 0.01, 0.01])
    copy = LinearWarmup.from_config(schedule.get_config())
    assert float(copy(60)) == pytest.approx(values[4])
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        from krotos.model.train import tag_loss

        tag_loss(1.0)
