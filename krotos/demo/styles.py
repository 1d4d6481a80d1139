"""The latent musical styles of the demo dataset.

Each song is a mix of a few styles. A style is audible (instrument timbre and
harmonics, tempo and rhythm pattern, register, brightness, noise and
percussion), shows in the Last.fm tags a song gets, and drives which users
play it. That shared cause is what makes the demo learnable end to end:
tags from audio, and listening behaviour from audio.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    """One latent style.

    Attributes
    ----------
    name : str
    tags : tuple of (tuple of str, float)
        Tags the style earns, each as (raw spellings, probability that a song
        with this style gets it). Several spellings of one tag mimic Last.fm,
        where ``Hip-Hop``, ``hip hop`` and ``hip-hop`` all occur.
    harmonic_decay : float
        Amplitude of harmonic k is ``k ** -harmonic_decay``: low is bright.
    odd_only : bool
        Only odd harmonics (a hollow, square-wave or clarinet-like timbre).
    distortion : float
        tanh drive; 0 for clean.
    register : (int, int)
        MIDI note range of the melodic layer.
    tempo : (float, float)
        BPM range.
    pattern : str
        One bar of 16 steps; ``x`` marks a note onset.
    note_steps : float
        Note length in 16th-note steps (long for pads, short for plucks).
    attack : float
        Attack time in seconds.
    kick, snare, hat : str
        16-step patterns of the percussion voices ('' for none).
    noise : float
        Level of a continuous noise bed (hiss, vinyl, air).
    chord : int
        Number of simultaneous notes (stacked thirds).
    """

    name: str
    tags: tuple
    harmonic_decay: float
    odd_only: bool
    distortion: float
    register: tuple
    tempo: tuple
    pattern: str
    note_steps: float
    attack: float
    kick: str = ""
    snare: str = ""
    hat: str = ""
    noise: float = 0.0
    chord: int = 1


STYLES = (
    Style("rock", ((("rock", "Rock"), 0.95), (("guitar",), 0.5), (("hard rock", "Hard Rock"), 0.35)),
          harmonic_decay=1.0, odd_only=False, distortion=3.0, register=(40, 59),
          tempo=(118, 140), pattern="x.x.x.x.x.x.x.x.", note_steps=2, attack=0.005,
          kick="x.......x.x.....", snare="....x.......x...", hat="x.x.x.x.x.x.x.x.", chord=2),
    Style("electronic", ((("electronic", "Electronic", "electronica"), 0.95), (("dance",), 0.6),
                         (("house",), 0.3)),
          harmonic_decay=1.1, odd_only=True, distortion=0.0, register=(57, 76),
          tempo=(122, 130), pattern="x..x..x...x..x..", note_steps=1.5, attack=0.002,
          kick="x...x...x...x...", hat="..x...x...x...x.", noise=0.0),
    Style("jazz", ((("jazz", "Jazz"), 0.95), (("smooth jazz",), 0.35), (("saxophone", "Saxophone"), 0.3)),
          harmonic_decay=2.2, odd_only=False, distortion=0.0, register=(55, 74),
          tempo=(88, 110), pattern="x..x.x..x..x.x..", note_steps=2.5, attack=0.03,
          hat="x..x..x.x..x..x.", noise=0.01, chord=3),
    Style("ambient", ((("ambient", "Ambient"), 0.95), (("chillout", "Chillout"), 0.6),
                      (("atmospheric",), 0.3)),
          harmonic_decay=3.0, odd_only=False, distortion=0.0, register=(48, 67),
          tempo=(60, 76), pattern="x...............", note_steps=16, attack=0.8,
          noise=0.03, chord=3),
    Style("hip hop", ((("Hip-Hop", "hip hop", "hip-hop", "Hip Hop"), 0.95), (("rap", "Rap"), 0.6),
                      (("underground hip hop",), 0.2)),
          harmonic_decay=2.5, odd_only=False, distortion=0.5, register=(31, 43),
          tempo=(84, 96), pattern="x.....x...x.....", note_steps=3, attack=0.005,
          kick="x.....x...x.....", snare="....x.......x...", hat="x.x.x.x.x.x.x.x.", noise=0.015),
    Style("classical", ((("classical", "Classical"), 0.95), (("piano", "Piano"), 0.6),
                        (("instrumental",), 0.4)),
          harmonic_decay=1.8, odd_only=False, distortion=0.0, register=(64, 88),
          tempo=(70, 96), pattern="xxxxxxxxxxxxxxxx", note_steps=1.5, attack=0.003, chord=1),
    Style("metal", ((("metal", "Metal"), 0.95), (("heavy metal", "Heavy Metal"), 0.5),
                    (("thrash metal",), 0.25)),
          harmonic_decay=0.8, odd_only=False, distortion=8.0, register=(28, 45),
          tempo=(160, 190), pattern="xxxxxxxxxxxxxxxx", note_steps=1, attack=0.002,
          kick="xxxxxxxxxxxxxxxx", snare="....x.......x...", hat="x...x...x...x...", noise=0.02,
          chord=2),
    Style("folk", ((("folk", "Folk"), 0.95), (("acoustic", "Acoustic"), 0.6),
                   (("singer-songwriter", "singer songwriter"), 0.3)),
          harmonic_decay=1.5, odd_only=False, distortion=0.0, register=(50, 69),
          tempo=(96, 112), pattern="x.xx.xx.x.xx.xx.", note_steps=4, attack=0.002, chord=3),
)

#: Mood and era tags: on Last.fm they describe the music loosely, so here each
#: leans to a few styles and is given less often and with lower weights.
MOOD_TAGS = {
    "mellow": ("jazz", "ambient", "folk"),
    "beautiful": ("classical", "ambient"),
    "female vocalists": ("folk", "jazz"),
    "male vocalists": ("rock", "hip hop"),
    "90s": ("hip hop", "electronic"),
    "00s": ("electronic", "rock"),
    "chill": ("ambient", "electronic"),
    "party": ("electronic", "hip hop"),
}

#: Tags users add whatever the music, always with low weights (below the
#: tag database's default ``min_weight``), as personal bookkeeping does.
JUNK_TAGS = ("seen live", "favorites", "Favourites", "awesome", "love", "cool")
