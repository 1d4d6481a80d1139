"""Replicates: the table of every seed's figures, failed seeds included, and the Luigi task."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, run_tasks
from krotos.replicates import collect_replicates, markdown_table, plot_replicates


def _interval(value, width=0.02):
    return {"value": value, "ci_low": value - width, "ci_high": value + width}


def _write_run(folder, auc):
    folder.mkdir(parents=True)
    files = {"tags": folder / "tags.json", "cf": folder / "cf.json", "cold": folder / "cold.json"}
    files["tags"].write_text(json.dumps({"models": {"cnn": {"roc_auc_macro": _interval(0.9)}},
                                         "warnings": []}))
    files["cf"].write_text(json.dumps({"models": {"als": {"map_at_500": _interval(0.3)}}}))
    files["cold"].write_text(json.dumps({
        "models": {"cnn": {"auc": _interval(auc)}, "linear": {"auc": _interval(auc - 0.01)}},
        "paired": {"cnn_minus_linear": {"auc": _interval(0.01, 0.005)}},
        "n_cold_songs_evaluated": 120, "n_users": 1500, "warnings": ["interval too wide"]}))
    return {k: str(v) for k, v in files.items()}


def test_table_has_every_seed_and_names_the_failed_one(tmp_path):
    runs = [{"replicate": 0, "files": _write_run(tmp_path / "r0", 0.88)},
            {"replicate": 1, "files": _write_run(tmp_path / "r1", 0.86)},
            {"replicate": 2, "files": {"tags": str(tmp_path / "missing.json")},
             "failure": "TrainTagModel_x: ValueError: the 'valid' split is empty"}]
    result = collect_replicates(runs)
    assert [r["status"] for r in result["replicates"]] == ["ok", "ok", "failed"]
    cnn = result["summary"]["cold start: CNN AUC"]
    assert cnn["mean"] == pytest.approx(0.87) and cnn["sd"] == pytest.approx(0.01414, abs=1e-4)
    assert cnn["n"] == 2 and cnn["n_failed"] == 1
    assert result["replicates"][0]["warnings"] == ["interval too wide"]
    table = markdown_table(result)
    assert "| seed 0 | seed 1 | seed 2 | mean ± sd |" in table
    assert "0.880 [0.860, 0.900]" in table and "failed" in table
    assert "**0.870** ± 0.014 (n=2)" in table
    assert "seed 2 failed: TrainTagModel_x: ValueError: the 'valid' split is empty" in table
    plot_replicates(result, tmp_path / "replicates.png")
    assert (tmp_path / "replicates.png").stat().st_size > 1000
    # A replicate without a recorded reason still says why it is missing.
    alone = collect_replicates([{"replicate": 0, "files": {}}])
    assert "not finished" in alone["replicates"][0]["reason"]
    # Without a ceiling file (a real dataset) the demo-only row is left out,
    # and no replicate is failed for lacking it.
    assert not any("ceiling" in label for label in result["figures"])


def test_the_demo_ceiling_row_appears_when_its_files_exist(tmp_path):
    runs = []
    for r, value in ((0, 0.89), (1, 0.91)):
        files = _write_run(tmp_path / f"r{r}", 0.88)
        ceiling = tmp_path / f"r{r}" / "ceiling.json"
        ceiling.write_text(json.dumps(
            {"models": {"audible_attributes": {"roc_auc_macro": _interval(value)}}}))
        runs.append({"replicate": r, "files": dict(files, ceiling=str(ceiling))})
    result = collect_replicates(runs)
    label = "tags: ceiling (true audible attributes), ROC-AUC"
    assert label in result["figures"]
    assert result["summary"][label]["mean"] == pytest.approx(0.90)
    assert "0.890 [0.870, 0.910]" in markdown_table(result)


pytest.importorskip("tensorflow")


@pytest.mark.slow  # runs the whole tiny DAG for two seeds
def test_replicates_task_draws_other_test_songs_and_prints_the_table(tiny_dag, luigi_config):
    from pipeline import Replicates, SongSplit

    ok, ran = run_tasks([Replicates(seeds=2)])
    assert ok
    assert sum(t.startswith("FinetuneLatents_") for t in ran) == 2
    assert sum(t.startswith("FinetuneModel_") for t in ran) == 2
    assert sum(t.startswith("DemoDataset") for t in ran) == 1        # shared by the replicates
    tests = [set(SongSplit(replicate=r).read().tracks("test")) for r in (0, 1)]
    assert tests[0] != tests[1]
    result = json.load(open(Replicates(seeds=2).file("replicates.json")))
    assert [r["status"] for r in result["replicates"]] == ["ok", "ok"]
    # On the demo, each seed's tag ceiling is scored on that seed's test clips.
    assert sum(t.startswith("DemoTagCeiling") for t in ran) == 2
    ceiling = "tags: ceiling (true audible attributes), ROC-AUC"
    assert result["summary"][ceiling]["n"] == 2
    for r in result["replicates"]:
        figure = r["figures"][ceiling]
        assert 0.0 <= figure["ci_low"] <= figure["value"] <= figure["ci_high"] <= 1.0
    assert "CPU cores" in result["machine"]
    assert os.path.exists(Replicates(seeds=2).file("replicates.png"))

    ok, ran = run_tasks([Replicates(seeds=2)])
    assert ok and ran == []                                          # a rerun reuses them

    # `krotos results`, in another process, with this test's configuration.
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cfg = tiny_dag.parent / "luigi.cfg"
    with open(cfg, "w") as f:
        luigi_config._config.write(f)
    out = subprocess.run([sys.executable, "-m", "krotos.cli", "results", "--seeds", "2",
                          "--markdown"], cwd=REPO, capture_output=True, text=True,
                         env=dict(env, LUIGI_CONFIG_PATH=str(cfg)), timeout=300)
    assert out.returncode == 0, out.stderr
    assert "| seed 0 | seed 1 | mean ± sd |" in out.stdout
    assert "Machine:" in out.stdout and "Replicates" in out.stdout


def test_readme_block_is_replaced_between_its_markers(tmp_path):
    from krotos.commands import CommandError
    from krotos.cli_common import replace_generated_block
    from krotos.commands.results import MARKERS

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- krotos results: begin (generated) -->\nold\n"
                      "<!-- krotos results: end -->\noutro\n")
    replace_generated_block(readme, "| new |\n", MARKERS)
    replace_generated_block(readme, "| newer |", MARKERS)
    assert readme.read_text() == ("intro\n<!-- krotos results: begin (generated) -->\n| newer |\n"
                                  "<!-- krotos results: end -->\noutro\n")
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(CommandError, match="markers"):
        replace_generated_block(tmp_path / "plain.md", "x", MARKERS)


def test_the_readme_has_the_generated_blocks_of_its_commands(tmp_path):
    """`krotos results` and `krotos compare-tags` --update-readme work on the real README."""
    from krotos.cli_common import replace_generated_block
    from krotos.commands import compare_tags, results

    original = (REPO / "README.md").read_text(encoding="utf-8")
    copy = tmp_path / "README.md"
    copy.write_text(original, encoding="utf-8")
    for name in (results.MARKERS, compare_tags.MARKERS):
        replace_generated_block(copy, f"| {name} table |", name)
    text = copy.read_text(encoding="utf-8")
    assert "| krotos results table |\n<!-- krotos results: end -->" in text
    assert "| krotos compare-tags table |\n<!-- krotos compare-tags: end -->" in text
    assert text.index("krotos results table") < text.index("krotos compare-tags table")
    blocks = re.compile(r"(<!-- krotos [a-z-]+: begin[^\n]*\n).*?(<!-- krotos [a-z-]+: end -->)",
                        re.S)
    assert blocks.sub(r"\1\2", text) == blocks.sub(r"\1\2", original)   # only the blocks changed
