"""Synthesis of the demo songs' audio from their style mixes.

Each active style of a song plays its own layer: a melodic line (or chords)
in the style's register, rhythm and timbre, plus its percussion and noise.
Layers are mixed by the song's style weights, so a song that is mostly jazz
with a little electronic sounds like that. Timbres come from one-period
wavetables (cheap, and band-limited by construction).
"""

import numpy as np

TABLE_SIZE = 2048
MAJOR_PENTATONIC = (0, 2, 4, 7, 9)
MINOR_PENTATONIC = (0, 3, 5, 7, 10)


def midi_to_hz(note):
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=float) - 69.0) / 12.0)


def wavetable(style, sample_rate):
    """One period of the style's waveform, normalized to unit peak."""
    top_hz = midi_to_hz(style.register[1] + 12)
    n_harmonics = int(max(1, min(40, 0.45 * sample_rate / top_hz)))
    k = np.arange(1, n_harmonics + 1)
    amplitude = k ** -style.harmonic_decay
    if style.odd_only:
        amplitude[k % 2 == 0] = 0.0
    phase = 2 * np.pi * np.arange(TABLE_SIZE) / TABLE_SIZE
    table = np.sin(np.outer(phase, k)) @ amplitude
    return table / np.max(np.abs(table))


def _note(table, hz, n_samples, sample_rate, attack, distortion):
    t = np.arange(n_samples) / sample_rate
    index = (hz * t * TABLE_SIZE).astype(np.int64) % TABLE_SIZE
    tone = table[index]
    if distortion > 0:
        tone = np.tanh(distortion * tone) / np.tanh(distortion)
    duration = n_samples / sample_rate
    envelope = np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-3.0 * t / duration)
    return tone * envelope


def _melodic_layer(style, n, sample_rate, step_seconds, rng):
    table = wavetable(style, sample_rate)
    scale = MAJOR_PENTATONIC if rng.random() < 0.5 else MINOR_PENTATONIC
    low, high = style.register
    pitches = np.array([p for p in range(low, high + 1) if (p - low) % 12 in scale])
    position = rng.integers(len(pitches))
    note_samples = int(style.note_steps * step_seconds * sample_rate)
    out = np.zeros(n + note_samples)
    n_steps = int(n / (step_seconds * sample_rate))
    for i in range(n_steps):
        if style.pattern[i % 16] != "x":
            continue
        position = int(np.clip(position + rng.integers(-2, 3), 0, len(pitches) - 1))
        start = int(i * step_seconds * sample_rate)
        for voice in range(style.chord):
            p = pitches[min(position + 2 * voice, len(pitches) - 1)]
            out[start:start + note_samples] += _note(
                table, midi_to_hz(p), note_samples, sample_rate, style.attack,
                style.distortion) / style.chord
    return out[:n]


def _drum(kind, sample_rate, rng):
    if kind == "kick":
        n = int(0.25 * sample_rate)
        t = np.arange(n) / sample_rate
        hz = 45 + 80 * np.exp(-t / 0.03)
        return np.sin(2 * np.pi * np.cumsum(hz) / sample_rate) * np.exp(-t / 0.12)
    if kind == "snare":
        n = int(0.18 * sample_rate)
        t = np.arange(n) / sample_rate
        noise = np.diff(rng.standard_normal(n + 1))
        return (0.5 * noise + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.06)
    n = int(0.05 * sample_rate)  # hat: twice-differenced noise is bright
    t = np.arange(n) / sample_rate
    return 0.4 * np.diff(rng.standard_normal(n + 2), n=2) * np.exp(-t / 0.015)


def _percussion_layer(style, n, sample_rate, step_seconds, rng):
    out = np.zeros(n + sample_rate)
    n_steps = int(n / (step_seconds * sample_rate))
    for kind, pattern in (("kick", style.kick), ("snare", style.snare), ("hat", style.hat)):
        if not pattern:
            continue
        hit = _drum(kind, sample_rate, rng)
        for i in range(n_steps):
            if pattern[i % 16] == "x":
                start = int(i * step_seconds * sample_rate)
                out[start:start + len(hit)] += hit
    return out[:n]


def _unit_rms(x):
    rms = np.sqrt(np.mean(x ** 2))
    return x / rms if rms > 0 else x


def render_song(mix, styles, clip_seconds, sample_rate, rng, min_weight=0.15):
    """Render a stereo clip for a song with the given style mix.

    Parameters
    ----------
    mix : np.ndarray, shape (n_styles,)
        Style weights, summing to 1.
    styles : sequence of Style
    clip_seconds : float
    sample_rate : int
    rng : np.random.Generator
        The song's own generator (rendering is deterministic given it).
    min_weight : float
        Styles below this weight stay silent (the dominant one always plays).

    Returns
    -------
    np.ndarray, shape (n_samples, 2), float32
        Peak-normalized to a random level below 1.
    """
    n = int(clip_seconds * sample_rate)
    dominant = int(np.argmax(mix))
    tempo = rng.uniform(*styles[dominant].tempo)
    step_seconds = 60.0 / tempo / 4.0
    audio = np.zeros(n)
    for k in np.flatnonzero((mix >= min_weight) | (np.arange(len(mix)) == dominant)):
        style = styles[k]
        layer = _unit_rms(_melodic_layer(style, n, sample_rate, step_seconds, rng))
        if style.kick or style.snare or style.hat:
            layer += 0.8 * _unit_rms(_percussion_layer(style, n, sample_rate, step_seconds, rng))
        if style.noise:
            layer += 3.0 * style.noise * rng.standard_normal(n)
        audio += mix[k] * layer
    audio += 0.002 * rng.standard_normal(n)  # a quiet floor, as in any recording
    audio *= rng.uniform(0.4, 0.9) / max(1e-9, np.max(np.abs(audio)))
    # A slightly different balance per channel, so that downmixing matters.
    pan = rng.uniform(0.35, 0.65)
    stereo = np.stack([audio * (1 - pan) * 2, audio * pan * 2], axis=1)
    return np.clip(stereo, -1.0, 1.0).astype(np.float32)
