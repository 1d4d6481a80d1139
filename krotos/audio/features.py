"""Log-mel spectrograms.

Log compression: ``10 * log10(max(P, amin))`` of the mel-band power ``P``
(``librosa.power_to_db`` with ``ref=1.0``, ``top_db=None``). The reference is
absolute rather than each clip's own maximum so that a quiet track stays
quieter than a loud one, and the floor ``amin`` (default 1e-10, i.e. -100 dB)
bounds digital silence instead of sending it to -inf. Values fit float16
(about -100 to +60 dB) with 0.03 dB resolution or better near 0 dB and
0.06 dB near -100 dB, far below what the model can hear.
"""

from __future__ import annotations

import functools

import librosa
import numpy as np

#: Defaults after Dieleman & Schrauwen (2014) / van den Oord et al. (2013):
#: 22.05 kHz audio, 1024-sample (46 ms) windows, hop 512 (23 ms), 128 mel bands.
DEFAULTS = dict(sample_rate=22050, n_fft=1024, hop_length=512, n_mels=128,
                fmin=0.0, fmax=None, amin=1e-10)


@functools.lru_cache(maxsize=8)
def mel_basis(sample_rate: int, n_fft: int, n_mels: int, fmin: float,
              fmax: float | None) -> np.ndarray:
    """The ``(n_mels, 1 + n_fft // 2)`` mel filter bank (cached per shape)."""
    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels,
                               fmin=fmin, fmax=fmax).astype(np.float32)


def log_mel(samples: np.ndarray, sample_rate: int = 22050, n_fft: int = 1024,
            hop_length: int = 512, n_mels: int = 128, fmin: float = 0.0,
            fmax: float | None = None, amin: float = 1e-10) -> np.ndarray:
    """Log-mel spectrogram of a mono signal, time along the first axis.

    Parameters
    ----------
    samples : np.ndarray
        1-D float32 signal at ``sample_rate``.
    sample_rate : int
    n_fft : int
        STFT window length in samples (Hann window).
    hop_length : int
        Samples between frames; ``1 + len(samples) // hop_length`` frames
        (frames are centred, as in ``librosa.feature.melspectrogram``).
    n_mels : int
        Mel bands.
    fmin, fmax : float
        Band edges in Hz; ``fmax=None`` means ``sample_rate / 2``.
    amin : float
        Power floor before the log (see the module docstring).

    Returns
    -------
    np.ndarray
        ``(frames, n_mels)`` float32 in dB.
    """
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    spec = librosa.stft(samples, n_fft=n_fft, hop_length=hop_length,
                        window="hann", center=True)
    power = spec.real ** 2 + spec.imag ** 2
    basis = mel_basis(int(sample_rate), int(n_fft), int(n_mels), float(fmin),
                      None if fmax is None else float(fmax))
    mel = basis @ power
    return librosa.power_to_db(mel, ref=1.0, amin=amin, top_db=None).T.astype(
        np.float32, copy=False)
