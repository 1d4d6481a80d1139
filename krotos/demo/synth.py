"""Render a demo song: its band's events through its instruments and production.

:func:`krotos.demo.arrange.arrange` decides the notes and drum hits;
this module plays them with the song's instruments from the shared pool
(:mod:`krotos.demo.instruments`), balances the parts (each at unit RMS, then
the artist's balance, since a mix engineer levels parts whatever their
density), applies the dynamics over the clip, pans the parts, and gives the
result the artist's production: saturation, a tilt towards dull or bright,
a room, a peak level. Everything is numpy; one song takes a few hundredths
of a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import fftconvolve, lfilter, resample_poly

from krotos.demo.arrange import SongSpec, arrange
from krotos.demo.instruments import INSTRUMENT_INDEX, drum_sound, midi_to_hz, render_note, wavetables
from krotos.demo.styles import STYLES, Style

#: Relative level of the drum roles inside the kit.
DRUM_GAINS = {"low": 1.0, "back": 0.8, "time": 0.35, "accent": 0.3}


def _unit_rms(x):
    rms = np.sqrt(np.mean(x ** 2))
    return x / rms if rms > 0 else x


def _place(buffer, sound, start):
    end = min(len(buffer), start + len(sound))
    if end > start:
        buffer[start:end] += sound[: end - start]


def _pitched_part(rows, instrument, n, sample_rate, rng):
    inst = INSTRUMENT_INDEX[instrument]
    out = np.zeros(n)
    if len(rows) == 0:
        return out
    tables = {}
    for onset, duration, midi, velocity in rows:
        if midi not in tables:
            tables[midi] = wavetables(inst, float(midi_to_hz(midi)), sample_rate)
        note = render_note(inst, tables[midi], float(midi_to_hz(midi)), duration, sample_rate, rng)
        _place(out, velocity * note, int(onset * sample_rate))
    return out


def dynamics_envelope(kind: str, n: int, sample_rate: int) -> np.ndarray:
    """Gain over the clip for a dynamics kind (see :class:`krotos.demo.styles.Style`)."""
    t = np.linspace(0.0, 1.0, n)
    if kind == "flat":
        return np.ones(n)
    if kind == "crescendo":
        return 0.45 + 0.55 * t
    if kind == "decrescendo":
        return 1.0 - 0.5 * t
    if kind == "swell":
        return 0.5 + 0.5 * np.sin(np.pi * t)
    if kind == "terraced":
        seconds = np.arange(n) / sample_rate
        steps = np.where((seconds // 2.5) % 2 == 0, 1.0, 0.6)
        return lfilter([0.002], [1, -0.998], steps, zi=[steps[0] * 0.998])[0]
    raise ValueError(f"unknown dynamics {kind!r}")


def _pan(mono, position):
    """Constant-power pan; position in [-1, 1]."""
    angle = (position + 1) * np.pi / 4
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)], axis=1)


def _room(stereo, seconds, wet, sample_rate, rng):
    """A room's diffuse tail (decaying noise) mixed in at ``wet``."""
    # A tail is dull (rooms absorb the highs first): it is computed at a
    # quarter of the rate, sixteen times cheaper, and brought back up.
    factor = 4
    rate = sample_rate / factor
    low = resample_poly(stereo, 1, factor, axis=0)
    t = np.arange(int(seconds * rate)) / rate
    ir = rng.standard_normal((len(t), 2)) * np.exp(-6.9 * t / seconds)[:, None]
    ir /= np.sqrt(np.sum(ir ** 2, axis=0, keepdims=True))
    tail = fftconvolve(low, ir, axes=0)[: len(low)]
    tail = resample_poly(tail, factor, 1, axis=0)[: len(stereo)]
    return (1 - wet) * stereo + wet * tail


def render_song(spec: SongSpec, clip_seconds: float, sample_rate: int, rng: np.random.Generator,
                styles: Sequence[Style] = STYLES) -> np.ndarray:
    """Render a stereo clip of the song ``spec``.

    Parameters
    ----------
    spec : krotos.demo.arrange.SongSpec
    clip_seconds : float
    sample_rate : int
    rng : np.random.Generator
        The song's own generator (rendering is deterministic given it).
    styles : sequence of Style

    Returns
    -------
    np.ndarray, shape (n_samples, 2), float32
        Peak-normalized to the spec's level.
    """
    n = int(clip_seconds * sample_rate)
    events = arrange(spec, clip_seconds, rng, styles)
    lead_gain, comp_gain, bass_gain, drum_gain = spec.balance
    lead = _pitched_part(events.notes["lead"], spec.lead, n, sample_rate, rng)
    comp = _pitched_part(events.notes["comp"], spec.comp, n, sample_rate, rng)
    bass = _pitched_part(events.notes["bass"], spec.bass, n, sample_rate, rng)
    width = spec.width
    mix = (_pan(lead_gain * _unit_rms(lead), rng.uniform(-0.15, 0.15))
           + _pan(comp_gain * _unit_rms(comp), width * rng.choice([-0.6, 0.6]))
           + _pan(bass_gain * _unit_rms(bass), 0.0))
    if events.drums:
        kit = dict(spec.kit)
        sounds = {role: drum_sound(kit[role], sample_rate, rng, spec.kit_tuning) for role in kit}
        drums = np.zeros((n, 2))
        for role in sounds:
            track = np.zeros(n)
            for onset, hit_role, velocity in events.drums:
                if hit_role == role:
                    _place(track, velocity * sounds[role], int(onset * sample_rate))
            position = {"time": -0.4, "accent": 0.4}.get(role, 0.0) * width
            drums += _pan(DRUM_GAINS[role] * track, position)
        rms = np.sqrt(np.mean(drums ** 2))
        if rms > 0:
            mix += drum_gain * drums / rms
    mix *= dynamics_envelope(spec.dynamics, n, sample_rate)[:, None]
    if spec.drive:
        mix = np.tanh(spec.drive * mix / np.max(np.abs(mix))) / np.tanh(spec.drive)
    pole = np.exp(-2 * np.pi * spec.brightness / sample_rate)
    mix = lfilter([1 - pole], [1, -pole], mix, axis=0)
    if spec.reverb:
        mix = _room(mix, spec.reverb_seconds, spec.reverb, sample_rate, rng)
    mix += 0.002 * np.max(np.abs(mix)) * rng.standard_normal(mix.shape)  # a recording's floor
    mix *= spec.level / max(1e-9, np.max(np.abs(mix)))
    return np.clip(mix, -1.0, 1.0).astype(np.float32)
