"""The demo's shared pool of instruments and drum sounds.

Every style plays from this one pool (styles only favour some of its
members), so a piano, a bass or a snare says little about the style of the
song it plays in. Pitched instruments are wavetables with an envelope: a
bright and a dull table cross-faded as a struck or plucked note dies away,
optional vibrato, a detuned second oscillator, breath noise, drive, and
inharmonic partials for struck bars and tines. Drum sounds are short
synthesized hits (a falling sine for kicks and toms, filtered noise for
snares, hats and shakers, a cluster of inharmonic tones for cymbals).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

TABLE_SIZE = 2048


@dataclass(frozen=True)
class Instrument:
    """A pitched instrument of the shared pool.

    Attributes
    ----------
    name : str
    roles : tuple of str
        Parts it can play: ``lead``, ``comp``, ``bass``.
    slope : float
        Harmonic ``k`` has amplitude ``k ** -slope`` (low is bright).
    even : float
        Relative level of the even harmonics (0: hollow, clarinet-like).
    attack, decay, sustain, release : float
        Envelope: attack seconds, exponential decay time constant (seconds)
        towards the ``sustain`` level (0 for plucked and struck sounds), and
        the release at the note's end.
    dulling : float
        Time constant (s) of the fade from the bright to a dull table; 0: none.
    vibrato : (float, float)
        Rate (Hz) and depth (fraction of the frequency).
    detune : float
        A second oscillator detuned by this fraction (0: none).
    drive : float
        tanh saturation; 0 for clean.
    breath : float
        Level of noise mixed into the tone (wind instruments).
    partials : tuple of (float, float, float)
        Inharmonic partials as (frequency ratio, level, decay seconds).
    formants : tuple of (float, float, float)
        Resonances of the body, bore or cabinet as (centre Hz, gain, width in
        octaves): fixed in frequency, so they shape every note's spectrum the
        same way whatever its pitch, as real instruments' resonances do.
    cutoff : float
        Hz above which the harmonics roll off steeply (0: none).
    drawbars : tuple of float
        Explicit levels of the first harmonics (an organ's drawbars); overrides
        ``slope`` and ``even``.
    click : (float, float)
        Level and decay (s) of a noise burst at the note's start (hammer, pick).
    tags : tuple of str
        Last.fm spellings of the instrument's tag (empty: no tag).
    """

    name: str
    roles: tuple
    slope: float
    attack: float
    decay: float
    sustain: float
    release: float = 0.05
    even: float = 1.0
    dulling: float = 0.0
    vibrato: tuple = (0.0, 0.0)
    detune: float = 0.0
    drive: float = 0.0
    breath: float = 0.0
    partials: tuple = ()
    formants: tuple = ()
    cutoff: float = 0.0
    drawbars: tuple = ()
    click: tuple = (0.0, 0.0)
    tags: tuple = ()


INSTRUMENTS = (
    Instrument("piano", ("lead", "comp"), slope=1.3, attack=0.002, decay=0.9,
               sustain=0.0, release=0.08, dulling=0.25, click=(0.15, 0.004),
               formants=((2500.0, 1.0, 0.6),), tags=("piano", "Piano")),
    Instrument("electric piano", ("lead", "comp"), slope=2.4, attack=0.002, decay=1.2,
               sustain=0.0, release=0.1, dulling=0.15, partials=((6.9, 0.35, 0.04),),
               tags=("electric piano", "Rhodes")),
    Instrument("organ", ("lead", "comp"), slope=1.0, attack=0.01, decay=1.0, sustain=1.0,
               vibrato=(6.5, 0.002), drawbars=(1.0, 0.8, 0.6, 0.5, 0.0, 0.35, 0.0, 0.3),
               click=(0.1, 0.003), tags=("organ", "Organ")),
    Instrument("clean guitar", ("lead", "comp"), slope=1.1, attack=0.002, decay=0.5,
               sustain=0.0, dulling=0.1, click=(0.2, 0.002),
               formants=((220.0, 2.0, 0.5), (2800.0, -0.6, 0.8)),
               tags=("guitar", "Guitar", "acoustic guitar")),
    Instrument("distorted guitar", ("lead", "comp"), slope=0.9, attack=0.003, decay=2.5,
               sustain=0.6, drive=8.0, dulling=0.4, cutoff=4500.0,
               formants=((1600.0, 2.0, 0.7),), tags=("guitar", "electric guitar")),
    Instrument("synth lead", ("lead", "comp"), slope=1.0, attack=0.01, decay=0.3,
               sustain=0.7, release=0.1, detune=0.006, dulling=0.3,
               tags=("synth", "Synth", "synthesizer")),
    Instrument("square lead", ("lead", "comp"), slope=1.0, even=0.0, attack=0.005, decay=0.5,
               sustain=0.8, tags=("synth", "Synth")),
    Instrument("pad", ("comp",), slope=1.8, attack=0.5, decay=1.0, sustain=1.0, release=0.6,
               detune=0.008, cutoff=2500.0, tags=("synth", "Synth")),
    Instrument("strings", ("lead", "comp"), slope=1.1, attack=0.25, decay=1.0, sustain=1.0,
               release=0.3, vibrato=(5.5, 0.005), detune=0.003,
               formants=((300.0, 1.5, 0.5), (1000.0, 1.0, 0.5), (3000.0, 1.5, 0.5)),
               tags=("strings", "orchestral")),
    Instrument("flute", ("lead",), slope=3.5, attack=0.05, decay=1.0, sustain=1.0,
               vibrato=(5.0, 0.003), breath=0.05, tags=("flute", "Flute")),
    Instrument("saxophone", ("lead", "comp"), slope=1.0, attack=0.04, decay=1.0, sustain=0.9,
               vibrato=(5.0, 0.004), breath=0.03, drive=1.5,
               formants=((500.0, 3.0, 0.5), (1500.0, 2.0, 0.4), (3000.0, 1.0, 0.4)),
               cutoff=5000.0, tags=("saxophone", "Saxophone", "sax")),
    Instrument("mallet", ("lead", "comp"), slope=4.0, attack=0.001, decay=0.4, sustain=0.0,
               partials=((3.93, 0.4, 0.08), (9.54, 0.15, 0.03)), click=(0.1, 0.002),
               tags=("vibraphone",)),
    Instrument("electric bass", ("bass",), slope=1.5, attack=0.004, decay=0.8, sustain=0.3,
               dulling=0.2, click=(0.05, 0.002)),
    Instrument("upright bass", ("bass",), slope=2.0, attack=0.01, decay=0.5, sustain=0.0,
               formants=((120.0, 2.0, 0.6),), click=(0.08, 0.004)),
    Instrument("synth bass", ("bass",), slope=1.0, attack=0.003, decay=0.2, sustain=0.7,
               dulling=0.15, drive=1.5, cutoff=1500.0),
    Instrument("sub bass", ("bass",), slope=5.0, attack=0.01, decay=1.0, sustain=1.0),
)

INSTRUMENT_INDEX = {inst.name: inst for inst in INSTRUMENTS}

#: Drum sounds of the shared pool, by the pattern role they can play.
DRUM_SOUNDS = {
    "low": ("acoustic kick", "808 kick", "soft kick", "low tom", "timpani"),
    "back": ("snare", "clap", "rim", "brush snare"),
    "time": ("closed hat", "ride", "shaker", "tambourine"),
    "accent": ("open hat", "crash", "high tom"),
}


def instruments_for(role: str) -> tuple[str, ...]:
    """Names of the instruments of the pool that can play ``role``."""
    return tuple(inst.name for inst in INSTRUMENTS if role in inst.roles)


def midi_to_hz(note: npt.ArrayLike) -> np.ndarray:
    """Frequency of a (fractional) MIDI note number."""
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=float) - 69.0) / 12.0)


_BASIS = {}


def _basis(n_harmonics):
    """``sin(k * phase)`` for the harmonics 1..n over one table (cached)."""
    if n_harmonics not in _BASIS:
        phase = 2 * np.pi * np.arange(TABLE_SIZE) / TABLE_SIZE
        _BASIS[n_harmonics] = np.sin(np.outer(phase, np.arange(1, n_harmonics + 1)))
    return _BASIS[n_harmonics]


def harmonic_levels(inst: Instrument, hz: float, sample_rate: int) -> np.ndarray:
    """Amplitudes of the harmonics of a note at ``hz`` (band-limited below Nyquist)."""
    n = int(max(1, min(64, 0.45 * sample_rate / max(hz, 1.0))))
    k = np.arange(1, n + 1)
    if inst.drawbars:
        amplitude = np.zeros(n)
        m = min(n, len(inst.drawbars))
        amplitude[:m] = inst.drawbars[:m]
    else:
        amplitude = k ** -float(inst.slope)
        amplitude[k % 2 == 0] *= inst.even
    freq = hz * k
    for centre, gain, width in inst.formants:
        amplitude *= 1.0 + gain * np.exp(-0.5 * (np.log2(freq / centre) / width) ** 2)
    if inst.cutoff:
        amplitude /= 1.0 + (freq / inst.cutoff) ** 4
    return amplitude


def wavetables(inst: Instrument, hz: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Bright and dull one-period tables for notes at ``hz``.

    Returns
    -------
    (np.ndarray, np.ndarray)
        Each of shape (TABLE_SIZE,), the bright one at unit peak, the dull one
        at the same RMS (so that dulling changes colour, not level).
    """
    amplitude = harmonic_levels(inst, hz, sample_rate)
    basis = _basis(len(amplitude))
    bright = basis @ amplitude
    bright /= np.max(np.abs(bright))
    dull = basis @ (amplitude * np.exp(-np.arange(len(amplitude)) / 1.5))
    dull *= np.sqrt(np.mean(bright ** 2) / np.mean(dull ** 2))
    return bright, dull


def render_note(inst: Instrument, tables: tuple[np.ndarray, np.ndarray], hz: float,
                seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One note of ``inst`` lasting ``seconds`` (plus its release).

    Parameters
    ----------
    inst : Instrument
    tables : (np.ndarray, np.ndarray)
        From :func:`wavetables`.
    hz : float
    seconds : float
        Time from the note's start to its release.
    sample_rate : int
    rng : np.random.Generator
        For breath noise and the phase of the second oscillator.

    Returns
    -------
    np.ndarray float64
    """
    bright, dull = tables
    n = max(8, int((seconds + inst.release) * sample_rate))
    t = np.arange(n) / sample_rate
    rate, depth = inst.vibrato
    cycles = hz * t
    if depth:
        # Closed-form phase of a sinusoidally modulated frequency.
        cycles = cycles + hz * depth / (2 * np.pi * rate) * (1 - np.cos(2 * np.pi * rate * t))
    index = (cycles * TABLE_SIZE).astype(np.int64) % TABLE_SIZE
    if inst.dulling:
        mix = np.exp(-t / inst.dulling)
        tone = dull[index] + mix * (bright[index] - dull[index])
    else:
        tone = bright[index]
    if inst.detune:
        shifted = ((cycles * (1 + inst.detune) + rng.random()) * TABLE_SIZE).astype(np.int64)
        tone = 0.5 * (tone + bright[shifted % TABLE_SIZE])
    for ratio, level, decay in inst.partials:
        tone = tone + level * np.sin(2 * np.pi * hz * ratio * t) * np.exp(-t / decay)
    if inst.breath:
        tone = tone + inst.breath * np.diff(rng.standard_normal(n + 1))
    if inst.drive:
        tone = np.tanh(inst.drive * tone) / np.tanh(inst.drive)
    level, decay = inst.click
    if level:
        burst = min(n, int(8 * decay * sample_rate))
        tone[:burst] += level * np.diff(rng.standard_normal(burst + 1)) * np.exp(-t[:burst] / decay)
    envelope = np.minimum(1.0, t / max(inst.attack, 1e-4))
    envelope *= inst.sustain + (1 - inst.sustain) * np.exp(-t / inst.decay)
    held = int(seconds * sample_rate)
    if held < n:
        envelope[held:] *= np.linspace(1.0, 0.0, n - held)
    return tone * envelope


def drum_sound(name: str, sample_rate: int, rng: np.random.Generator,
               tuning: float = 1.0) -> np.ndarray:
    """One hit of the drum sound ``name`` (a key of the :data:`DRUM_SOUNDS` lists).

    Parameters
    ----------
    name : str
    sample_rate : int
    rng : np.random.Generator
    tuning : float
        Pitch and length factor (each kit is tuned its own way).

    Returns
    -------
    np.ndarray float64, peak about 1
    """
    def time(seconds):
        return np.arange(int(seconds * sample_rate)) / sample_rate

    def noise(n, order=1):
        return np.diff(rng.standard_normal(n + order), n=order) / (2.0 ** (order / 2))

    def sweep(start_hz, end_hz, fall, length, ring):
        t = time(length)
        hz = (end_hz + (start_hz - end_hz) * np.exp(-t / fall)) * tuning
        return np.sin(2 * np.pi * np.cumsum(hz) / sample_rate) * np.exp(-t / ring)

    if name == "acoustic kick":
        out = sweep(140, 55, 0.02, 0.3, 0.09)
        out[:80] += 0.3 * noise(80)
    elif name == "808 kick":
        out = sweep(110, 45, 0.04, 0.8, 0.35)
    elif name == "soft kick":
        out = 0.8 * sweep(90, 60, 0.03, 0.25, 0.08)
    elif name == "low tom":
        out = sweep(160, 100, 0.05, 0.4, 0.15)
    elif name == "timpani":
        t = time(1.2)
        hz = 98 * tuning
        out = (np.sin(2 * np.pi * hz * t) + 0.5 * np.sin(2 * np.pi * hz * 1.5 * t)
               + 0.3 * np.sin(2 * np.pi * hz * 2.0 * t)) * np.exp(-t / 0.4) / 1.5
    elif name == "high tom":
        out = sweep(300, 190, 0.04, 0.3, 0.1)
    elif name == "snare":
        t = time(0.2)
        out = (0.6 * noise(len(t)) + 0.5 * np.sin(2 * np.pi * 190 * tuning * t)) * np.exp(-t / 0.05)
    elif name == "clap":
        t = time(0.25)
        bursts = sum(np.exp(-np.clip(t - d, 0, None) / 0.008) * (t >= d) for d in (0, 0.01, 0.022))
        out = noise(len(t), 2) * (bursts + 0.5 * np.exp(-t / 0.06)) / 2.0
    elif name == "rim":
        t = time(0.06)
        out = (np.sin(2 * np.pi * 1700 * tuning * t) + 0.5 * noise(len(t), 2)) * np.exp(-t / 0.012)
    elif name == "brush snare":
        t = time(0.3)
        out = 0.6 * noise(len(t)) * np.minimum(1.0, t / 0.02) * np.exp(-t / 0.09)
    elif name == "closed hat":
        t = time(0.06)
        out = 0.7 * noise(len(t), 2) * np.exp(-t / 0.012 / tuning)
    elif name == "open hat":
        t = time(0.35)
        out = 0.6 * noise(len(t), 2) * np.exp(-t / 0.12)
    elif name == "ride":
        t = time(0.9)
        ratios = np.array([1.0, 1.47, 1.97, 2.53, 3.21]) * 1180 * tuning
        bell = np.sin(2 * np.pi * np.outer(t, ratios) + rng.random(len(ratios)) * 6.28).sum(axis=1)
        out = (0.12 * bell + 0.4 * noise(len(t), 2)) * np.exp(-t / 0.35)
    elif name == "crash":
        t = time(1.5)
        out = 0.6 * noise(len(t), 2) * np.exp(-t / 0.5)
    elif name == "shaker":
        t = time(0.1)
        out = 0.5 * noise(len(t), 2) * np.minimum(1.0, t / 0.02) * np.exp(-t / 0.03)
    elif name == "tambourine":
        t = time(0.25)
        jingle = np.sin(2 * np.pi * 5200 * tuning * t) * np.sin(2 * np.pi * 7100 * t)
        out = (0.4 * noise(len(t), 2) + 0.3 * jingle) * np.exp(-t / 0.07)
    else:
        raise ValueError(f"unknown drum sound {name!r}")
    peak = np.max(np.abs(out))
    return out / peak if peak > 0 else out
