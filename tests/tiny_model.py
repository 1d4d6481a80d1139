"""A tiny but really trained tag model and latent model, laid out like a data root.

Built once per test process (a few seconds) with the library functions the
pipeline uses: generated clips -> the pipeline's own spectrogram extraction
-> ``ShardWriter`` shards -> ``train_tag_model`` -> ``finetune_latents`` ->
``predict_latents``. The folders mimic ``<data_root>/<Task>/<signature>/`` so
that ``krotos --model <FinetuneModel folder>`` finds everything through
``params.json``, as it does for a real run.
"""

import atexit
import functools
import json
import os
import shutil
import tempfile

import numpy as np
import scipy.sparse as sp
import soundfile as sf

N_MELS = 32
WINDOW_FRAMES = 43  # about 1 s at 22.05 kHz, hop 512
N_FACTORS = 4
VOCAB = ["low", "high", "noisy"]
N_CLIPS = 16
N_COLD = 4
USERS = [f"user{i:02d}" for i in range(6)]


def extract_params():
    from krotos.audio.extract import ExtractParams

    return ExtractParams(sample_rate=22050, n_fft=1024, hop_length=512, n_mels=N_MELS,
                         min_seconds=1.0)


def _clip(i, rng, sr=22050, seconds=2.5):
    t = np.arange(int(sr * seconds)) / sr
    low, high, noisy = i % 2 == 0, i % 3 == 0, i % 4 < 2
    x = 0.05 * rng.standard_normal(len(t)) if noisy else np.zeros(len(t))
    x += 0.3 * np.sin(2 * np.pi * (110 if low else 440) * t)
    if high:
        x += 0.2 * np.sin(2 * np.pi * 5000 * t)
    return x.astype(np.float32), np.array([low, high, noisy], dtype=np.float32)


@functools.lru_cache(maxsize=1)
def build():
    """Train once per process; returns a dict of paths and ids."""
    from krotos.audio.extract import spectrogram_of_file
    from krotos.shards.manifest import build_manifest, write_manifest
    from krotos.shards.writer import ShardWriter
    from krotos.cf.als import write_factors
    from krotos.cf.playmatrix import PlaySplit, write_play_split
    from krotos.model.finetune import finetune_latents, predict_latents
    from krotos.model.params import FinetuneParams, TagModelParams, TrainingParams
    from krotos.model.train import train_tag_model

    root = tempfile.mkdtemp(prefix="krotos-tiny-model-")
    atexit.register(shutil.rmtree, root, True)
    rng = np.random.default_rng(0)
    params = extract_params()
    folders = {name: os.path.join(root, name, sig) for name, sig in (
        ("TrainTagModel", "tagsig000001"), ("SpectrogramIndex", "specsig00001"),
        ("Spectrograms", "shardsig0001"), ("PlayMatrix", "playsig00001"),
        ("Factorize", "factsig00001"), ("FinetuneModel", "latentsig001"))}
    for folder in folders.values():
        os.makedirs(folder)
    audio = os.path.join(root, "clips")
    os.makedirs(audio)

    track_ids = [f"TRTINY{i:012d}" for i in range(N_CLIPS)]
    tags, shard = {}, os.path.join(folders["Spectrograms"], "shard.h5")
    with ShardWriter(shard, n_channels=N_MELS, dtype=params.dtype,
                     attrs=params.as_dict()) as writer:
        for i, tid in enumerate(track_ids):
            samples, tags[tid] = _clip(i, rng)
            path = os.path.join(audio, f"{tid}.wav")
            sf.write(path, samples, 22050)
            writer.append(tid, spectrogram_of_file(path, params))
    results = {tid: {"status": "ok", "reason": ""} for tid in track_ids}
    write_manifest(os.path.join(folders["SpectrogramIndex"], "manifest.json"),
                   build_manifest([(shard, results)], params.as_dict(),
                                  folders["SpectrogramIndex"]))

    warm = track_ids[:-N_COLD]
    splits = {"train": warm[:-3], "valid": warm[-3:], "test": []}
    train_tag_model([shard], splits, tags, VOCAB, folders["TrainTagModel"],
                    os.path.join(root, "work-tags"), window_frames=WINDOW_FRAMES,
                    network=TagModelParams(architecture="dieleman", filters=(8, 8),
                                           kernel_size=4, pool_sizes=(2,), dense_units=(16,),
                                           dropout=0.0, batch_norm=False),
                    training=TrainingParams(epochs=2, batch_size=8, patience=5, seed=0,
                                            crops_per_track=1),
                    n_mels=N_MELS, features=params.as_dict())

    # Plays: every user played some warm songs; the cold songs' plays are held out.
    n_songs = len(track_ids)
    train = np.zeros((len(USERS), n_songs), dtype=np.int32)
    heldout = np.zeros_like(train)
    for u in range(len(USERS)):
        for j in range(n_songs):
            if (u + j) % 3 == 0:
                (heldout if j >= n_songs - N_COLD else train)[u, j] = 1 + (u * j) % 4
    cold = np.arange(n_songs - N_COLD, n_songs)
    song_ids = np.array([f"SOTINY{i:012d}" for i in range(n_songs)])
    split = PlaySplit(train=sp.csr_matrix(train), valid=sp.csr_matrix(train.shape, dtype=np.int32),
                      heldout=sp.csr_matrix(heldout),
                      user_ids=np.array(USERS), song_ids=song_ids,
                      track_ids=np.array(track_ids), cold_song_index=cold, attrs={})
    write_play_split(os.path.join(folders["PlayMatrix"], "plays.h5"), split)
    user_factors = rng.normal(size=(len(USERS), N_FACTORS)).astype(np.float32)
    song_factors = rng.normal(size=(n_songs, N_FACTORS)).astype(np.float32)
    song_trained = np.ones(n_songs, dtype=bool)
    song_trained[cold] = False
    write_factors(os.path.join(folders["Factorize"], "factors.h5"), user_factors,
                  song_factors, USERS, song_ids, track_ids, cold,
                  np.ones(len(USERS), dtype=bool), song_trained, {"factors": N_FACTORS})

    from krotos.coldstart.vectors import unit_normalize

    targets = dict(zip(warm, unit_normalize(song_factors[:len(warm)])))
    latent = folders["FinetuneModel"]
    finetune_latents(os.path.join(folders["TrainTagModel"], "model.keras"), [shard],
                     {"train": warm[:-3], "valid": warm[-3:]}, targets, N_FACTORS, latent,
                     os.path.join(root, "work-latents"),
                     params=FinetuneParams(freeze_epochs=1, epochs=2, batch_size=8, seed=0,
                                           learning_rate=5e-4, patience=5, crops_per_track=2))
    predict_latents(os.path.join(latent, "model.keras"), [shard],
                    os.path.join(latent, "predicted_factors.h5"))
    upstream = {"TrainTagModel__99914b932b": "tagsig000001",
                "SpectrogramIndex__99914b932b": "specsig00001",
                "PlayMatrix__99914b932b": "playsig00001",
                "Factorize_False_0123456789": "factsig00001"}
    with open(os.path.join(latent, "params.json"), "w") as f:
        json.dump({"family": "FinetuneModel", "params": {}, "version": 1,
                   "upstream": upstream}, f)
    return {"root": root, "model_dir": latent, "folders": folders, "track_ids": track_ids,
            "cold_track_ids": track_ids[-N_COLD:], "users": USERS, "clips": audio,
            "shard": shard}
