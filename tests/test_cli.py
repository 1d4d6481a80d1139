"""The `krotos` command on real audio files, with a tiny really trained model."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_model

from krotos.cli import main


@pytest.fixture(scope="module")
def model():
    return tiny_model.build()


def test_predict_prints_top_tags_of_real_mp3_and_ogg(model, real_files, capsys):
    assert main(["predict", "--model", model["model_dir"], "--top", "2", *real_files]) == 0
    out = capsys.readouterr().out.splitlines()
    # First, which model produced the tags.
    assert out[0].startswith(f"tags by the tag model {model['folders']['TrainTagModel']} "
                             f"(dieleman, ")
    out = out[1:]
    headers = [line for line in out if not line.startswith("  ")]
    assert [h.split("  (")[0] for h in headers] == real_files
    assert "30 windows" in headers[0] or "29 windows" in headers[0]
    tag_lines = [line.split() for line in out if line.startswith("  ")]
    assert len(tag_lines) == 2 * len(real_files)
    assert all(t[1] in tiny_model.VOCAB and 0 <= float(t[0]) <= 1 for t in tag_lines)


def test_predict_writes_vectors_and_goes_on_after_a_bad_file(model, real_files, tmp_path,
                                                             capsys):
    bad = tmp_path / "notes.mp3"
    bad.write_text("this is not audio")
    files = [real_files[0], str(bad), real_files[2]]
    npy, js = tmp_path / "v.npy", tmp_path / "v.json"
    assert main(["predict", "--model", model["model_dir"], "--json", "--vectors", str(npy),
                 *files]) == 1
    captured = capsys.readouterr()
    assert f"{bad}: not decodable" in captured.err and "1 of 3 files failed" in captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["file"] for line in lines] == files
    assert lines[1]["error"]["code"] == "undecodable"
    assert lines[0]["tag_model"]["path"] == model["folders"]["TrainTagModel"]
    assert lines[0]["tag_model"]["architecture"] == "dieleman"
    vectors = np.load(npy)
    assert vectors.shape == (3, tiny_model.N_FACTORS)
    assert np.isnan(vectors[1]).all() and np.isfinite(vectors[[0, 2]]).all()
    np.testing.assert_allclose(vectors[0], lines[0]["vector"], rtol=1e-6)
    assert main(["predict", "--model", model["model_dir"], "--vectors", str(js),
                 real_files[1]]) == 0
    assert len(json.loads(js.read_text())[real_files[1]]) == tiny_model.N_FACTORS
    assert not list(tmp_path.glob(".tmp-*"))  # krotos.staging.atomic_path's temporaries


def test_predict_refuses_a_bad_vectors_name(model, real_files, capsys):
    assert main(["predict", "--model", model["model_dir"], "--vectors", "out.txt",
                 real_files[0]]) == 1
    assert "must end in .json or .npy" in capsys.readouterr().err


def test_similar_finds_a_catalogue_song_from_its_own_audio(model, capsys):
    tid = model["track_ids"][2]
    clip = str(Path(model["clips"]) / f"{tid}.wav")
    assert main(["similar", "--model", model["model_dir"], clip, "--top", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["similar"]
    assert len(rows) == 3 and rows[0]["track_id"] == tid
    assert rows[0]["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert [r["similarity"] for r in rows] == sorted((r["similarity"] for r in rows),
                                                     reverse=True)


def test_similar_on_real_audio_and_on_a_too_short_file(model, real_files, tmp_path, capsys):
    assert main(["similar", "--model", model["model_dir"], real_files[2]]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("songs closest to") and len(out) == 11
    import soundfile as sf

    short = tmp_path / "short.wav"
    sf.write(short, np.full(2000, 0.3, dtype=np.float32), 22050)
    assert main(["similar", "--model", model["model_dir"], str(short)]) == 1
    assert "shorter than the model window" in capsys.readouterr().err


def test_recommend_ranks_only_cold_start_songs(model, capsys):
    assert main(["recommend", "--model", model["model_dir"], "--user", "user02",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["recommendations"]
    assert {r["track_id"] for r in rows} == set(model["cold_track_ids"])
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_recommend_unknown_user_is_a_clear_error(model, capsys):
    assert main(["recommend", "--model", model["model_dir"], "--user", "nobody"]) == 1
    assert "user 'nobody' is not in" in capsys.readouterr().err


def test_without_a_trained_model_the_command_says_what_to_run(data_root, real_files, capsys):
    assert main(["predict", real_files[0]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("krotos predict: no trained model for the current configuration")
    assert "luigi --module pipeline FinetuneLatents" in err


def test_model_folder_that_is_not_one(tmp_path, real_files, capsys):
    assert main(["similar", "--model", str(tmp_path), real_files[0]]) == 1
    assert "is not a FinetuneModel output folder" in capsys.readouterr().err
