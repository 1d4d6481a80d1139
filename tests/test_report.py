"""The run report renders, and every image it references is a valid PNG."""

import json
import re

import numpy as np
from PIL import Image

from krotos.report import build_report


def _write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def _iv(value, half=0.02):
    return {"value": value, "ci_low": value - half, "ci_high": value + half}


def _boot(unit, n):
    return {"unit": unit, "n_units": n, "n_resamples": 1000, "confidence": 0.95, "seed": 0,
            "method": "percentile"}


def _inputs(tmp_path):
    history = [{"epoch": e, "loss": 1.0 / e, "val_roc_auc": 0.6 + 0.05 * e, "frozen": False}
               for e in range(1, 5)]
    latent = [{"epoch": e, "loss": 0.5 / e, "val_cosine": 0.2 + 0.1 * e, "frozen": e == 1}
              for e in range(1, 4)]
    models = {name: {"auc": _iv(auc), "map_at_500": _iv(auc / 10, 0.01),
                     "precision_at_10": _iv(0.1), "recall_at_10": _iv(0.2),
                     "ndcg_at_10": _iv(0.15)}
              for name, auc in (("als", 0.9), ("popularity", 0.8), ("random", 0.5))}
    paired = {"als_minus_popularity": {k: _iv(0.1, 0.01) for k in models["als"]},
              "als_minus_random": {k: _iv(0.4, 0.01) for k in models["als"]}}
    cold_models = {name: dict(models["als"], auc=_iv(auc, 0.07))
                   for name, auc in (("cnn", 0.8), ("linear", 0.7), ("random", 0.5),
                                     ("upper_bound", 0.9))}
    cold_paired = {"cnn_minus_linear": {"auc": {"value": 0.1, "ci_low": -0.02, "ci_high": 0.2}}}
    example = {"user": "u<1>", "n_heldout_cold_plays": 3,
               "top": [{"track_id": "TR1", "score": 0.9, "played": True, "tags": ["rock", "guitar"]},
                       {"track_id": "TR2", "score": 0.5, "played": False, "tags": []}]}
    return {
        "summaries": {"TagDatabase": _write(tmp_path / "s.json", {"tracks": 40, "bad_rows": {"dup": 2}})},
        "manifest": _write(tmp_path / "m.json", {"tracks": {"A": {"status": "ok"},
                                                            "B": {"status": "too_short"}}}),
        "tag_training": _write(tmp_path / "tt.json", {"history": history, "best_epoch": 4,
                                                      "best_metric": 0.8}),
        "tag_metrics": _write(tmp_path / "tm.json", {
            "models": {"cnn": {"roc_auc_macro": _iv(0.91), "pr_auc_macro": _iv(0.7)},
                       "bag_of_frames": {"roc_auc_macro": _iv(0.8), "pr_auc_macro": _iv(0.5)}},
            "paired": {"cnn_minus_bag_of_frames": {"roc_auc_macro": _iv(0.11, 0.03),
                                                   "pr_auc_macro": _iv(0.2, 0.05)}},
            "bootstrap": _boot("clip", 30),
            "warnings": ["only 25 clips evaluated (fewer than 30): the test set is too small"],
            "n_tags_scored": 2, "n_clips": 30,
            "per_tag": {"rock": {"roc_auc": 0.95, "pr_auc": 0.8, "positives": 5, "status": "ok"},
                        "never": {"roc_auc": None, "pr_auc": None, "positives": 0,
                                  "status": "no_positive"}}}),
        "latent_training": _write(tmp_path / "lt.json", {"history": latent}),
        "cf_metrics": _write(tmp_path / "cf.json", {
            "models": models, "paired": paired, "bootstrap": _boot("user", 2000),
            "warnings": [], "protocol": "warm"}),
        "cold_metrics": _write(tmp_path / "cold.json", {
            "models": cold_models, "paired": cold_paired, "bootstrap": _boot("user", 59),
            "warnings": ["cnn auc: 95% interval wider than 0.10 (0.73 to 0.87, 59 users)"],
            "protocol": "cold", "relative_auc": 0.75, "n_users": 59,
            "n_cold_songs_evaluated": 5, "examples": [example]}),
    }


def test_report_renders_every_section(tmp_path):
    inputs = _inputs(tmp_path)
    out = tmp_path / "report"
    out.mkdir()
    page = build_report(str(out), spectrogram_examples=[("rock: TR1", np.random.rand(50, 16))],
                        frame_rate=43.0, **inputs)
    text = open(page).read()
    for heading in ("Dataset", "Tag model", "Collaborative filtering", "Cold-start"):
        assert heading in text
    assert "u&lt;1&gt;" in text  # user-supplied text is escaped
    assert "too_short" in text and "no_positive" in text
    images = re.findall(r'<img src="([^"]+)"', text)
    assert len(images) == 8
    for name in images:
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG"


def test_report_shows_intervals_paired_differences_and_warnings(tmp_path):
    page = build_report(str(tmp_path), **{k: v for k, v in _inputs(tmp_path).items()
                                          if k.endswith("_metrics")})
    text = open(page).read()
    # "value [ci_low, ci_high]" in the tables and the headline.
    assert "0.9100 [0.8900, 0.9300]" in text
    assert "<b>0.9100 [0.8900, 0.9300]</b>" in text
    assert "0.9000 [0.8800, 0.9200]" in text and "0.8000 [0.7300, 0.8700]" in text
    # A paired-differences table per evaluation.
    assert text.count("<h3>Paired differences</h3>") == 3
    assert "als − popularity" in text and "cnn − bag_of_frames" in text
    # The cold-start difference's interval straddles 0: its row is not highlighted.
    assert '<tr class="hit"><td>cnn − bag_of_frames</td>' in text
    assert "<tr><td>cnn − linear</td>" in text
    # Warnings once in their section and once gathered at the top, before any section.
    warning = "cnn auc: 95% interval wider than 0.10 (0.73 to 0.87, 59 users)"
    assert text.count(warning) == 2
    assert text.index("Evaluation warnings") < text.index("<h2>")
    assert "cold start: " + warning in text and "tags: only 25 clips evaluated" in text
    assert "95% percentile bootstrap over 2,000 users, 1,000 resamples" in text


def test_report_reads_metrics_without_intervals(tmp_path):
    """Older metrics.json files (bare numbers) still render, without error bars."""
    models = {name: {"auc": auc, "map_at_500": auc / 10}
              for name, auc in (("als", 0.9), ("popularity", 0.8), ("random", 0.5))}
    tags = _write(tmp_path / "tm.json", {"roc_auc_macro": 0.91, "pr_auc_macro": 0.7,
                                         "n_tags_scored": 2, "n_clips": 30, "per_tag": {}})
    cf = _write(tmp_path / "cf.json", {"models": models, "protocol": "warm"})
    variants = {"mel": {"tag_metrics": tags}, "echonest": {"tag_metrics": tags}}
    page = build_report(str(tmp_path), tag_metrics=tags, cf_metrics=cf, variants=variants)
    text = open(page).read()
    assert "<b>0.9100</b>" in text and "Paired differences" not in text
    assert "warnings" not in text.split("</style>")[1]
    assert len(re.findall(r'<img src="([^"]+)"', text)) == 1  # no tag bars without intervals


def test_partial_run_report_shows_what_exists(tmp_path):
    page = build_report(str(tmp_path), tag_metrics=str(tmp_path / "missing.json"))
    text = open(page).read()
    assert "<h1>" in text and "Tag model" not in text
