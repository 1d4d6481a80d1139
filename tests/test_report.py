"""The run report renders, and every image it references is a valid PNG."""

import json
import re

import numpy as np
from PIL import Image

from krotos.report import build_report


def _write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def test_report_renders_every_section(tmp_path):
    history = [{"epoch": e, "loss": 1.0 / e, "val_roc_auc": 0.6 + 0.05 * e, "frozen": False}
               for e in range(1, 5)]
    latent = [{"epoch": e, "loss": 0.5 / e, "val_cosine": 0.2 + 0.1 * e, "frozen": e == 1}
              for e in range(1, 4)]
    models = {name: {"auc": auc, "map_at_500": auc / 10, "precision_at_10": 0.1,
                     "recall_at_10": 0.2, "ndcg_at_10": 0.15}
              for name, auc in (("als", 0.9), ("popularity", 0.8), ("random", 0.5))}
    cold_models = {name: dict(models["als"], auc=auc)
                   for name, auc in (("cnn", 0.8), ("linear", 0.7), ("random", 0.5),
                                     ("upper_bound", 0.9))}
    example = {"user": "u<1>", "n_heldout_cold_plays": 3,
               "top": [{"track_id": "TR1", "score": 0.9, "played": True, "tags": ["rock", "guitar"]},
                       {"track_id": "TR2", "score": 0.5, "played": False, "tags": []}]}
    inputs = {
        "summaries": {"TagDatabase": _write(tmp_path / "s.json", {"tracks": 40, "bad_rows": {"dup": 2}})},
        "manifest": _write(tmp_path / "m.json", {"tracks": {"A": {"status": "ok"},
                                                            "B": {"status": "too_short"}}}),
        "tag_training": _write(tmp_path / "tt.json", {"history": history, "best_epoch": 4,
                                                      "best_metric": 0.8}),
        "tag_metrics": _write(tmp_path / "tm.json", {
            "roc_auc_macro": 0.91, "pr_auc_macro": 0.7, "n_tags_scored": 2, "n_clips": 30,
            "per_tag": {"rock": {"roc_auc": 0.95, "pr_auc": 0.8, "positives": 5, "status": "ok"},
                        "never": {"roc_auc": None, "pr_auc": None, "positives": 0,
                                  "status": "no_positive"}}}),
        "latent_training": _write(tmp_path / "lt.json", {"history": latent}),
        "cf_metrics": _write(tmp_path / "cf.json", {"models": models, "protocol": "warm"}),
        "cold_metrics": _write(tmp_path / "cold.json", {
            "models": cold_models, "protocol": "cold", "relative_auc": 0.75, "n_users": 10,
            "n_cold_songs_evaluated": 5, "examples": [example]}),
    }
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
    assert len(images) == 7
    for name in images:
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG"


def test_partial_run_report_shows_what_exists(tmp_path):
    page = build_report(str(tmp_path), tag_metrics=str(tmp_path / "missing.json"))
    text = open(page).read()
    assert "<h1>" in text and "Tag model" not in text
