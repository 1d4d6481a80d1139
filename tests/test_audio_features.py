"""Log-mel spectrograms: shape, agreement with librosa, where the energy goes."""

import librosa
import numpy as np
import pytest

from krotos.audio.features import log_mel


def sine(freq, seconds=2.0, sr=22050, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_matches_librosa_melspectrogram_power_to_db():
    y = sine(440) + 0.1 * np.random.default_rng(0).standard_normal(44100).astype(np.float32)
    ours = log_mel(y, 22050, n_fft=1024, hop_length=512, n_mels=128)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(
        y=y, sr=22050, n_fft=1024, hop_length=512, n_mels=128), ref=1.0, amin=1e-10,
        top_db=None).T
    assert ours.shape == ref.shape == (1 + len(y) // 512, 128)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=0.05)


def test_energy_lands_in_the_right_band():
    mel = log_mel(sine(1000.0), 22050, n_mels=64)
    centres = librosa.mel_frequencies(n_mels=64 + 2, fmax=11025)[1:-1]
    loudest = int(np.argmax(mel[10:-10].mean(axis=0)))
    assert abs(centres[loudest] - 1000.0) < 120


def test_silence_is_floored_not_infinite():
    mel = log_mel(np.zeros(22050, dtype=np.float32), 22050)
    np.testing.assert_allclose(mel, -100.0, atol=1e-3)  # amin = 1e-10


def test_fmin_fmax_restrict_the_bands():
    mel = log_mel(sine(200.0), 22050, n_mels=32, fmin=2000.0, fmax=8000.0)
    # a 200 Hz tone is outside 2-8 kHz: every band is far below the tone level
    full = log_mel(sine(200.0), 22050, n_mels=32)
    assert mel[10:-10].max() < full[10:-10].max() - 40


@pytest.mark.parametrize("hop", [256, 512])
def test_frame_count_follows_hop(hop):
    assert log_mel(sine(440, seconds=1.0), 22050, hop_length=hop).shape[0] == 1 + 22050 // hop
