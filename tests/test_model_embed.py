"""Embeddings as a product: every track, audio files (real ones), the linear probe, `krotos embed`."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from conftest import tiny_model  # noqa: E402

from krotos.cli import main  # noqa: E402
from krotos.model import embed  # noqa: E402
from krotos.model.scores import roc_auc_macro  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return tiny_model.build()


def test_every_track_is_embedded_by_the_penultimate_layer(model, tmp_path):
    from krotos.model.evaluate import predict_clips
    from krotos.model.data import index_tracks
    from krotos.model.network import load_model

    tag_dir = model["folders"]["TrainTagModel"]
    result = embed.embed_tracks(tag_dir, [model["shard"]], str(tmp_path / "e.h5"))
    assert result == {"n_tracks": tiny_model.N_CLIPS, "n_failed": 0, "dim": 16}
    ids, vectors, attrs = embed.read_embeddings(tmp_path / "e.h5")
    assert ids == sorted(model["track_ids"]) and vectors.shape == (tiny_model.N_CLIPS, 16)
    assert attrs["layer"] == "embedding" and attrs["model"].endswith("model.keras")
    sub = embed.embedding_model(load_model(f"{tag_dir}/model.keras"))
    expected, _ = predict_clips(sub, index_tracks([model["shard"]], ids))
    np.testing.assert_allclose(vectors, expected, rtol=1e-5, atol=1e-6)


def test_audio_files_get_the_embedding_their_spectrogram_would_get(model, tmp_path):
    tag_dir = model["folders"]["TrainTagModel"]
    embedder = embed.AudioEmbedder(tag_dir)              # features from features.json
    assert embedder.dim == 16 and embedder.n_mels == tiny_model.N_MELS
    embed.embed_tracks(tag_dir, [model["shard"]], str(tmp_path / "e.h5"))
    ids, vectors, _ = embed.read_embeddings(tmp_path / "e.h5")
    tid = model["track_ids"][3]
    got = embedder.embed(f"{model['clips']}/{tid}.wav")
    np.testing.assert_allclose(got["vector"], vectors[ids.index(tid)], rtol=1e-4, atol=1e-5)


def test_linear_probe_on_real_audio_tells_the_pieces_apart(model, real_files):
    """Pieces of four real recordings; the probe learns which recording each comes from."""
    embedder = embed.AudioEmbedder(model["folders"]["TrainTagModel"])
    ids, vectors, targets = [], [], {}
    for k, path in enumerate(real_files):
        mel = embedder.spectrogram(path)
        for i in range(0, min(len(mel), 16 * 86) - 85, 86):       # 2 s pieces, 16 at most
            tid = f"{k}-{i // 86}"
            ids.append(tid)
            vectors.append(embedder.embed_spectrogram(mel[i:i + 86])[0])
            targets[tid] = np.eye(len(real_files), dtype=np.float32)[k]
    splits = {name: [t for t in ids if int(t.split("-")[1]) % 3 == r]
              for r, name in enumerate(("train", "valid", "test"))}
    test_ids, scores, info = embed.linear_probe_scores(ids, np.array(vectors), splits, targets)
    assert test_ids == splits["test"] and scores.shape == (len(test_ids), len(real_files))
    assert info["C"] in embed.PROBE_CS and info["dim"] == 16
    assert roc_auc_macro(np.array([targets[t] for t in test_ids]), scores) > 0.8
    with pytest.raises(ValueError, match="needs valid tracks with an embedding"):
        embed.linear_probe_scores(ids, np.array(vectors), dict(splits, valid=["nope"]), targets)


def test_models_trained_on_other_features_are_refused(model, tmp_path):
    tag_dir = model["folders"]["TrainTagModel"]
    params = tiny_model.extract_params().as_dict()
    assert embed.check_same_features(tag_dir, params) == []
    with pytest.raises(ValueError, match=r"other input features than these spectrograms "
                                         r"\(hop_length: model 512, data 256\)"):
        embed.check_same_features(tag_dir, dict(params, hop_length=256))
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.keras").write_bytes(Path(tag_dir, "model.keras").read_bytes())
    assert "records no features.json" in embed.check_same_features(bare, params)[0]
    with pytest.raises(ValueError, match="takes 32 mel bands, these spectrograms have 64"):
        embed.check_same_features(bare, dict(params, n_mels=64))
    with pytest.raises(FileNotFoundError, match="no such tag model"):
        embed.model_file(tmp_path / "missing")


def test_krotos_embed_writes_vectors_of_real_files(model, real_files, tmp_path, capsys):
    tag_dir = model["folders"]["TrainTagModel"]
    bad = tmp_path / "notes.ogg"
    bad.write_text("not audio")
    npy, js, h5 = tmp_path / "v.npy", tmp_path / "v.json", tmp_path / "v.h5"
    assert main(["embed", "--tag-model", tag_dir, "--out", str(npy), real_files[0], str(bad),
                 real_files[2]]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: not decodable" in err and "1 of 3 files failed" in err
    vectors = np.load(npy)
    assert vectors.shape == (3, 16) and np.isnan(vectors[1]).all()
    assert np.isfinite(vectors[[0, 2]]).all()
    assert main(["embed", "--tag-model", tag_dir, "--out", str(js), *real_files]) == 0
    assert len(json.loads(js.read_text())[real_files[3]]) == 16
    assert main(["embed", "--tag-model", f"{tag_dir}/model.keras", "--out", str(h5),
                 real_files[1]]) == 0
    with h5py.File(h5) as f:
        assert [t.decode() for t in f["track_ids"][()]] == [real_files[1]]
    np.testing.assert_allclose(embed.read_embeddings(h5)[1][0],
                               json.loads(js.read_text())[real_files[1]], rtol=1e-5)
    capsys.readouterr()
    assert main(["embed", "--tag-model", tag_dir, real_files[0]]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["file"] == real_files[0] and len(line["vector"]) == 16


def test_krotos_embed_refuses_bad_arguments(model, real_files, capsys):
    tag_dir = model["folders"]["TrainTagModel"]
    for args, message in ((["--tag-model", tag_dir], "give audio files, or --catalogue"),
                          (["--tag-model", tag_dir, "--catalogue"], "give --out FILE.h5"),
                          (["--tag-model", tag_dir, "--out", "x.txt", real_files[0]],
                           "must end in .h5, .npy or .json"),
                          (["--tag-model", "/nonexistent", real_files[0]], "no such tag model")):
        assert main(["embed", *args]) == 1
        assert message in capsys.readouterr().err


def test_krotos_embed_on_real_songs_then_the_linear_probe(model, real_files, tmp_path, capsys):
    """`krotos embed` on the real mp3/ogg music beside broken files, and a linear probe
    trained on what it wrote: the product path a user with a few labelled clips takes."""
    import soundfile as sf

    from krotos.audio.decode import load_audio

    tag_dir = model["folders"]["TrainTagModel"]
    cut = tmp_path / "cut.mp3"                         # a real preview, downloaded halfway
    cut.write_bytes(Path(real_files[0]).read_bytes()[:30000])
    text = tmp_path / "notes.ogg"
    text.write_text("not audio")
    files = [real_files[0], str(cut), real_files[1], real_files[2], str(text), real_files[3]]
    h5, npy = tmp_path / "songs.h5", tmp_path / "songs.npy"
    assert main(["embed", "--tag-model", tag_dir, "--out", str(h5), *files]) == 1
    err = capsys.readouterr().err
    assert f"{cut}: truncated" in err and f"{text}: not decodable" in err
    assert "2 of 6 files failed" in err
    ids, vectors, attrs = embed.read_embeddings(h5)
    assert ids == real_files and vectors.shape == (4, 16) and attrs["n_failed"] == 2
    assert np.isfinite(vectors).all() and (np.abs(vectors).sum(axis=1) > 0).all()
    # Different songs, different embeddings: no two rows alike.
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    scale = np.linalg.norm(vectors, axis=1).mean()
    assert distances[np.triu_indices(4, 1)].min() > 0.01 * scale
    assert main(["embed", "--tag-model", tag_dir, "--out", str(npy), *files]) == 1
    matrix = np.load(npy)
    assert matrix.shape == (6, 16) and np.isnan(matrix[[1, 4]]).all()
    np.testing.assert_allclose(matrix[[0, 2, 3, 5]], vectors, rtol=1e-5, atol=1e-6)

    # 2 s excerpts of each song as files of their own (44.1 kHz ogg and 22.05 kHz mp3
    # alike), embedded by the command; the probe learns which song an excerpt is from.
    pieces, targets = [], {}
    for k, path in enumerate(real_files):
        samples, sr = load_audio(path)
        for i in range(min(len(samples) // (2 * sr), 9)):
            piece = str(tmp_path / f"song{k}-{i}.wav")
            sf.write(piece, samples[i * 2 * sr:(i + 1) * 2 * sr], sr)
            pieces.append(piece)
            targets[piece] = np.eye(len(real_files), dtype=np.float32)[k]
    assert main(["embed", "--tag-model", tag_dir, "--out", str(tmp_path / "pieces.h5"),
                 *pieces]) == 0
    ids, vectors, _ = embed.read_embeddings(tmp_path / "pieces.h5")
    assert ids == pieces and np.isfinite(vectors).all()
    splits = {name: [p for p in pieces if int(p.rsplit("-", 1)[1][:-4]) % 3 == r]
              for r, name in enumerate(("train", "valid", "test"))}
    test_ids, scores, info = embed.linear_probe_scores(ids, vectors, splits, targets)
    assert test_ids == splits["test"] and scores.shape == (len(test_ids), 4)
    assert info["n_train"] == len(splits["train"]) and info["dim"] == 16
    auc = roc_auc_macro(np.array([targets[t] for t in test_ids]), scores)
    assert np.isfinite(auc) and auc > 0.7
