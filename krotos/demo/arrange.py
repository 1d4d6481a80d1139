"""From a song's musical description to the notes and drum hits of its band.

:class:`SongSpec` says what a demo song is (the groove, harmony and melody of
its styles, tempo, key, instruments and production); :func:`arrange` turns
it into timed events: a melody, an accompaniment, a bass line and drum hits,
all on one clock that knows the meter, the swing and any rubato. The
rendering of those events to audio is :mod:`krotos.demo.synth`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from krotos.demo.styles import CHORDS, METERS, MODES, STYLES, Style


@dataclass(frozen=True)
class SongSpec:
    """Everything that decides how one demo song sounds.

    Attributes
    ----------
    groove_style, groove : int
        Style index and index into its ``grooves``: the rhythm section.
    harmony_style, melody_style : int
        Styles whose harmony and melody the song uses (a song may borrow
        them from an artist's second style).
    drums : bool
        Whether the drums play.
    tempo : float
        Beats per minute.
    swing : float
        Swing ratio (0.5 straight).
    key : int
        Pitch class of the tonic.
    mode : str
    progression : tuple of int
        Chord roots as scale degrees.
    chord : str
        Chord type (a key of :data:`krotos.demo.styles.CHORDS`).
    bars_per_chord : float
    density : float
        Melody notes per beat.
    legato : float
        Melody note length as a fraction of the gap to the next note.
    dynamics : str
        Envelope over the clip.
    accents : float
        Extra loudness of strong beats.
    lead, comp, bass : str
        Instruments of the shared pool.
    kit : tuple of (str, str)
        ``(role, drum sound)`` pairs.
    kit_tuning : float
    register : int
        MIDI note at the centre of the melody.
    balance : tuple of float
        Gains of lead, comp, bass and drums.
    brightness : float
        Cutoff (Hz) of the production's low-pass tilt.
    reverb, reverb_seconds : float
        Wet level and decay time of the room.
    drive : float
        Saturation of the master bus (0: none).
    width : float
        Stereo spread of the parts (0 mono, 1 wide).
    level : float
        Peak level of the master (0-1).
    """

    groove_style: int
    groove: int
    harmony_style: int
    melody_style: int
    drums: bool
    tempo: float
    swing: float
    key: int
    mode: str
    progression: tuple
    chord: str
    bars_per_chord: float
    density: float
    legato: float
    dynamics: str
    accents: float
    lead: str
    comp: str
    bass: str
    kit: tuple
    kit_tuning: float
    register: int
    balance: tuple
    brightness: float
    reverb: float
    reverb_seconds: float
    drive: float
    width: float
    level: float


@dataclass
class Events:
    """Timed events of one song (seconds from the clip's start).

    ``notes[part]`` is an array of rows ``(onset, duration, midi note,
    velocity)`` for the parts ``lead``, ``comp`` and ``bass``; ``drums`` is a
    list of ``(onset, role, velocity)``.
    """

    notes: dict
    drums: list


class Clock:
    """Maps positions in beats to seconds: tempo, swing and rubato.

    Parameters
    ----------
    tempo : float
    steps_per_beat : int
    swing : float
        Where the off-beat eighth falls within the beat (0.5 straight).
    swing_unit : int
        8 or 16.
    rubato : float
        Relative tempo wander.
    n_beats : int
    rng : np.random.Generator
    """

    def __init__(self, tempo, steps_per_beat, swing, swing_unit, rubato, n_beats, rng):
        beat = 60.0 / tempo
        wander = np.ones(n_beats + 1)
        if rubato:
            # A slow random tempo curve: a few smooth bumps over the clip.
            knots = rng.normal(0.0, rubato, size=n_beats // 4 + 2)
            wander = np.exp(np.interp(np.arange(n_beats + 1) / 4.0, np.arange(len(knots)), knots))
        self._starts = np.concatenate([[0.0], np.cumsum(beat * wander)])
        self._swing = swing if steps_per_beat % 2 == 0 else 0.5
        self._unit = swing_unit

    def seconds(self, beats: npt.ArrayLike) -> np.ndarray:
        """Seconds at (arrays of) positions in beats."""
        beats = np.asarray(beats, dtype=float)
        whole = np.floor(beats).astype(int)
        frac = beats - whole
        if self._swing != 0.5:
            frac = (_swung(frac, self._swing) if self._unit == 8
                    else (np.floor(2 * frac) + _swung((2 * frac) % 1.0, self._swing)) / 2)
        whole = np.clip(whole, 0, len(self._starts) - 2)
        return self._starts[whole] + frac * (self._starts[whole + 1] - self._starts[whole])


def _swung(frac, ratio):
    """Piecewise-linear swing: the half-way point of a beat moves to ``ratio``."""
    return np.where(frac < 0.5, frac / 0.5 * ratio, ratio + (frac - 0.5) / 0.5 * (1 - ratio))


class Harmony:
    """The key, mode and chord of every position of a song."""

    def __init__(self, spec, beats_per_bar):
        self.scale = np.array(MODES[spec.mode])
        self.tonic = 60 + (spec.key if spec.key < 6 else spec.key - 12)
        self.progression = spec.progression
        self.beats_per_chord = spec.bars_per_chord * beats_per_bar
        self.chord = spec.chord

    def midi(self, degrees: npt.ArrayLike) -> np.ndarray:
        """MIDI notes of (arrays of) scale degrees, 0 the tonic above middle C."""
        degrees = np.asarray(degrees, dtype=int)
        return self.tonic + 12 * np.floor_divide(degrees, 7) + self.scale[np.mod(degrees, 7)]

    def root_degree(self, beat: float) -> int:
        """Scale degree of the root of the chord sounding at ``beat``."""
        index = int(np.floor(beat / self.beats_per_chord + 1e-9)) % len(self.progression)
        return self.progression[index]

    def chord_degrees(self, beat: float) -> np.ndarray:
        """Scale degrees of the chord sounding at ``beat`` (root position)."""
        root = self.root_degree(beat)
        steps = CHORDS["triad" if self.chord == "power" else self.chord]
        return root + np.array(steps)

    def chord_notes(self, beat: float, low: int) -> np.ndarray:
        """MIDI notes of the chord at ``beat``, the root the lowest at or above ``low``."""
        root = int(self.midi(self.root_degree(beat)))
        root = low + (root - low) % 12
        if self.chord == "power":
            return np.array([root, root + 7, root + 12])
        degrees = self.chord_degrees(beat)
        notes = self.midi(degrees) - self.midi(degrees[0]) + root
        return notes


def arrange(spec: SongSpec, clip_seconds: float, rng: np.random.Generator,
            styles: Sequence[Style] = STYLES) -> Events:
    """The events of ``spec`` over ``clip_seconds``.

    Parameters
    ----------
    spec : SongSpec
    clip_seconds : float
    rng : np.random.Generator
        The song's own generator.
    styles : sequence of Style

    Returns
    -------
    Events
    """
    groove = styles[spec.groove_style].grooves[spec.groove]
    melody_style = styles[spec.melody_style].melody
    beats_per_bar, steps_per_beat = METERS[groove.meter]
    steps = beats_per_bar * steps_per_beat
    n_bars = int(np.ceil(clip_seconds * spec.tempo / 60.0 / beats_per_bar)) + 2
    clock = Clock(spec.tempo, steps_per_beat, spec.swing, groove.swing_unit, groove.rubato,
                  n_bars * beats_per_bar, rng)
    harmony = Harmony(spec, beats_per_bar)
    ctx = _Context(spec, groove, clock, harmony, beats_per_bar, steps_per_beat, steps, n_bars,
                   clip_seconds, rng)
    notes = {
        "lead": _melody(ctx, melody_style),
        "comp": _comp(ctx),
        "bass": _bass(ctx),
    }
    drums = _drums(ctx) if spec.drums else []
    return Events(notes=notes, drums=drums)


@dataclass
class _Context:
    spec: SongSpec
    groove: object
    clock: Clock
    harmony: Harmony
    beats_per_bar: int
    steps_per_beat: int
    steps: int
    n_bars: int
    clip_seconds: float
    rng: np.random.Generator

    def beat_of(self, bar, step):
        return bar * self.beats_per_bar + step / self.steps_per_beat

    def accent(self, step):
        """Velocity factor of a step: strong beats louder."""
        a = self.spec.accents
        if step == 0:
            return 1.0 + a
        if step % self.steps_per_beat == 0:
            return 1.0 + a / 2
        return 1.0 - a / 2

    def eighth_steps(self):
        """Steps of the eighth notes in a bar."""
        stride = 2 if self.steps_per_beat == 4 else 1
        return list(range(0, self.steps, stride))

    def note(self, rows, bar, step, length_beats, midi, velocity):
        beat = self.beat_of(bar, step)
        start, end = self.clock.seconds([beat, beat + length_beats])
        if start < self.clip_seconds:
            jitter = self.rng.normal(0.0, 0.004)
            rows.append((max(0.0, start + jitter), max(0.03, end - start), float(midi),
                         float(velocity * self.rng.uniform(0.85, 1.0))))


def _rows(rows):
    return np.array(rows, dtype=float).reshape(-1, 4)


def _melody(ctx, style):
    spec, rng, harmony = ctx.spec, ctx.rng, ctx.harmony
    centre = int(round((spec.register - harmony.tonic) / 12.0 * 7))
    position = centre
    phrase = int(rng.choice([2, 4]))
    motif = None
    rows = []
    on_beat = np.array([s % ctx.steps_per_beat == 0 for s in range(ctx.steps)])
    weights = np.where(on_beat, 1.0, style.syncopation * (0.8 if ctx.steps_per_beat == 3 else 0.6))
    weights[0] *= 1.5
    for bar in range(ctx.n_bars):
        in_phrase = bar % phrase
        if motif is not None and in_phrase and rng.random() < style.repeat:
            steps_used, moves = motif
        else:
            count = int(np.clip(rng.poisson(spec.density * ctx.beats_per_bar), 1, ctx.steps))
            steps_used = np.sort(rng.choice(ctx.steps, size=count, replace=False,
                                            p=weights / weights.sum()))
            if in_phrase == phrase - 1 and len(steps_used) > 1:
                steps_used = steps_used[: max(1, len(steps_used) // 2)]  # breathe at phrase end
            leaps = rng.integers(2, style.leap + 1, size=len(steps_used))
            moves = np.where(rng.random(len(steps_used)) < style.step, 1, leaps)
            rising = in_phrase < phrase / 2
            signs = np.where(rng.random(len(steps_used)) < (0.65 if rising else 0.35), 1, -1)
            moves = moves * signs
            if motif is None or in_phrase == 0:
                motif = (steps_used, moves)
        for i, step in enumerate(steps_used):
            beat = ctx.beat_of(bar, step)
            position = int(np.clip(position + moves[i], centre - 7, centre + 7))
            if step % ctx.steps_per_beat == 0 and rng.random() < 0.6:
                chord = harmony.chord_degrees(beat)
                # Land on the chord tone nearest the line's position.
                options = np.concatenate([chord + 7 * k for k in (-2, -1, 0, 1, 2)])
                position = int(options[np.argmin(np.abs(options - position))])
            midi = harmony.midi(position)
            if style.chromatic and rng.random() < style.chromatic:
                midi += rng.choice([-1, 1])
            following = steps_used[i + 1] if i + 1 < len(steps_used) else ctx.steps
            gap = (following - step) / ctx.steps_per_beat
            length = min(2.0, max(0.1, gap * spec.legato))
            ctx.note(rows, bar, step, length, midi, ctx.accent(step))
    return _rows(rows)


def _comp(ctx):
    spec, rng, harmony = ctx.spec, ctx.rng, ctx.harmony
    idiom = ctx.groove.comp
    spb, steps = ctx.steps_per_beat, ctx.steps
    rows = []
    low = 52 if spec.chord != "power" else 40
    stab_pattern = None
    if idiom == "stabs":
        count = int(rng.integers(2, 5))
        stab_pattern = np.sort(rng.choice(np.arange(1, steps), size=count, replace=False))
        if rng.random() < 0.5:
            stab_pattern = np.concatenate([[0], stab_pattern])
    for bar in range(ctx.n_bars):
        if idiom == "sustain":
            chord_beats = harmony.beats_per_chord
            for start in np.arange(0, ctx.beats_per_bar, min(chord_beats, ctx.beats_per_bar)):
                beat = bar * ctx.beats_per_bar + start
                step = int(round(start * spb))
                for midi in harmony.chord_notes(beat, low):
                    ctx.note(rows, bar, step, min(chord_beats, ctx.beats_per_bar), midi, 0.8)
            continue
        if idiom == "strum":
            hits = [(s, 0.9 if s % spb == 0 else 0.6, 0.9 * (2 if spb == 4 else 1) / spb)
                    for s in ctx.eighth_steps()]
        elif idiom == "block":
            hits = [(s, 0.9, 0.8) for s in range(0, steps, spb)]
        elif idiom == "offbeat":
            hits = [(s + spb // 2, 0.8, 0.3) for s in range(0, steps, spb)]
        elif idiom == "charleston":
            hits = [(0, 0.9, 0.6), (spb + spb // 2, 0.8, 0.5)]
            if rng.random() < 0.3:
                hits.append((steps - spb // 2, 0.7, 0.5))
        elif idiom == "power":
            hits = [(s, 1.0 if s % spb == 0 else 0.8, 0.4) for s in ctx.eighth_steps()]
        elif idiom == "stabs":
            hits = [(int(s), 0.85, 0.35) for s in stab_pattern]
        elif idiom == "waltz":
            hits = [(s, 0.7, 0.6) for s in range(spb, steps, spb)]
        elif idiom == "arpeggio":
            stride = 1 if spb == 3 else 2
            for k, s in enumerate(range(0, steps, stride)):
                beat = ctx.beat_of(bar, s)
                notes = harmony.chord_notes(beat, low)
                order = [0, 1, 2, 1] if len(notes) == 3 else [0, 1, 2, 3, 2, 1]
                midi = notes[order[k % len(order)]] + (12 if k % len(order) == 2 else 0)
                ctx.note(rows, bar, s, 1.5 * stride / spb, midi, 0.7 * ctx.accent(s))
            continue
        else:
            raise ValueError(f"unknown accompaniment idiom {idiom!r}")
        for step, velocity, length in hits:
            beat = ctx.beat_of(bar, step)
            for k, midi in enumerate(harmony.chord_notes(beat, low)):
                # A strum: each string a little later than the one below.
                spread = 0.012 * k * spec.tempo / 60.0 if idiom == "strum" else 0.0
                ctx.note(rows, bar, step + spread * spb, length, midi, velocity * ctx.accent(step))
    return _rows(rows)


def _bass(ctx):
    spec, rng, harmony = ctx.spec, ctx.rng, ctx.harmony
    idiom = ctx.groove.bass
    spb, steps, bpb = ctx.steps_per_beat, ctx.steps, ctx.beats_per_bar
    rows = []
    low = 33
    syncopated = None
    if idiom == "syncopated":
        count = int(rng.integers(3, 7))
        syncopated = np.sort(np.concatenate([[0], rng.choice(np.arange(1, steps), size=count - 1,
                                                             replace=False)]))
        intervals = rng.choice([0, 0, 7, 12], size=len(syncopated))
    kick = ctx.groove.drums.get("low", "")
    for bar in range(ctx.n_bars):
        def root(step, bar=bar):
            return int(harmony.chord_notes(ctx.beat_of(bar, step), low)[0])

        if idiom == "kick":
            hits = [s for s, c in enumerate(kick) if c == "x"] if kick and spec.drums else \
                [s for s in (0, steps // 2)]
            for i, s in enumerate(hits):
                end = hits[i + 1] if i + 1 < len(hits) else steps
                ctx.note(rows, bar, s, 0.9 * (end - s) / spb, root(s), 0.9)
        elif idiom == "eighths":
            for s in ctx.eighth_steps():
                ctx.note(rows, bar, s, 0.8 * (2 if spb == 4 else 1) / spb, root(s),
                         0.9 * ctx.accent(s))
        elif idiom == "octaves":
            for k, s in enumerate(ctx.eighth_steps()):
                ctx.note(rows, bar, s, 0.4, root(s) + 12 * (k % 2), 0.85)
        elif idiom == "offbeat":
            for s in range(spb // 2, steps, spb):
                ctx.note(rows, bar, s, 0.4, root(s), 0.9)
        elif idiom == "sustain":
            for start in np.arange(0, bpb, min(harmony.beats_per_chord, bpb)):
                s = int(round(start * spb))
                ctx.note(rows, bar, s, min(harmony.beats_per_chord, bpb), root(s), 0.9)
        elif idiom == "gallop":
            for b in range(bpb):
                for offset in (0, 2, 3) if spb == 4 else (0, 1, 2):
                    s = b * spb + offset
                    ctx.note(rows, bar, s, 0.2, root(s), 0.9 if offset == 0 else 0.7)
        elif idiom == "root_fifth":
            if bpb == 3:
                hits = [(0, 0)]
            elif bpb == 2:
                hits = [(0, 0), (spb, 7)]
            else:
                hits = [(0, 0), (2 * spb, 7)]
            for s, interval in hits:
                ctx.note(rows, bar, s, 0.9 * (steps / len(hits)) / spb, root(s) + interval, 0.9)
        elif idiom == "walking":
            for b in range(bpb):
                s = b * spb
                here = root(s)
                if b == 0:
                    midi = here
                elif b == bpb - 1:
                    # Approach the next bar's root from a semitone away.
                    target = int(harmony.chord_notes(ctx.beat_of(bar + 1, 0), low)[0])
                    midi = target + rng.choice([-1, 1])
                else:
                    chord = harmony.chord_notes(ctx.beat_of(bar, s), low)
                    midi = int(rng.choice(chord))
                ctx.note(rows, bar, s, 0.9, midi, 0.85 + 0.15 * (b == 0))
        elif idiom == "syncopated":
            for i, s in enumerate(syncopated):
                end = syncopated[i + 1] if i + 1 < len(syncopated) else steps
                ctx.note(rows, bar, int(s), 0.8 * (end - s) / spb, root(int(s)) + intervals[i], 0.9)
        else:
            raise ValueError(f"unknown bass idiom {idiom!r}")
    return _rows(rows)


def _drums(ctx):
    rng = ctx.rng
    hits = []
    for role, pattern in ctx.groove.drums.items():
        if len(pattern) != ctx.steps:
            raise ValueError(f"{ctx.groove.name}: the {role} pattern has {len(pattern)} steps, "
                             f"the meter {ctx.groove.meter} has {ctx.steps}")
        steps = np.array([s for s, c in enumerate(pattern) if c in "xo"], dtype=float)
        ghost = np.array([pattern[int(s)] == "o" for s in steps])
        for bar in range(ctx.n_bars):
            if role == "accent" and bar % 2:
                continue  # crashes and open hats mark every other bar
            beats = bar * ctx.beats_per_bar + steps / ctx.steps_per_beat
            times = ctx.clock.seconds(beats) + rng.normal(0.0, 0.003, size=len(beats))
            for t, is_ghost, s in zip(times, ghost, steps):
                if t < ctx.clip_seconds:
                    velocity = (0.35 if is_ghost else 1.0) * ctx.accent(int(s))
                    hits.append((max(0.0, float(t)), role, velocity * rng.uniform(0.85, 1.0)))
    return hits
