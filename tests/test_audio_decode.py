"""Decoding real previews and every kind of bad file."""

import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from krotos.audio.decode import DecodeError, _read_audioread, load_audio, to_mono

REAL_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real" / "audio"


def real(name):
    path = REAL_AUDIO / name
    if not path.exists():
        pytest.skip(f"real audio fixture {path} is absent")
    return str(path)


def tone(seconds, sr, channels=1, freq=440.0, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    mono = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([mono * (c + 1) / channels for c in range(channels)], axis=1)


def test_real_7digital_preview_mp3_22k_stereo():
    path = real("TRWJAZW128F42760DD_test.mp3")
    samples, sr = load_audio(path)
    assert sr == 22050
    assert samples.ndim == 1 and samples.dtype == np.float32
    assert 29.5 < len(samples) / sr < 30.5
    stereo, _ = sf.read(path, dtype="float32")
    assert stereo.shape[1] == 2
    np.testing.assert_allclose(samples, stereo.mean(axis=1), atol=1e-6)


def test_real_magnatagatune_mp3_16k_mono():
    samples, sr = load_audio(real("joram-moments_of_clarity-08-solipsism-59-88.mp3"))
    assert sr == 16000 and 29 < len(samples) / sr < 30
    assert 0.01 < np.abs(samples).max() <= 1.0


@pytest.mark.parametrize("name, seconds", [("Kevin_MacLeod_-_Vibe_Ace.ogg", 61.5),
                                           ("Karissa_Hobbs_-_Lets_Go_Fishin.ogg", 133.0)])
def test_real_ogg_vorbis(name, seconds):
    samples, sr = load_audio(real(name))
    assert sr == 22050
    assert abs(len(samples) / sr - seconds) < 0.5
    assert np.sqrt(np.mean(samples ** 2)) > 0.01  # music, not silence


def test_downmix_averages_channels():
    stereo = np.array([[1.0, 0.0], [0.5, 0.5], [-1.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(to_mono(stereo), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(to_mono(stereo[:, :1]), [1.0, 0.5, -1.0])


@pytest.mark.parametrize("sr, channels, subtype, fmt", [
    (44100, 2, "PCM_U8", "WAV"),     # 8-bit
    (96000, 2, "PCM_24", "WAV"),     # 96 kHz
    (48000, 6, "PCM_16", "FLAC"),    # 5.1 multichannel
    (44100, 2, None, "MP3"),         # a 44.1 kHz preview as the demo writes them
])
def test_unusual_formats_decode_to_mono(tmp_path, sr, channels, subtype, fmt):
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, tone(3.0, sr, channels), sr, subtype=subtype, format=fmt)
    samples, got_sr = load_audio(path)
    assert got_sr == sr and samples.ndim == 1
    assert abs(len(samples) / sr - 3.0) < 0.1
    # channel c carries (c+1)/channels of the tone; their mean is known
    expected_peak = 0.5 * np.mean([(c + 1) / channels for c in range(channels)])
    assert abs(np.abs(samples).max() - expected_peak) < 0.03


def test_zero_length_file(tmp_path):
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    with pytest.raises(DecodeError, match="empty file"):
        load_audio(path)


def test_html_saved_as_mp3(tmp_path):
    path = tmp_path / "page.mp3"
    path.write_bytes(b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>"
                     b"<body>Forbidden</body></html>\n")
    with pytest.raises(DecodeError, match=r"page\.mp3: not decodable: an HTML"):
        load_audio(path)


def test_random_bytes_as_mp3(tmp_path):
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8)
                     .tobytes().replace(b"\xff", b"\x00"))
    with pytest.raises(DecodeError, match="not decodable"):
        load_audio(path)


def mp3_bytes(tmp_path):
    path = tmp_path / "src.mp3"
    sf.write(path, tone(20.0, 22050, 2), 22050, format="MP3")
    return path.read_bytes()


def test_truncated_mp3_is_detected(tmp_path):
    data = mp3_bytes(tmp_path)
    path = tmp_path / "cut.mp3"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DecodeError, match=r"cut\.mp3: truncated: decoded (9|10)\.\d\d s of "
                                          r"the 20\.\d\d s"):
        load_audio(path)


def test_real_preview_truncated(tmp_path):
    data = Path(real("TRWJAZW128F42760DD_test.mp3")).read_bytes()
    path = tmp_path / "cut.mp3"
    path.write_bytes(data[:len(data) // 3])
    with pytest.raises(DecodeError, match="truncated"):
        load_audio(path)


def test_mp3_with_corrupt_middle(tmp_path):
    data = mp3_bytes(tmp_path)
    noise = np.random.default_rng(1).integers(0, 256, 30000, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.mp3"
    path.write_bytes(data[:20000] + noise + data[50000:])
    with pytest.raises(DecodeError, match=r"corrupt\.mp3"):
        load_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="cannot open"):
        load_audio(tmp_path / "nope.mp3")


def test_audioread_fallback_reads_wav(tmp_path):
    # The fallback's own decoding, on a format its built-in backend reads.
    path = tmp_path / "x.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((tone(1.0, 8000, 2) * 32767).astype("<i2").tobytes())
    data, sr = _read_audioread(str(path))
    assert sr == 8000 and data.shape == (8000, 2)
    np.testing.assert_allclose(data, tone(1.0, 8000, 2), atol=1e-3)
