"""The styles of the demo world, defined in time and voiced by one shared band.

A style here is what distinguishes genres in real music: how time is
organised (meter, tempo, groove, swing, syncopation), how harmony moves
(mode, chord progressions, harmonic rhythm) and how melodies go (density,
interval sizes, repetition, contour), plus the dynamics over a clip. What a
style does *not* own is a sound: every style draws its instruments and drum
sounds from one pool (:mod:`krotos.demo.instruments`), with preferences that
overlap widely, as rock, jazz and hip hop all use pianos, basses and drum kits.

Each style has sub-styles (:class:`Groove`): a rhythm-section idiom with its
own meter, tempo range, swing, drum pattern, bass and accompaniment figures
and sub-genre tags (boom bap and trap are both hip hop). Drum patterns name
*roles* (``low``, ``back``, ``time``, ``accent``), not sounds: the kit that
plays them is the artist's, from the shared pool.

Patterns are one bar of steps: ``x`` a hit, ``o`` a ghost note, ``.`` a rest.
A bar has ``beats * steps_per_beat`` steps (:data:`METERS`): 16 in 4/4, 12 in
3/4, 6 in 6/8 and 12 in 12/8 (three eighths per beat in compound meters).
"""

from dataclasses import dataclass

#: meter -> (beats per bar, steps per beat). Compound meters count dotted beats.
METERS = {"4/4": (4, 4), "3/4": (3, 4), "6/8": (2, 3), "12/8": (4, 3)}

#: Modes as semitones above the tonic.
MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
}

#: The modes heard as bright (major third over the tonic) and as dark.
MAJOR_MODES = ("major", "mixolydian", "lydian")
MINOR_MODES = ("minor", "dorian", "phrygian", "harmonic minor")

#: Chord types: scale steps above the chord's root (``power`` is root, fifth, octave).
CHORDS = {"triad": (0, 2, 4), "seventh": (0, 2, 4, 6), "sus": (0, 1, 4),
          "add9": (0, 2, 4, 8), "power": (0, 4, 7)}

#: Decades the demo's artists come from.
DECADES = (1960, 1970, 1980, 1990, 2000)


@dataclass(frozen=True)
class Groove:
    """A sub-style: one rhythm-section idiom.

    Attributes
    ----------
    name : str
    meter : str
        A key of :data:`METERS`.
    tempo : (float, float)
        Range of beats per minute (dotted beats in compound meters).
    swing : (float, float)
        Range of the swing ratio: where the off-beat eighth falls within the
        beat, 0.5 straight, 2/3 triplet swing. Ignored in compound meters.
    drums : dict
        ``role -> pattern`` for the roles ``low``, ``back``, ``time``, ``accent``.
    bass : str
        Bass idiom: ``kick`` (roots with the low drum), ``eighths``,
        ``walking``, ``root_fifth``, ``octaves``, ``offbeat``, ``sustain``,
        ``gallop``, ``syncopated``.
    comp : str
        Accompaniment idiom: ``strum``, ``block``, ``offbeat``, ``charleston``,
        ``sustain``, ``arpeggio``, ``power``, ``stabs``, ``waltz``.
    tags : tuple of (tuple of str, float)
        Sub-genre tags, each as (spellings, probability).
    swing_unit : int
        8: the swing moves off-beat eighths; 16: it moves off-beat sixteenths.
    rubato : float
        Relative tempo wander over the clip (0 for a steady pulse).
    """

    name: str
    meter: str
    tempo: tuple
    drums: dict
    bass: str
    comp: str
    swing: tuple = (0.5, 0.5)
    tags: tuple = ()
    swing_unit: int = 8
    rubato: float = 0.0


@dataclass(frozen=True)
class Melody:
    """How a style's melodies move.

    Attributes
    ----------
    density : (float, float)
        Range of notes per beat.
    step : float
        Probability that the next note moves by one scale step (else a leap).
    leap : int
        Largest leap, in scale steps.
    chromatic : float
        Probability of a chromatic neighbour note.
    repeat : float
        Probability that a bar repeats the motif (riffs, loops) rather than
        continuing the line.
    syncopation : float
        Weight of off-beat positions relative to on-beat ones.
    legato : (float, float)
        Range of a note's length as a fraction of the time to the next note.
    """

    density: tuple
    step: float
    leap: int
    chromatic: float
    repeat: float
    syncopation: float
    legato: tuple = (0.6, 0.95)


@dataclass(frozen=True)
class Style:
    """One latent style.

    Attributes
    ----------
    name : str
    tags : tuple of (tuple of str, float)
        Genre tags, each as (raw spellings, probability for a song of this
        style). Several spellings of one tag mimic Last.fm.
    grooves : tuple of Groove
        Sub-styles, equally likely a priori (each artist favours some).
    drums : float
        Probability that a song has drums at all.
    modes : dict
        ``mode -> weight``.
    progressions : tuple of tuple of int
        Chord roots as scale degrees (0 = tonic), one per chord change, looped.
    chords : dict
        ``chord type -> weight`` (keys of :data:`CHORDS`).
    harmonic_rhythm : dict
        ``bars per chord -> weight``.
    melody : Melody
    dynamics : dict
        ``envelope -> weight``: ``flat``, ``crescendo``, ``decrescendo``,
        ``swell``, ``terraced``.
    instruments : tuple of str
        Instruments of the shared pool this style favours (a few times more
        likely than the others, never exclusive).
    kits : tuple of str
        Drum sounds of the shared pool it favours, the same way.
    decades : tuple of float
        Relative share of the style's artists in each of :data:`DECADES`.
    accents : float
        How much louder notes on strong beats are than the others.
    """

    name: str
    tags: tuple
    grooves: tuple
    drums: float
    modes: dict
    progressions: tuple
    chords: dict
    harmonic_rhythm: dict
    melody: Melody
    dynamics: dict
    instruments: tuple
    kits: tuple = ()
    decades: tuple = (1, 1, 1, 1, 1)
    accents: float = 0.15


# Drum patterns used by several grooves.
_BACKBEAT = "....x.......x..."
_EIGHTHS = "x.x.x.x.x.x.x.x."
_QUARTERS = "x...x...x...x..."
_SIXTEENTHS = "xoxoxoxoxoxoxoxo"

STYLES = (
    Style(
        "rock",
        tags=((("rock", "Rock"), 0.9), (("classic rock", "Classic Rock"), 0.3),
              (("alternative", "Alternative"), 0.3)),
        grooves=(
            Groove("straight rock", "4/4", (108, 140),
                   {"low": "x.......x.x.....", "back": _BACKBEAT, "time": _EIGHTHS,
                    "accent": "x..............."},
                   bass="eighths", comp="power", tags=((("hard rock", "Hard Rock"), 0.4),)),
            Groove("punk", "4/4", (150, 185),
                   {"low": "x...x...x...x...", "back": _BACKBEAT, "time": _EIGHTHS},
                   bass="eighths", comp="power", tags=((("punk", "Punk", "punk rock"), 0.6),)),
            Groove("pop rock", "4/4", (96, 124),
                   {"low": "x......xx.x.....", "back": _BACKBEAT, "time": _EIGHTHS},
                   bass="kick", comp="strum", tags=((("pop rock", "Pop Rock"), 0.4),)),
            Groove("blues shuffle", "12/8", (84, 112),
                   {"low": "x.....x.....", "back": "...x.....x..", "time": "x.xx.xx.xx.x"},
                   bass="walking", comp="stabs", tags=((("blues", "Blues", "blues rock"), 0.6),)),
        ),
        drums=0.95,
        modes={"major": 0.35, "mixolydian": 0.35, "minor": 0.3},
        progressions=((0, 6, 3, 0), (0, 3, 4, 3), (0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 0, 4)),
        chords={"power": 0.5, "triad": 0.5},
        harmonic_rhythm={1: 0.7, 0.5: 0.3},
        melody=Melody(density=(0.8, 1.6), step=0.6, leap=4, chromatic=0.05, repeat=0.5,
                      syncopation=0.6),
        dynamics={"flat": 0.4, "crescendo": 0.3, "terraced": 0.3},
        instruments=("distorted guitar", "clean guitar", "organ", "electric bass"),
        kits=("acoustic kick", "snare", "closed hat", "crash"),
        decades=(0.2, 0.25, 0.2, 0.2, 0.15),
    ),
    Style(
        "electronic",
        tags=((("electronic", "Electronic", "electronica"), 0.9), (("dance", "Dance"), 0.5),
              (("electro",), 0.2)),
        grooves=(
            Groove("house", "4/4", (118, 128),
                   {"low": _QUARTERS, "back": _BACKBEAT, "time": "..x...x...x...x."},
                   bass="offbeat", comp="offbeat", tags=((("house", "House"), 0.6),)),
            Groove("techno", "4/4", (126, 140),
                   {"low": _QUARTERS, "time": _SIXTEENTHS, "accent": "..x...x...x...x."},
                   bass="octaves", comp="sustain", tags=((("techno", "Techno"), 0.6),)),
            Groove("trance", "4/4", (130, 142),
                   {"low": _QUARTERS, "time": "..x...x...x...x.", "back": "....x.......x..."},
                   bass="offbeat", comp="arpeggio", tags=((("trance", "Trance"), 0.6),)),
        ),
        drums=0.95,
        modes={"minor": 0.55, "dorian": 0.25, "major": 0.2},
        progressions=((0,), (0, 5, 2, 6), (0, 0, 5, 5), (0, 3), (0, 6, 5, 6)),
        chords={"seventh": 0.35, "sus": 0.3, "triad": 0.35},
        harmonic_rhythm={2: 0.6, 1: 0.4},
        melody=Melody(density=(2.0, 4.0), step=0.5, leap=5, chromatic=0.0, repeat=0.9,
                      syncopation=1.3, legato=(0.3, 0.7)),
        dynamics={"flat": 0.5, "crescendo": 0.5},
        instruments=("synth lead", "square lead", "pad", "synth bass"),
        kits=("808 kick", "clap", "closed hat", "open hat"),
        decades=(0.0, 0.05, 0.2, 0.35, 0.4),
    ),
    Style(
        "jazz",
        tags=((("jazz", "Jazz"), 0.9), (("smooth jazz", "Smooth Jazz"), 0.2),
              (("instrumental", "Instrumental"), 0.3)),
        grooves=(
            Groove("swing", "4/4", (120, 180),
                   {"time": "x...x.x.x...x.x.", "back": "....o.......o...",
                    "low": "o...............", "accent": "..........x....."},
                   swing=(0.62, 0.68), bass="walking", comp="charleston",
                   tags=((("swing", "Swing"), 0.4),)),
            Groove("bebop", "4/4", (190, 240),
                   {"time": "x...x.x.x...x.x.", "back": "....o.......o...",
                    "low": "..........o....."},
                   swing=(0.58, 0.64), bass="walking", comp="charleston",
                   tags=((("bebop", "Bebop", "be-bop"), 0.5),)),
            Groove("jazz waltz", "3/4", (120, 170),
                   {"time": "x...x.x.x.x.", "back": "....o...o...", "low": "x..........."},
                   swing=(0.62, 0.68), bass="walking", comp="charleston",
                   tags=((("jazz waltz",), 0.4),)),
            Groove("jazz ballad", "4/4", (60, 80),
                   {"time": "x...x.x.x...x.x.", "back": "....o.......o..."},
                   swing=(0.64, 0.7), bass="walking", comp="sustain",
                   tags=((("ballad", "Ballad"), 0.4),)),
        ),
        drums=0.9,
        modes={"major": 0.55, "dorian": 0.3, "minor": 0.15},
        progressions=((1, 4, 0, 0), (1, 4, 0, 5), (0, 5, 1, 4), (2, 5, 1, 4)),
        chords={"seventh": 0.8, "add9": 0.2},
        harmonic_rhythm={0.5: 0.6, 1: 0.4},
        melody=Melody(density=(1.5, 3.0), step=0.45, leap=6, chromatic=0.25, repeat=0.15,
                      syncopation=1.4),
        dynamics={"flat": 0.3, "swell": 0.4, "terraced": 0.3},
        instruments=("saxophone", "piano", "upright bass", "clean guitar"),
        kits=("ride", "brush snare", "soft kick"),
        decades=(0.35, 0.2, 0.15, 0.15, 0.15),
    ),
    Style(
        "ambient",
        tags=((("ambient", "Ambient"), 0.9), (("chillout", "Chillout", "chill out"), 0.5),
              (("atmospheric", "Atmospheric"), 0.3)),
        grooves=(
            Groove("drone", "4/4", (50, 70), {}, bass="sustain", comp="sustain",
                   tags=((("drone", "Drone"), 0.4),), rubato=0.05),
            Groove("slow pulse", "4/4", (60, 80), {"low": _QUARTERS, "time": "......x.......x."},
                   bass="sustain", comp="sustain", tags=((("downtempo", "Downtempo"), 0.4),)),
            Groove("shimmer", "6/8", (40, 60), {}, bass="sustain", comp="arpeggio",
                   tags=((("new age", "New Age"), 0.4),), rubato=0.04),
        ),
        drums=0.5,
        modes={"lydian": 0.3, "major": 0.3, "dorian": 0.2, "minor": 0.2},
        progressions=((0, 3), (0,), (0, 5), (0, 1)),
        chords={"add9": 0.4, "sus": 0.3, "seventh": 0.3},
        harmonic_rhythm={2: 0.5, 4: 0.5},
        melody=Melody(density=(0.2, 0.5), step=0.55, leap=4, chromatic=0.0, repeat=0.5,
                      syncopation=0.7, legato=(0.9, 1.0)),
        dynamics={"swell": 0.6, "crescendo": 0.2, "decrescendo": 0.2},
        instruments=("pad", "strings", "mallet", "sub bass"),
        kits=("soft kick", "shaker"),
        decades=(0.0, 0.15, 0.25, 0.3, 0.3),
    ),
    Style(
        "hip hop",
        tags=((("Hip-Hop", "hip hop", "hip-hop", "Hip Hop"), 0.9), (("rap", "Rap"), 0.5),
              (("underground hip hop",), 0.2)),
        grooves=(
            Groove("boom bap", "4/4", (84, 98),
                   {"low": "x......x..x.....", "back": _BACKBEAT, "time": _EIGHTHS},
                   swing=(0.55, 0.62), swing_unit=16, bass="kick", comp="stabs",
                   tags=((("boom bap",), 0.3), (("old school", "Old School"), 0.3))),
            Groove("g-funk", "4/4", (86, 98),
                   {"low": "x..x......x..x..", "back": _BACKBEAT, "time": _SIXTEENTHS},
                   swing=(0.55, 0.62), swing_unit=16, bass="syncopated", comp="block",
                   tags=((("g-funk", "West Coast"), 0.4),)),
            Groove("trap", "4/4", (68, 76),
                   {"low": "x.....x...x....x", "back": "........x.......",
                    "time": "xxxxxxxxxxxxxxxx"},
                   swing=(0.5, 0.56), swing_unit=16, bass="sustain", comp="stabs",
                   tags=((("trap", "Trap"), 0.5),)),
        ),
        drums=0.97,
        modes={"minor": 0.5, "dorian": 0.4, "phrygian": 0.1},
        progressions=((0, 5), (0, 3), (0, 6), (0, 0, 5, 6)),
        chords={"seventh": 0.6, "triad": 0.4},
        harmonic_rhythm={1: 0.7, 2: 0.3},
        melody=Melody(density=(0.5, 1.2), step=0.5, leap=5, chromatic=0.1, repeat=0.85,
                      syncopation=1.5, legato=(0.4, 0.8)),
        dynamics={"flat": 0.8, "terraced": 0.2},
        instruments=("electric piano", "piano", "strings", "sub bass"),
        kits=("808 kick", "snare", "closed hat", "clap"),
        decades=(0.0, 0.0, 0.2, 0.4, 0.4),
    ),
    Style(
        "classical",
        tags=((("classical", "Classical"), 0.9), (("instrumental", "Instrumental"), 0.4),
              (("orchestral", "Orchestral"), 0.3)),
        grooves=(
            Groove("minuet", "3/4", (96, 132), {"low": "x..........."},
                   bass="root_fifth", comp="waltz", tags=((("baroque", "Baroque"), 0.4),),
                   rubato=0.04),
            Groove("allegro", "4/4", (116, 150), {}, bass="root_fifth", comp="arpeggio",
                   tags=((("classical period",), 0.3),), rubato=0.03),
            Groove("nocturne", "12/8", (44, 62), {}, bass="sustain", comp="arpeggio",
                   tags=((("romantic", "Romantic"), 0.4),), rubato=0.08),
        ),
        drums=0.35,
        modes={"major": 0.6, "harmonic minor": 0.4},
        progressions=((0, 3, 4, 0), (0, 5, 1, 4), (0, 4, 5, 2, 3, 0, 3, 4), (0, 1, 4, 0)),
        chords={"triad": 0.8, "seventh": 0.2},
        harmonic_rhythm={1: 0.6, 0.5: 0.4},
        melody=Melody(density=(2.0, 4.0), step=0.85, leap=4, chromatic=0.05, repeat=0.3,
                      syncopation=0.3),
        dynamics={"crescendo": 0.3, "decrescendo": 0.2, "swell": 0.3, "terraced": 0.2},
        instruments=("piano", "strings", "flute", "upright bass"),
        kits=("timpani",),
        decades=(0.2, 0.2, 0.2, 0.2, 0.2),
        accents=0.3,
    ),
    Style(
        "metal",
        tags=((("metal", "Metal"), 0.9), (("heavy metal", "Heavy Metal"), 0.4),
              (("hard rock", "Hard Rock"), 0.2)),
        grooves=(
            Groove("thrash", "4/4", (160, 200),
                   {"low": _EIGHTHS, "back": _BACKBEAT, "time": _QUARTERS},
                   bass="gallop", comp="power", tags=((("thrash metal", "Thrash Metal"), 0.5),)),
            Groove("double kick", "4/4", (120, 160),
                   {"low": "xxxxxxxxxxxxxxxx", "back": _BACKBEAT, "time": _QUARTERS,
                    "accent": "x..............."},
                   bass="eighths", comp="power", tags=((("power metal", "Power Metal"), 0.4),)),
            Groove("groove metal", "4/4", (100, 130),
                   {"low": "xx.xx.x.xx.xx.x.", "back": _BACKBEAT, "time": _QUARTERS},
                   bass="gallop", comp="power", tags=((("groove metal",), 0.4),)),
            Groove("blast", "4/4", (180, 220),
                   {"low": "x.x.x.x.x.x.x.x.", "back": ".x.x.x.x.x.x.x.x", "time": _QUARTERS},
                   bass="eighths", comp="power", tags=((("black metal", "Black Metal"), 0.5),)),
        ),
        drums=0.97,
        modes={"phrygian": 0.35, "minor": 0.45, "harmonic minor": 0.2},
        progressions=((0, 1, 0, 6), (0, 5, 6, 0), (0, 0, 6, 5), (0, 1)),
        chords={"power": 0.85, "triad": 0.15},
        harmonic_rhythm={1: 0.5, 0.5: 0.5},
        melody=Melody(density=(1.5, 4.0), step=0.5, leap=3, chromatic=0.3, repeat=0.7,
                      syncopation=0.5, legato=(0.5, 0.9)),
        dynamics={"flat": 0.8, "terraced": 0.2},
        instruments=("distorted guitar", "synth lead", "organ", "electric bass"),
        kits=("acoustic kick", "snare", "crash", "closed hat"),
        decades=(0.0, 0.2, 0.35, 0.25, 0.2),
    ),
    Style(
        "folk",
        tags=((("folk", "Folk"), 0.9), (("acoustic", "Acoustic"), 0.5),
              (("singer-songwriter", "singer songwriter"), 0.3)),
        grooves=(
            Groove("jig", "6/8", (100, 126), {"low": "x.....", "time": "x.xx.x"},
                   bass="root_fifth", comp="strum", tags=((("celtic", "Celtic"), 0.5),)),
            Groove("folk waltz", "3/4", (84, 120), {"low": "x...........", "time": "....x...x..."},
                   bass="root_fifth", comp="waltz", tags=((("waltz", "Waltz"), 0.4),)),
            Groove("two-step", "4/4", (96, 130),
                   {"low": "x.......x.......", "back": _BACKBEAT, "time": _EIGHTHS},
                   bass="root_fifth", comp="strum", tags=((("country", "Country"), 0.5),)),
            Groove("fingerpicking", "4/4", (70, 100), {}, bass="root_fifth", comp="arpeggio",
                   tags=((("indie folk", "Indie Folk"), 0.3),)),
        ),
        drums=0.6,
        modes={"major": 0.5, "mixolydian": 0.3, "dorian": 0.2},
        progressions=((0, 3, 0, 4), (0, 4, 0, 3), (0, 6, 3, 0), (0, 5, 3, 4)),
        chords={"triad": 0.8, "sus": 0.2},
        harmonic_rhythm={1: 0.6, 2: 0.4},
        melody=Melody(density=(1.0, 2.0), step=0.75, leap=4, chromatic=0.0, repeat=0.45,
                      syncopation=0.4),
        dynamics={"flat": 0.5, "swell": 0.25, "crescendo": 0.25},
        instruments=("clean guitar", "flute", "mallet", "upright bass"),
        kits=("soft kick", "tambourine", "brush snare", "shaker"),
        decades=(0.35, 0.25, 0.1, 0.15, 0.15),
        accents=0.25,
    ),
)

#: Mood words (Last.fm's mood tags), each with its spellings; which songs earn
#: them is decided from the music (mode, tempo, density) in the catalogue.
MOOD_TAGS = {
    "happy": ("happy", "Happy"),
    "sad": ("sad", "Sad"),
    "melancholy": ("melancholy", "melancholic", "Melancholic"),
    "dark": ("dark", "Dark"),
    "mellow": ("mellow", "Mellow"),
    "chill": ("chill", "Chill"),
    "energetic": ("energetic", "Energetic"),
    "beautiful": ("beautiful", "Beautiful"),
    "party": ("party", "Party"),
    "relaxing": ("relaxing", "Relaxing"),
}

#: Tempo words and the beats per minute they are given for.
TEMPO_TAGS = {"slow": (("slow", "Slow"), 0, 80), "upbeat": (("upbeat", "Upbeat"), 112, 150),
              "fast": (("fast", "Fast"), 150, 1000)}

#: Era tags: describe when the artist was active, not how the song sounds.
ERA_TAGS = {1960: ("60s", "60's", "1960s"), 1970: ("70s", "70's", "1970s"),
            1980: ("80s", "80's", "1980s"), 1990: ("90s", "90's", "1990s"),
            2000: ("00s", "2000s")}

#: Locale tags of the scenes (the community an artist belongs to).
SCENE_TAGS = ("british", "swedish", "french", "german", "japanese", "brazilian")

#: Tags users add whatever the music, mostly with low weights, as personal
#: bookkeeping does.
JUNK_TAGS = ("favorites", "Favourites", "favourite", "awesome", "love", "cool", "my top",
             "check out")
