"""TrainTagModel and EvaluateTags wired to the real upstream tasks on a tiny demo dataset."""

import json
import os
import re

import pytest

pytest.importorskip("tensorflow")

from conftest import real_fixture, run_tasks  # noqa: E402


def _embed_real_music(model_args, out):
    """`krotos embed` of the real mp3/ogg fixtures: finite, and a different vector per song."""
    import numpy as np

    from krotos.cli import main
    from krotos.model.embed import read_embeddings

    files = sorted(str(p) for p in real_fixture("audio").iterdir()
                   if p.suffix in (".mp3", ".ogg"))
    assert len(files) == 4
    assert main(["embed", *model_args, "--out", str(out), *files]) == 0
    vectors = read_embeddings(out)[1] if str(out).endswith(".h5") else np.load(out)
    assert np.isfinite(vectors).all()
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    assert distances[np.triu_indices(len(files), 1)].min() > 0.01 * np.abs(vectors).max()
    return vectors


@pytest.mark.slow  # trains and evaluates through the upstream tasks
def test_evaluate_tags_on_tiny_demo(tiny_demo, luigi_config):
    from pipeline.tags_model import EvaluateTags, TrainTagModel

    for key, value in {"architecture": "dieleman", "window_seconds": 1.5, "filters": "[8, 8]",
                       "kernel_size": 4, "pool_sizes": "[2]", "dense_units": "[16]", "epochs": 2,
                       "batch_size": 8, "threads": 2}.items():
        luigi_config.set("TrainTagModel", key, value)
    luigi_config.set("SongSplit", "valid_fraction", 0.25)     # 40 songs: a usable valid split
    luigi_config.set("Spectrograms", "min_seconds", 2.0)      # the tiny demo's clips are 4 s
    ok, ran = run_tasks([EvaluateTags()])
    assert ok
    assert any(t.startswith("TrainTagModel") for t in ran)

    train_task, evaluate_task = TrainTagModel(), EvaluateTags()
    assert train_task.resources == {"training": 1}
    files = set(os.listdir(train_task.output_dir))
    assert {"model.keras", "normalization.json", "vocabulary.json", "training.json",
            "params.json"} <= files
    assert not os.path.exists(train_task.output_dir + ".work")     # checkpoints dropped
    training = json.loads(open(train_task.file("training.json")).read())
    assert training["config"]["window_frames"] == 65                # 1.5 s at 22050 / 512
    assert [h["epoch"] for h in training["history"]] == [1, 2]

    metrics = json.loads(open(evaluate_task.file("metrics.json")).read())
    vocabulary = json.loads(open(train_task.file("vocabulary.json")).read())
    assert set(metrics["per_tag"]) == set(vocabulary)
    assert metrics["n_test_clips_scored"] > 0
    scored = [e["roc_auc"] for e in metrics["per_tag"].values() if e["status"] == "ok"]
    cnn = metrics["models"]["cnn"]["roc_auc_macro"]
    assert cnn["value"] == pytest.approx(sum(scored) / len(scored))
    assert cnn["ci_low"] <= cnn["value"] <= cnn["ci_high"]
    assert "cnn_minus_bag_of_frames" in metrics["paired"]
    assert metrics["bootstrap"]["unit"] == "clip"
    # The linear probe on the tag model's embeddings (Embed), paired with both.
    assert set(metrics["models"]) == {"cnn", "bag_of_frames", "linear_probe"}
    assert {"cnn_minus_linear_probe", "linear_probe_minus_bag_of_frames"} <= set(metrics["paired"])
    assert metrics["linear_probe"]["dim"] == 16 and metrics["linear_probe"]["n_train"] > 0
    assert metrics["tag_model"]["path"] == f"TrainTagModel/{train_task.signature()}"
    assert metrics["tag_model"]["architecture"] == "dieleman"
    assert any(t.startswith("Embed") for t in ran)
    from krotos.model.embed import read_embeddings
    from pipeline.tags_model import Embed

    ids, vectors, _ = read_embeddings(Embed().file("embeddings.h5"))
    assert vectors.shape == (len(ids), 16) and len(ids) > metrics["n_test_clips_scored"]
    assert json.loads(open(train_task.file("features.json")).read())["n_mels"] == 128
    # `krotos embed --catalogue` finds the configured model and writes the same vectors.
    import numpy as np

    from krotos.cli import main

    out = os.path.join(str(tiny_demo), "catalogue.h5")
    assert main(["embed", "--catalogue", "--out", out]) == 0
    cli_ids, cli_vectors, _ = read_embeddings(out)
    assert cli_ids == ids
    np.testing.assert_allclose(cli_vectors, vectors, rtol=1e-5, atol=1e-6)

    ok, ran = run_tasks([EvaluateTags()])                           # nothing left to do
    assert ok and ran == []

    # The pipeline's own tag model (128 mel bands, from features.json) on the real music.
    vectors = _embed_real_music([], tiny_demo.parent / "real.npy")
    assert vectors.shape == (4, 16)


@pytest.mark.slow  # trains and evaluates through the upstream tasks
def test_compare_tag_models_grid_seeds_and_learning_curve(tiny_demo, luigi_config, capsys):
    """Two architectures x two seeds and a learning-curve point, scored beside the bag of
    frames; `krotos compare-tags` writes its table into a README."""
    from krotos.cli import main
    from pipeline.tags_model import CompareTagModels, TrainTagModel

    for key, value in {"architecture": "dieleman", "window_seconds": 1.5, "filters": "[8, 8]",
                       "kernel_size": 4, "pool_sizes": "[2]", "dense_units": "[16]", "epochs": 2,
                       "batch_size": 8, "threads": 2}.items():
        luigi_config.set("TrainTagModel", key, value)
    luigi_config.set("SongSplit", "valid_fraction", 0.25)
    luigi_config.set("Spectrograms", "min_seconds", 2.0)
    luigi_config.set("Spectrograms", "n_mels", 32)
    grid = {"default": {}, "short-chunk": {"architecture": "shortchunk", "filters": [4, 8],
                                           "kernel_size": 3, "pool_sizes": [2, "2x1"],
                                           "batch_norm": "true"}}
    for key, value in {"seeds": 2, "grid": json.dumps(grid), "curve_config": "default",
                       "train_sizes": "[10]", "n_resamples": 200}.items():
        luigi_config.set("CompareTagModels", key, value)      # as `krotos compare-tags` finds it
    task = CompareTagModels()
    assert task.task_id == CompareTagModels(seeds=2, grid=grid, curve_config="default",
                                            train_sizes=[10], n_resamples=200).task_id
    readme = tiny_demo.parent / "README.md"
    readme.write_text("intro\n<!-- krotos compare-tags: begin (generated) -->\nold table\n"
                      "<!-- krotos compare-tags: end -->\noutro\n")
    assert main(["compare-tags", "--update-readme", str(readme)]) == 1     # nothing run yet
    err = capsys.readouterr().err
    assert ("no CompareTagModels output for the current configuration" in err
            and "run `luigi --module pipeline CompareTagModels --workers 2 --local-scheduler` "
                "first" in err)
    assert "old table" in readme.read_text()
    assert [(name, size, r) for name, size, r, _ in task.points()] == [
        ("default", 0, 0), ("default", 0, 1), ("short-chunk", 0, 0), ("short-chunk", 0, 1),
        ("default", 10, 0), ("default", 10, 1)]
    # The point without overrides is the main job's own model.
    assert task.points()[0][3].task_id == TrainTagModel(replicate=0).task_id
    ok, ran = run_tasks([task])
    assert ok and sum(t.startswith("TrainTagModel") for t in ran) == 6
    result = json.loads(open(task.file("comparison.json")).read())
    runs = result["runs"]
    assert len(runs) == 6 and {r["architecture"] for r in runs} == {"dieleman", "shortchunk"}
    for run in runs:
        assert run["n_params"] > 0 and run["seconds_per_epoch"] > 0
        paired = run["paired"]["cnn_minus_bag_of_frames"]["roc_auc_macro"]
        assert paired["ci_low"] <= paired["value"] <= paired["ci_high"]
    assert {r["n_train"] for r in runs if r["train_size"] == 10} == {10}
    groups = result["summary"]["groups"]
    full = [g for g in groups if g["train_size"] == 0]
    chosen = max(full, key=lambda g: g["valid_roc_auc"]["mean"])["config"]
    assert result["summary"]["chosen"] == chosen
    table = open(task.file("comparison.md")).read()
    assert f"Chosen on the **validation** ROC-AUC: **{chosen}**" in table
    assert re.search(r"^\| (\*\*)?short-chunk(\*\*)? \| shortchunk \| ", table, re.M)
    assert re.search(r"^\| (\*\*)?default(\*\*)? \| dieleman \| ", table, re.M)
    assert "Learning curve of **default**" in table and "| 10 |" in table
    assert os.path.getsize(task.file("comparison.png")) > 1000
    assert "CPU cores" in result["machine"]

    # `krotos compare-tags` puts the table, the command and the machine into the README.
    capsys.readouterr()
    assert main(["compare-tags", "--update-readme", str(readme)]) == 0
    out = capsys.readouterr().out
    text = readme.read_text()
    block = text.split("(generated) -->\n")[1].split("<!-- krotos compare-tags: end -->")[0]
    assert text.startswith("intro\n") and text.endswith("-->\noutro\n")
    assert "old table" not in text and block.strip() in out
    assert block.startswith(table.rstrip("\n") + "\n\nGenerated by `krotos compare-tags")
    assert f"`CompareTagModels/{task.signature()}`" in block
    assert "`luigi --module pipeline CompareTagModels --workers 2 --local-scheduler`" in block
    assert "grid default, short-chunk; 2 seeds" in block
    assert f"{result['machine']}.\n" in block
    assert main(["compare-tags", "--update-readme", str(readme)]) == 0     # idempotent
    assert readme.read_text() == text
    plain = tiny_demo.parent / "plain.md"
    plain.write_text("no markers here\n")
    assert main(["compare-tags", "--update-readme", str(plain)]) == 1
    assert ("has no '<!-- krotos compare-tags: begin ...' / '<!-- krotos compare-tags: end -->' "
            "markers" in capsys.readouterr().err)
    assert plain.read_text() == "no markers here\n"
    assert main(["compare-tags", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["chosen"] == chosen

    # The short-chunk CNN (2-D, batch norm, 32 mel bands) on the real music.
    short = next(t for name, size, r, t in task.points() if name == "short-chunk")
    vectors = _embed_real_music(["--tag-model", short.output_dir], tiny_demo.parent / "real.h5")
    assert vectors.shape == (4, 16)

    with pytest.raises(ValueError, match="'epoch' is not a TrainTagModel setting"):
        CompareTagModels(seeds=1, grid={"default": {"epoch": 3}}, curve_config="default").points()
    with pytest.raises(ValueError, match="curve_config 'other' is not a grid point"):
        CompareTagModels(seeds=1, grid={"default": {}}, curve_config="other").points()


@pytest.mark.parametrize("settings, message", [
    (dict(mixup=0.2, batch_size=1), r"\[TrainTagModel\] mixup needs batches of at least 2"),
    (dict(time_masks=2, time_mask_frames=-5), r"time_mask_frames=-5: must be a finite number"),
    (dict(gain_db=float("nan")), "gain_db=nan"),
    (dict(label_smoothing=1.0), "label_smoothing=1.0: must be in"),
    (dict(residual=True, architecture="dieleman"),
     "residual = true needs architecture = shortchunk"),
])
def test_unsafe_settings_are_refused_when_the_task_is_configured(settings, message):
    from pipeline.tags_model import TrainTagModel

    with pytest.raises(ValueError, match=message):
        TrainTagModel(**settings)
    assert TrainTagModel(mixup=0.2, batch_size=2).mixup == 0.2
