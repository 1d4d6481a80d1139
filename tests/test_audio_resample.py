"""Resampling quality on a swept sine: passband fidelity and aliasing.

The default resampler must keep a sweep below the new Nyquist frequency
intact and suppress a sweep above it. The same measurement rejects a naive
linear interpolator, so the test can tell a good converter from a bad one.
"""

import numpy as np
import pytest
import scipy.signal

from krotos.audio.extract import ExtractParams
from krotos.audio.resample import check_resampler, resample

SR_IN, SR_OUT, SECONDS = 44100, 22050, 4.0


def sweep(sr, f0, f1):
    t = np.arange(int(SECONDS * sr)) / sr
    return (0.5 * scipy.signal.chirp(t, f0, SECONDS, f1, method="logarithmic")).astype(np.float32)


def passband_snr_db(resampler, quality, sr_in=SR_IN, top=9000):
    """SNR of a 50 Hz-``top`` sweep against the same sweep synthesised at SR_OUT."""
    out = resample(sweep(sr_in, 50, top), sr_in, SR_OUT, resampler, quality)
    ref = sweep(SR_OUT, 50, top)
    n = min(len(out), len(ref))
    inner = slice(1000, n - 1000)  # leave the filters' edge transients out
    err = out[inner] - ref[inner]
    return 10 * np.log10(np.sum(ref[inner] ** 2) / max(np.sum(err ** 2), 1e-30))


def aliasing_db(resampler, quality):
    """Energy left from a 12-21 kHz sweep (all above 11.025 kHz), relative to input."""
    x = sweep(SR_IN, 12000, 21000)
    out = resample(x, SR_IN, SR_OUT, resampler, quality)
    out_power = np.mean(out[1000:-1000] ** 2)
    return 10 * np.log10(max(out_power, 1e-30) / np.mean(x ** 2))


def test_default_resampler_is_clean():
    p = ExtractParams()
    assert passband_snr_db(p.resampler, p.resample_quality) > 90
    assert aliasing_db(p.resampler, p.resample_quality) < -100


@pytest.mark.parametrize("sr_in", [48000, 96000, 16000])
def test_default_resampler_other_rates(sr_in):
    p = ExtractParams()
    # 7 kHz: below the 8 kHz Nyquist of a 16 kHz source
    assert passband_snr_db(p.resampler, p.resample_quality, sr_in=sr_in, top=7000) > 80


@pytest.mark.parametrize("quality", ["sinc_medium", "sinc_best"])
def test_libsamplerate_sinc_converters_are_clean(quality):
    assert passband_snr_db("libsamplerate", quality) > 90
    assert aliasing_db("libsamplerate", quality) < -100


def test_measurement_rejects_linear_interpolation():
    assert aliasing_db("libsamplerate", "linear") > -40
    assert passband_snr_db("libsamplerate", "linear") < 40


def test_same_rate_is_untouched():
    x = sweep(SR_OUT, 100, 1000)
    assert resample(x, SR_OUT, SR_OUT) is not None
    np.testing.assert_array_equal(resample(x, SR_OUT, SR_OUT), x)


def test_length_follows_ratio():
    x = np.zeros(44100, dtype=np.float32)
    assert len(resample(x, 44100, 22050)) == 22050
    assert len(resample(x, 44100, 22050, "libsamplerate")) == 22050


def test_unknown_choices_are_refused():
    with pytest.raises(ValueError, match="unknown resampler"):
        check_resampler("ffmpeg")
    with pytest.raises(ValueError, match="sinc_fastest"):
        check_resampler("libsamplerate", "HQ")
    assert check_resampler("soxr") == ("soxr", "HQ")
    assert check_resampler("libsamplerate", None) == ("libsamplerate", "sinc_fastest")
