"""Embedding new audio with a tiny, really trained model; locating models."""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import real_fixture, run_tasks, tiny_model

from krotos.inference import (
    AudioError, DecodeLimits, Embedder, audio_container, decode_limited,
    extract_params_from_manifest)
from krotos.cli_common import configured_model, find_model
from krotos.locate import ModelNotFound, from_dir, locate


@pytest.fixture(scope="module")
def model():
    return tiny_model.build()


@pytest.fixture(scope="module")
def embedder(model):
    return Embedder.from_files(locate(model["model_dir"]))


def wav_bytes(samples, sr=22050):
    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, dtype=np.float32), sr, format="WAV")
    return buf.getvalue()


@pytest.mark.parametrize("name", ["TRWJAZW128F42760DD_test.mp3", "Kevin_MacLeod_-_Vibe_Ace.ogg",
                                  "joram-moments_of_clarity-08-solipsism-59-88.mp3"])
def test_real_files_get_tags_and_a_vector(embedder, name):
    path = real_fixture("audio", name)
    result = embedder.embed(path)
    assert list(result["tags"]) == sorted(result["tags"], key=lambda t: -result["tags"][t])
    assert set(result["tags"]) == set(tiny_model.VOCAB)
    assert all(0 <= p <= 1 for p in result["tags"].values())
    assert len(result["vector"]) == tiny_model.N_FACTORS and np.all(np.isfinite(result["vector"]))
    info = sf.info(str(path))
    assert result["duration"] == pytest.approx(info.frames / info.samplerate, rel=0.01)
    # Non-overlapping windows plus one ending on the last frame.
    mel, info = embedder.spectrogram(path)
    assert info["cut"] is False and result["cut"] is False
    assert result["windows"] == -(-len(mel) // tiny_model.WINDOW_FRAMES)
    # Bytes and path give the same answer.
    again = embedder.embed(path.read_bytes(), name=name)
    assert again["vector"] == result["vector"] and again["tags"] == result["tags"]


def test_spectrogram_is_exactly_the_pipelines(embedder, model):
    """Same extraction as the Spectrograms task: the shard's frames come back bit for bit."""
    from krotos.shards.reader import ShardReader

    tid = model["track_ids"][3]
    mel, _ = embedder.spectrogram(Path(model["clips"]) / f"{tid}.wav")
    with ShardReader(model["shard"]) as reader:
        stored = np.asarray(reader.read(reader.index_of(tid)), dtype=np.float32)
    np.testing.assert_array_equal(mel, stored)


def test_prediction_is_the_mean_over_the_models_windows(embedder, model):
    from krotos.model.network import load_model

    rng = np.random.default_rng(0)
    mel = rng.normal(-30, 10, (3 * tiny_model.WINDOW_FRAMES + 7, tiny_model.N_MELS))
    tags, vector, n = embedder.predict_spectrogram(mel)
    w = tiny_model.WINDOW_FRAMES
    starts = [0, w, 2 * w, len(mel) - w]
    windows = np.stack([mel[s:s + w] for s in starts]).astype(np.float32)
    tag_model = load_model(str(Path(model["folders"]["TrainTagModel"]) / "model.keras"))
    latent = load_model(str(Path(model["model_dir"]) / "model.keras"))
    assert n == 4
    np.testing.assert_allclose(tags, tag_model(windows).numpy().mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(vector, latent(windows).numpy().mean(axis=0), rtol=1e-4,
                               atol=1e-6)


def test_the_predicted_catalogue_factors_are_reproduced(embedder, model):
    """A catalogue clip embedded from its audio file gets the factors the pipeline predicted."""
    from krotos.coldstart.vectors import read_latents

    ids, factors = read_latents(str(Path(model["model_dir"]) / "predicted_factors.h5"))
    tid = model["track_ids"][5]
    result = embedder.embed(Path(model["clips"]) / f"{tid}.wav")
    np.testing.assert_allclose(result["vector"], factors[ids.index(tid)], rtol=1e-4, atol=1e-5)


def test_model_id_is_stable_and_describes_the_model(embedder, model):
    assert Embedder.from_files(locate(model["model_dir"])).model_id == embedder.model_id
    info = embedder.describe()
    assert info["n_factors"] == tiny_model.N_FACTORS and info["window_frames"] == 43


def test_a_demo_preview_gets_exactly_the_frames_of_its_shard(model, tiny_demo, luigi_config):
    """One feature path (issue 17, train/serve skew): the real Spectrograms task on
    the demo previews (44.1 kHz stereo mp3) and both inference paths (the service's
    and CLI's Embedder, from bytes and from the file, and the CLI's AudioEmbedder)
    give the same frames, bit for bit. No tolerance: the shard stores float16 and
    inference rounds through the same function (spectrogram_of_samples), so a
    drift in decoding, resampling, the log-mel or the rounding shows here."""
    import pipeline
    from krotos.shards.reader import ShardReader
    from krotos.model.embed import AudioEmbedder

    luigi_config.set("Spectrograms", "n_mels", tiny_model.N_MELS)
    luigi_config.set("Spectrograms", "min_seconds", 1.0)
    task = pipeline.Spectrograms(shard=0, n_shards=10)  # 40 demo tracks: 4 in shard 0
    ok, _ = run_tasks([task])
    assert ok
    params = task.extract_params()
    tag_model = Path(model["folders"]["TrainTagModel"]) / "model.keras"
    service = Embedder(tag_model, tiny_model.VOCAB, Path(model["model_dir"]) / "model.keras",
                       params)
    cli = AudioEmbedder(str(tag_model), params.as_dict())
    previews = [p for p in task.requires().previews() if p["status"] == "ok"]
    assert len(previews) >= 3 and all(p["path"].endswith(".mp3") for p in previews)
    with ShardReader(task.file("shard.h5")) as reader:
        for preview in previews:
            stored = np.asarray(reader.read(reader.index_of(preview["track_id"])))
            assert stored.dtype == np.float16 and params.dtype == "float16"
            stored = stored.astype(np.float32)
            # Bytes, as the worker gets them; a path, as krotos predict reads it.
            mel, _ = service.spectrogram(Path(preview["path"]).read_bytes(), name="preview")
            np.testing.assert_array_equal(mel, stored)
            mel, _ = service.spectrogram(preview["path"])
            np.testing.assert_array_equal(mel, stored)
            np.testing.assert_array_equal(cli.spectrogram(preview["path"]), stored)


@pytest.mark.parametrize("make, code", [
    (lambda: b"", "empty"),
    (lambda: b"<!doctype html><html></html>" * 10, "not_audio"),
    (lambda: bytes(range(256)) * 20, "not_audio"),
    (lambda: b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 20, "undecodable"),
    (lambda: wav_bytes(0.3 * np.sin(np.arange(11025) / 3.0)), "too_short"),
    (lambda: wav_bytes(np.zeros(22050 * 3)), "silent"),
])
def test_bad_audio_gets_a_clear_error(embedder, make, code):
    with pytest.raises(AudioError) as err:
        embedder.embed(make(), name="upload.bin")
    assert err.value.code == code and str(err.value).startswith("upload.bin: ")


def test_bad_files_are_named(embedder, tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        embedder.embed(tmp_path / "missing.mp3")
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.ogg: empty file") as err:
        embedder.embed(empty)
    assert err.value.code == "empty"
    text = real_fixture("audio", "Kevin_MacLeod_-_Vibe_Ace.txt")
    with pytest.raises(AudioError, match=r"Vibe_Ace\.txt: not audio") as err:
        embedder.embed(text.read_bytes(), name=text.name)
    assert err.value.code == "not_audio"
    with pytest.raises(AudioError, match=r"Vibe_Ace\.txt: not decodable") as err:
        embedder.embed(text)


def test_exactly_one_window_is_enough(embedder):
    samples = 0.3 * np.sin(np.arange((tiny_model.WINDOW_FRAMES - 1) * 512) / 4.0)
    result = embedder.embed(wav_bytes(samples))
    assert result["windows"] == 1
    with pytest.raises(AudioError, match="shorter than the model window") as err:
        embedder.embed(wav_bytes(samples[:-1]))
    assert err.value.code == "too_short"


# -- decoding bombs and what is not audio -------------------------------------------------


def wav_header(sample_rate, channels=1, data_bytes=4000, bits=16):
    """A WAV header claiming anything, followed by ``data_bytes`` of noise."""
    import struct

    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * block, block, bits)
    body = np.random.default_rng(0).integers(-8000, 8000, data_bytes // 2,
                                             dtype=np.int16).tobytes()
    return (b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE" + b"fmt " +
            struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(body)) + body)


@pytest.mark.parametrize("rate", [1, 100, 1_000_000])
def test_a_sample_rate_bomb_is_refused_before_decoding(embedder, monkeypatch, rate):
    """The probe's 4 KB WAV claiming 1 Hz grew the worker by 1.6 GB; now the header
    is read and the file refused before a sample is decoded or resampled."""
    import krotos.audio.extract as extract

    def no_resampling(*args, **kwargs):
        raise AssertionError("resampled a refused file")
    monkeypatch.setattr(extract, "resample", no_resampling)
    with pytest.raises(AudioError) as err:
        embedder.embed(wav_header(rate), name="bomb.wav")
    assert err.value.code == "unsupported_sample_rate"
    assert str(err.value).startswith(f"bomb.wav: sample rate {rate} Hz is outside")


def test_channels_beyond_the_limit_are_refused(embedder):
    with pytest.raises(AudioError) as err:
        embedder.embed(wav_header(22050, channels=64, data_bytes=64 * 2 * 10), name="wide.wav")
    assert err.value.code == "too_many_channels"


def test_long_audio_is_cut_at_max_seconds(embedder):
    long = 0.3 * np.sin(np.arange(22050 * 12) / 4.0)
    samples, sr, cut = decode_limited(wav_bytes(long), "long.wav", DecodeLimits(max_seconds=5))
    assert cut and sr == 22050 and len(samples) == 5 * 22050
    samples, _, cut = decode_limited(wav_bytes(long), "long.wav", DecodeLimits(max_seconds=12))
    assert not cut and len(samples) == 12 * 22050
    limited = Embedder.__new__(Embedder)
    limited.__dict__.update(embedder.__dict__, limits=DecodeLimits(max_seconds=2))
    result = limited.embed(wav_bytes(long), name="long.wav")
    assert result["cut"] is True and result["duration"] == pytest.approx(2.0)


def test_a_header_claiming_an_hour_decodes_only_what_is_there():
    data = bytearray(wav_header(22050, data_bytes=22050 * 2 * 3))
    data[40:44] = (22050 * 2 * 3600).to_bytes(4, "little")  # "one hour"
    samples, sr, cut = decode_limited(bytes(data), "liar.wav")
    assert len(samples) == 3 * 22050 and not cut


@pytest.mark.parametrize("body", [
    b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:6379/x.ts\n",
    # A playlist behind an ID3 tag: decoders skip the tag and probe what follows.
    b"ID3\x04\x00\x00\x00\x00\x00\x00#EXTM3U\n#EXTINF:10,\nhttp://10.0.0.1/a.ts\n",
    b"ffconcat version 1.0\nfile 'http://169.254.169.254/latest'\n",
    b"[playlist]\nFile1=http://10.0.0.1/a.mp3\n",
    b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + bytes(100),
])
def test_playlists_and_containers_that_can_name_urls_are_not_audio(body):
    with pytest.raises(AudioError) as err:
        audio_container(body, "x")
    assert err.value.code == "not_audio"


def test_temporary_paths_never_reach_messages(embedder):
    broken = b"OggS" + bytes(range(256)) * 8
    with pytest.raises(AudioError) as err:
        embedder.embed(broken, name="upload.ogg")
    assert "/tmp" not in str(err.value) and "krotos-audio" not in str(err.value)
    assert str(err.value).startswith("upload.ogg: ")


def test_manifest_params_round_trip():
    params = tiny_model.extract_params()
    assert extract_params_from_manifest(params.as_dict()) == params


# -- locating the model -----------------------------------------------------------------


def test_from_dir_finds_the_inputs_through_params_json(model):
    files = from_dir(model["model_dir"])
    assert files.tag_dir == model["folders"]["TrainTagModel"]
    assert Path(files.manifest).is_file() and Path(files.plays).is_file()
    assert Path(files.factors).is_file() and files.tagdb is None
    files.check(need_catalogue=True, need_plays=True)


def test_from_dir_refuses_other_folders(model, tmp_path):
    with pytest.raises(ModelNotFound, match="not a FinetuneModel output folder"):
        from_dir(model["folders"]["TrainTagModel"] + "/..")
    copy = tmp_path / "FinetuneModel" / "sig"
    shutil.copytree(model["model_dir"], copy)
    with pytest.raises(ModelNotFound, match="TrainTagModel.*does not exist"):
        locate(copy)  # the copy's data root holds no tag model
    (copy / "params.json").write_text("{broken")
    with pytest.raises(ModelNotFound, match="line 1"):
        from_dir(copy)
    (copy / "params.json").write_text(json.dumps({"upstream": {}}))
    with pytest.raises(ModelNotFound, match="names no TrainTagModel"):
        from_dir(copy)


def test_configured_model_without_a_trained_model_says_what_to_run(data_root):
    with pytest.raises(ModelNotFound, match="luigi --module pipeline FinetuneLatents"):
        configured_model()


def test_locate_needs_a_model_folder():
    # The library never falls back on the pipeline's configuration.
    with pytest.raises(ModelNotFound, match="no model folder given"):
        locate(None)


def test_configured_model_finds_the_model_of_the_current_settings(data_root, model):
    """Place the tiny model where the current configuration's tasks would write theirs."""
    import pipeline

    for task, source in ((pipeline.FinetuneModel(), model["model_dir"]),
                         (pipeline.TrainTagModel(), model["folders"]["TrainTagModel"]),
                         (pipeline.SpectrogramIndex(), model["folders"]["SpectrogramIndex"])):
        shutil.copytree(source, task.output_dir)
    files = find_model()
    assert files.latent_dir == pipeline.FinetuneModel().output_dir
    assert files.plays == pipeline.PlayMatrix().file("plays.h5")
    with pytest.raises(ModelNotFound, match="plays.h5 does not exist"):
        files.check(need_plays=True)
