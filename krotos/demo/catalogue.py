"""The demo world: artists, songs, tags and listeners, before any file is written.

Why the world looks the way it does
-----------------------------------
The demo has to be able to tell a good content model from a bad one, so its
music and its listeners are built with the structure of real ones.

*Styles live in time.* Genres are told apart by rhythm, tempo, harmony and
form more than by the instruments they use: rhythm patterns alone classify
ballroom dances well (Dixon, Gouyon & Widmer 2004; Gouyon & Dixon 2004),
while "bag of frames" timbre statistics hit a glass ceiling on genre and
similarity (Aucouturier & Pachet 2004). So a style here
(:mod:`krotos.demo.styles`) is a meter, a tempo range, grooves with swing and
syncopation, bass and accompaniment figures, modes, chord progressions and a
harmonic rhythm, a way of building melodies (density, interval sizes,
repetition) and dynamics over a clip. Instruments and drum sounds come from
one shared pool (:mod:`krotos.demo.instruments`): a style favours a few of
them, twice as likely as the rest, never exclusively. Each style
has three or four sub-styles (house and techno are both electronic, boom bap
and trap both hip hop), and tempo, key, progression, melody and instruments
are drawn per song, so two songs of one style are not near-copies.

*Artists.* Real catalogues come by artist: an artist's songs share a style
(sometimes two: an artist may borrow the groove, harmony or melody of a
second style, as jazz-rock or folk-metal do), a favourite groove and mode,
a band (the instruments it plays) and a production (level, brightness,
saturation, room). That is why splits must keep artists apart: production
identifies the artist, and a split by song would test on the training
artists. Songs per artist vary (a few artists have many), as in the MSD.

*Listeners with inaudible taste.* What people play together often has no
audible cause: the scene or community a listener belongs to (a language, a
city, a label; Schedl et al. 2017 find country-specific listening on
Last.fm), the era they grew up in (preferences peak for music from one's
youth: Holbrook & Schindler 1989), loyalty to artists (repeat consumption
dominates listening logs), and popularity itself, which social influence
makes unequal and partly arbitrary (Salganik, Dodds & Watts 2006) and which
has a long tail (Celma 2010). Each listener here has a taste over styles (the
audible part) and a scene, a favourite era and favourite artists (the
inaudible part); a song's appeal to them adds these to the song's popularity.
A perfect style match moves a song's log-odds by 10, a shared scene by up to
3, the right era by up to 2, a favourite artist by 3 (:data:`TASTE_WEIGHTS`),
on top of a popularity spread of about 1.2 (log-normal artist and song
popularity). The audible style is the biggest single reason, as it should be
for content-based recommendation to be worth anything, but the inaudible
ones together are as large: the factorization of the plays sees everything,
audio only the style, so even a model that knew every song's style exactly
stays far below the true factors. On the default demo such an oracle (a
ridge regression from the true style mixes, grooves and tempi to the
factors) reaches a cold-start AUC of about 0.78 against 0.95 for the true
factors; with a style weight of 5 it reached only 0.63, leaving no room
between chance and a perfect audio model for a real one to show. Play
counts are overdispersed
(negative binomial; most are 1 or 2, a few are large) and the number of songs
per user is log-normal, at least 10 as in the Taste Profile (which kept
users with at least 10 songs).

*Last.fm-like tags.* Social tags mix kinds (Lamere 2008): genres (most of
them), then locale, mood, opinion, instrumentation, era and personal tags.
Here a track gets genre and sub-genre tags from the styles its music is made
of, instrument tags from the instruments that play, tempo and mood words from
its tempo, mode and density (all audible), era tags from its artist's decade,
"seen live" for touring artists, locale tags from the artist's scene, and
personal junk with low weights (inaudible). Spellings vary, many tags are
missing, a few tracks have none and a few tags are wrong. Weights are
relative per track: the top tag is 100, as Last.fm scales them.

None of these numbers was tuned against the pipeline's evaluation; they were
set on the musical grounds above, and the README reports what the
evaluation then shows. A few song/track pairs are deliberately wrong, as in
the real MSD: the track's audio and tags belong to another song, and
``sid_mismatches.txt`` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from krotos.demo.arrange import SongSpec
from krotos.demo.instruments import DRUM_SOUNDS, INSTRUMENT_INDEX, instruments_for
from krotos.demo.styles import (
    DECADES, ERA_TAGS, JUNK_TAGS, MAJOR_MODES, MOOD_TAGS, SCENE_TAGS, STYLES, TEMPO_TAGS, Style)


_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
_HEX = np.array(list("0123456789abcdef"))
_SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "tor", "sa", "bel", "dri", "um", "fa", "no",
              "zel", "qu", "pe", "ston", "ly", "ar", "cor", "via")
_WORDS = ("night", "river", "gold", "echo", "rain", "city", "heart", "fire", "blue", "road",
          "dream", "shadow", "light", "summer", "stone", "wild", "glass", "ocean", "ghost", "sky")

#: How much of a song's style mix each aspect of its music carries.
ASPECT_WEIGHTS = {"rhythm": 0.5, "harmony": 0.3, "melody": 0.2}

#: How many times more likely a style's favoured instruments and drum sounds are.
FAVOURED = 2.0

#: Log-odds weights of a listener's reasons to play a song (see the module docstring).
TASTE_WEIGHTS = {"style": 10.0, "scene": 3.0, "era": 2.0, "artist": 3.0}

#: Years over which a listener's liking of an era falls off (a Gaussian's sd).
ERA_WIDTH = 10.0


@dataclass
class Catalogue:
    """The generated demo world (arrays indexed by song, artist or user)."""

    track_ids: list
    song_ids: list
    artist_index: np.ndarray        # (n_songs,) index into the artist_* arrays
    artist_ids: list
    artist_mbids: list
    artist_names: list
    artist_style: np.ndarray        # (n_artists,) primary style
    artist_second: np.ndarray       # (n_artists,) second style, -1 for none
    artist_scene: np.ndarray        # (n_artists,) scene (community) index
    artist_decade: np.ndarray       # (n_artists,) decade the artist was active
    titles: list
    releases: list
    years: np.ndarray
    durations: np.ndarray
    familiarity: np.ndarray
    hotttnesss: np.ndarray
    digital_ids: np.ndarray         # track_7digitalid
    specs: list                     # per song: SongSpec (what the song sounds like)
    song_mix: np.ndarray            # (n_songs, n_styles): the styles its music is made of
    track_mix: np.ndarray           # (n_songs, n_styles): what the track sounds like
    mismatched: np.ndarray          # (n_songs,) bool: track is not really the song
    donor: np.ndarray               # (n_songs,) the song whose audio a mismatched track has
    track_tags: list                # per song: list of (raw tag, weight 1-100)
    user_ids: list
    user_taste: np.ndarray          # (n_users, n_styles)
    user_scene: np.ndarray          # (n_users, n_scenes)
    user_era: np.ndarray            # (n_users,) centre of the years a user likes
    plays: list                     # per user: list of (song index, count)

    def track_spec(self, i: int) -> SongSpec:
        """The :class:`SongSpec` of track ``i``'s audio (its donor's for a mismatched track)."""
        return self.specs[self.donor[i]]


def _ids(rng, n, prefix, length, alphabet, taken=None):
    taken = set() if taken is None else taken
    out = []
    while len(out) < n:
        candidate = prefix + "".join(rng.choice(alphabet, size=length))
        if candidate not in taken:
            taken.add(candidate)
            out.append(candidate)
    return out


def _name(rng, n_syllables, capitalize=True):
    word = "".join(rng.choice(_SYLLABLES, size=n_syllables))
    return word.capitalize() if capitalize else word


def _weighted(rng, options):
    """One key of ``{option: weight}``."""
    keys = list(options)
    weights = np.array([options[k] for k in keys], dtype=float)
    return keys[rng.choice(len(keys), p=weights / weights.sum())]


def _preferred(rng, names, favoured):
    """One of ``names``, the ``favoured`` ones :data:`FAVOURED` times more likely."""
    weights = np.array([FAVOURED if n in favoured else 1.0 for n in names])
    return names[rng.choice(len(names), p=weights / weights.sum())]


def n_artists_for(n_songs: int) -> int:
    """About five songs per artist; at least 12 artists (or one per two songs) in tiny worlds."""
    return int(min(n_songs, max(round(n_songs / 5), min(12, n_songs // 2), 1)))


@dataclass
class _Artist:
    style: int
    second: int
    second_weight: float
    groove: int
    mode: str
    tempo_position: float
    band: dict
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


def _draw_artist(rng, styles):
    style = int(rng.integers(len(styles)))
    second, weight = -1, 0.0
    if rng.random() < 0.35:
        second = int((style + 1 + rng.integers(len(styles) - 1)) % len(styles))
        weight = float(rng.uniform(0.2, 0.45))
    s = styles[style]
    favoured = set(s.instruments)
    band = {role: _preferred(rng, instruments_for(role), favoured)
            for role in ("lead", "comp", "bass")}
    kit = tuple((role, _preferred(rng, DRUM_SOUNDS[role], set(s.kits))) for role in DRUM_SOUNDS)
    return _Artist(
        style=style, second=second, second_weight=weight,
        groove=int(rng.integers(len(s.grooves))), mode=_weighted(rng, s.modes),
        tempo_position=float(rng.random()), band=band, kit=kit,
        kit_tuning=float(rng.uniform(0.85, 1.2)), register=int(rng.integers(62, 77)),
        # A mix puts the lead and the rhythm section in front, the accompaniment behind.
        balance=(float(rng.uniform(1.0, 1.4)), float(rng.uniform(0.4, 0.7)),
                 float(rng.uniform(0.7, 1.0)), float(rng.uniform(0.9, 1.3))),
        brightness=float(np.exp(rng.uniform(np.log(6000), np.log(16000)))),
        reverb=float(rng.uniform(0.0, 0.25)), reverb_seconds=float(rng.uniform(0.4, 1.8)),
        drive=0.0 if rng.random() < 0.75 else float(rng.uniform(1.0, 2.0)),
        width=float(rng.uniform(0.2, 1.0)), level=float(rng.uniform(0.5, 0.95)))


def _draw_song(rng, artist, styles):
    """The SongSpec of one song by ``artist`` and its style mix."""
    def aspect_style():
        if artist.second >= 0 and rng.random() < artist.second_weight:
            return artist.second
        return artist.style

    rhythm, harmony, melody = aspect_style(), aspect_style(), aspect_style()
    mix = np.zeros(len(styles))
    for style, weight in zip((rhythm, harmony, melody), ASPECT_WEIGHTS.values()):
        mix[style] += weight
    rs, hs, ms = styles[rhythm], styles[harmony], styles[melody]
    groove = (artist.groove if rhythm == artist.style and rng.random() < 0.6
              else int(rng.integers(len(rs.grooves))))
    g = rs.grooves[groove]
    low, high = g.tempo
    position = np.clip(artist.tempo_position + rng.normal(0.0, 0.2), 0.0, 1.0)
    mode = (artist.mode if harmony == artist.style and rng.random() < 0.5
            else _weighted(rng, hs.modes))
    favoured = set(styles[artist.style].instruments)
    band = {role: (name if rng.random() >= 0.2 else _preferred(rng, instruments_for(role), favoured))
            for role, name in artist.band.items()}
    spec = SongSpec(
        groove_style=rhythm, groove=groove, harmony_style=harmony, melody_style=melody,
        drums=bool(rng.random() < rs.drums), tempo=float(low + (high - low) * position),
        swing=float(rng.uniform(*g.swing)), key=int(rng.integers(12)), mode=mode,
        progression=tuple(hs.progressions[rng.integers(len(hs.progressions))]),
        chord=_weighted(rng, hs.chords), bars_per_chord=float(_weighted(rng, hs.harmonic_rhythm)),
        density=float(rng.uniform(*ms.melody.density)),
        legato=float(rng.uniform(*ms.melody.legato)), dynamics=_weighted(rng, ms.dynamics),
        accents=float(ms.accents), lead=band["lead"], comp=band["comp"], bass=band["bass"],
        kit=artist.kit, kit_tuning=artist.kit_tuning,
        register=int(np.clip(artist.register + rng.integers(-3, 4), 58, 80)),
        balance=artist.balance, brightness=float(artist.brightness * rng.uniform(0.9, 1.1)),
        reverb=artist.reverb, reverb_seconds=artist.reverb_seconds, drive=artist.drive,
        width=artist.width, level=float(np.clip(artist.level * rng.uniform(0.92, 1.05), 0.3, 0.98)))
    return spec, mix


def _moods(spec, styles):
    """``{mood: probability}`` of the mood words a song's music earns."""
    major = spec.mode in MAJOR_MODES
    tempo = spec.tempo
    calm = tempo < 100 and spec.density < 1.5
    gentle = spec.lead in ("piano", "strings", "flute", "mallet", "electric piano", "pad")
    four_floor = styles[spec.groove_style].grooves[spec.groove].drums.get("low") == "x...x...x...x..."
    return {
        "happy": 0.35 if major and tempo >= 100 else 0.0,
        "sad": 0.35 if not major and tempo < 95 else 0.0,
        "melancholy": 0.25 if not major and tempo < 120 else 0.0,
        "dark": 0.4 if spec.mode in ("phrygian", "harmonic minor") else 0.0,
        "mellow": 0.3 if calm and not spec.drive else 0.0,
        "chill": 0.3 if calm and spec.drums else 0.0,
        "energetic": 0.35 if tempo > 130 and spec.drums else 0.0,
        "beautiful": 0.3 if major and tempo < 110 and gentle else 0.0,
        "party": 0.4 if spec.drums and four_floor else 0.0,
        "relaxing": 0.35 if not spec.drums and tempo < 100 else 0.0,
    }


def _tags_for(spec, mix, decade, scene, touring, rng, styles):
    """Last.fm-like tags of a track with music ``spec`` (style mix ``mix``) by an
    artist of ``decade``, ``scene`` and touring habit ``touring``."""
    if rng.random() < 0.07:
        return []  # many real tracks have no tags at all
    tags = {}

    def add(spellings, weight):
        # The commonest spelling is the likeliest, as on Last.fm.
        raw = spellings[0] if rng.random() < 0.6 else spellings[rng.integers(len(spellings))]
        tags[raw] = max(tags.get(raw, 0.0), float(weight))

    strongest = mix.max()
    for k in np.flatnonzero(mix >= 0.2):
        share = mix[k] / strongest
        for spellings, probability in styles[k].tags:
            if rng.random() < probability * (0.5 + 0.5 * share):
                add(spellings, 100.0 * share * rng.uniform(0.5, 1.0))
    groove = styles[spec.groove_style].grooves[spec.groove]
    for spellings, probability in groove.tags:
        if rng.random() < probability:
            add(spellings, 100.0 * mix[spec.groove_style] / strongest * rng.uniform(0.3, 0.9))
    # Listeners name the instrument in front (the lead), seldom the ones behind.
    for part, probability in (("lead", 0.6), ("comp", 0.1)):
        inst = INSTRUMENT_INDEX[getattr(spec, part)]
        if inst.tags and rng.random() < probability:
            add(inst.tags, rng.uniform(30, 80) if part == "lead" else rng.uniform(10, 40))
    for spellings, low, high in TEMPO_TAGS.values():
        if low <= spec.tempo < high and rng.random() < 0.3:
            add(spellings, rng.uniform(15, 60))
    for mood, probability in _moods(spec, styles).items():
        if probability and rng.random() < probability:
            add(MOOD_TAGS[mood], rng.uniform(15, 60))
    # Inaudible: when the artist was active, whether people saw them live,
    # where they come from, and personal bookkeeping.
    if rng.random() < 0.15:
        add(ERA_TAGS[decade], rng.uniform(20, 80))
    if decade <= 1970 and rng.random() < 0.15:
        add(("oldies", "Oldies"), rng.uniform(20, 60))
    if touring and rng.random() < 0.4:
        add(("seen live", "Seen Live"), rng.uniform(10, 70))
    if rng.random() < 0.1:
        add((SCENE_TAGS[scene], SCENE_TAGS[scene].capitalize()), rng.uniform(10, 50))
    if rng.random() < 0.05:  # a plainly wrong tag, as taggers sometimes add
        wrong = styles[rng.integers(len(styles))].tags[0][0][0]
        tags.setdefault(wrong, float(rng.uniform(1, 30)))
    if not tags:
        return []
    top = max(tags.values())
    if rng.random() < 0.2:
        # Personal bookkeeping (about 1% of tag applications: Lamere 2008) by
        # one or two listeners: a few percent of the track's top tag.
        for raw in rng.choice(JUNK_TAGS, size=rng.integers(1, 3), replace=False):
            tags.setdefault(str(raw), float(top * rng.uniform(0.01, 0.12)))
    # Last.fm scales each track's tag counts so that the top tag is 100.
    return sorted(((raw, float(max(1, round(100 * w / top)))) for raw, w in tags.items()),
                  key=lambda kv: (-kv[1], kv[0]))


def _songs_per_artist(rng, n_songs, n_artists):
    extra = rng.multinomial(n_songs - n_artists, rng.dirichlet(np.full(n_artists, 1.5)))
    return 1 + extra


def _listeners(rng, n_users, song_mix, artist_index, artist_scene, years, popularity,
               artist_popularity, n_styles, n_scenes):
    """Tastes, scenes, eras, favourite artists and the plays of every user."""
    n_songs = len(artist_index)
    n_artists = len(artist_scene)
    user_taste = rng.dirichlet(np.full(n_styles, 0.3), size=n_users)
    user_scene = rng.dirichlet(np.full(n_scenes, 0.3), size=n_users)
    user_era = rng.choice(DECADES, size=n_users).astype(float) + rng.uniform(-5, 15, size=n_users)

    style = user_taste @ song_mix.T                                    # (users, songs), 0-1
    scene = user_scene[:, artist_scene[artist_index]]                  # 0-1
    era = np.exp(-0.5 * ((years[None, :] - user_era[:, None]) / ERA_WIDTH) ** 2)
    # Favourite artists: mostly ones that fit the listener anyway, some by chance.
    artist_fit = np.zeros((n_users, n_artists))
    np.add.at(artist_fit.T, artist_index, (style + scene).T)
    artist_fit /= np.maximum(np.bincount(artist_index, minlength=n_artists), 1)
    fav_keys = np.log(artist_popularity)[None, :] + 3.0 * artist_fit + rng.gumbel(size=artist_fit.shape)
    n_fav = np.minimum(1 + rng.poisson(2.0, size=n_users), n_artists)
    loyal = np.zeros((n_users, n_artists), dtype=bool)
    for u in range(n_users):
        loyal[u, np.argpartition(-fav_keys[u], n_fav[u] - 1)[:n_fav[u]]] = True
    loyal_song = loyal[:, artist_index]

    w = TASTE_WEIGHTS
    appeal = w["style"] * style + w["scene"] * scene + w["era"] * era + w["artist"] * loyal_song
    log_weight = np.log(popularity)[None, :] + appeal
    cap = max(3, n_songs // 3)
    n_played = np.clip(np.round(rng.lognormal(np.log(25), 0.8, size=n_users)).astype(int),
                       min(10, cap), cap)
    keys = log_weight + rng.gumbel(size=log_weight.shape)  # Gumbel top-k: sampling w/o replacement
    plays = []
    for u in range(n_users):
        chosen = np.sort(np.argpartition(-keys[u], n_played[u] - 1)[:n_played[u]])
        # The better a song fits, the more plays; standardized per user so that
        # counts do not depend on the scale of TASTE_WEIGHTS.
        liking = appeal[u, chosen]
        liking = (liking - liking.mean()) / (liking.std() + 1e-9)
        mean = 1.5 * np.exp(0.5 * liking)
        shape = 0.6  # overdispersed: most counts 1-2, a few large
        counts = 1 + rng.negative_binomial(shape, shape / (shape + mean))
        plays.append(list(zip(chosen.tolist(), counts.tolist())))
    return user_taste, user_scene, user_era, plays


def generate_catalogue(n_songs: int, n_users: int, seed: int, styles: Sequence[Style] = STYLES,
                       mismatch_fraction: float = 0.02) -> Catalogue:
    """Draw the whole demo world from ``seed``.

    Parameters
    ----------
    n_songs, n_users : int
    seed : int
    styles : sequence of Style
    mismatch_fraction : float
        Share of song/track pairs made wrong (at least one when n_songs >= 20).

    Returns
    -------
    Catalogue
    """
    rng = np.random.default_rng([seed, 0])
    n_styles = len(styles)
    n_scenes = len(SCENE_TAGS)
    n_artists = n_artists_for(n_songs)

    artists = [_draw_artist(rng, styles) for _ in range(n_artists)]
    artist_style = np.array([a.style for a in artists])
    artist_second = np.array([a.second for a in artists])
    artist_scene = rng.integers(n_scenes, size=n_artists)
    artist_decade = np.array([DECADES[rng.choice(len(DECADES), p=np.array(styles[a.style].decades)
                                                 / np.sum(styles[a.style].decades))]
                              for a in artists])
    touring = rng.random(n_artists) < 0.25
    artist_popularity = rng.lognormal(0.0, 1.0, size=n_artists)
    artist_index = rng.permutation(np.repeat(np.arange(n_artists),
                                             _songs_per_artist(rng, n_songs, n_artists)))

    drawn = [_draw_song(rng, artists[a], styles) for a in artist_index]
    specs = [spec for spec, _ in drawn]
    song_mix = np.vstack([mix for _, mix in drawn])
    popularity = artist_popularity[artist_index] * rng.lognormal(0.0, 0.7, size=n_songs)

    n_mismatched = int(round(mismatch_fraction * n_songs))
    if n_songs >= 20:
        n_mismatched = max(1, n_mismatched)
    mismatched = np.zeros(n_songs, dtype=bool)
    mismatched[rng.choice(n_songs, size=n_mismatched, replace=False)] = True
    donor = np.arange(n_songs)
    for i in np.flatnonzero(mismatched):
        donor[i] = (i + 1 + rng.integers(n_songs - 1)) % n_songs
    track_mix = song_mix[donor]

    taken = set()
    track_ids = _ids(rng, n_songs, "TR", 16, _ALNUM, taken)
    song_ids = _ids(rng, n_songs, "SO", 16, _ALNUM, taken)
    artist_ids = _ids(rng, n_artists, "AR", 16, _ALNUM, taken)
    artist_mbids = ["-".join("".join(rng.choice(_HEX, size=k)) for k in (8, 4, 4, 4, 12))
                    for _ in range(n_artists)]
    artist_names = [f"{_name(rng, 2)} {_name(rng, 2)}" for _ in range(n_artists)]
    titles = [" ".join(w.capitalize() for w in rng.choice(_WORDS, size=rng.integers(1, 4)))
              for _ in range(n_songs)]
    releases = [" ".join(w.capitalize() for w in rng.choice(_WORDS, size=2)) for _ in range(n_songs)]
    # A song's year falls in its artist's decade; a fifth are unknown (0), as in the MSD.
    true_years = artist_decade[artist_index] + rng.integers(0, 10, size=n_songs)
    years = np.where(rng.random(n_songs) < 0.2, 0, true_years)
    durations = np.round(rng.uniform(120, 420, size=n_songs), 5)
    # Familiarity and hotness follow popularity, loosely, as the Echo Nest's did.
    rank = np.argsort(np.argsort(artist_popularity)) / max(1, n_artists - 1)
    familiarity = np.round(0.2 + 0.7 * rank + rng.uniform(-0.05, 0.05, n_artists), 6)[artist_index]
    hotttnesss = np.round(0.2 + 0.5 * rank + rng.uniform(-0.05, 0.05, n_artists), 6)[artist_index]
    digital_ids = 1000000 + rng.choice(9000000, size=n_songs, replace=False)

    # A track's tags describe what it sounds like and who made it (its donor's, if mismatched).
    track_tags = []
    for i in range(n_songs):
        j = donor[i]
        a = artist_index[j]
        track_tags.append(_tags_for(specs[j], song_mix[j], int(artist_decade[a]),
                                    int(artist_scene[a]), bool(touring[a]), rng, styles))

    user_ids = _ids(rng, n_users, "", 40, _HEX)
    user_taste, user_scene, user_era, plays = _listeners(
        rng, n_users, song_mix, artist_index, artist_scene, true_years, popularity,
        artist_popularity, n_styles, n_scenes)

    return Catalogue(
        track_ids=track_ids, song_ids=song_ids, artist_index=artist_index,
        artist_ids=artist_ids, artist_mbids=artist_mbids, artist_names=artist_names,
        artist_style=artist_style, artist_second=artist_second, artist_scene=artist_scene,
        artist_decade=artist_decade, titles=titles, releases=releases, years=years,
        durations=durations, familiarity=familiarity, hotttnesss=hotttnesss,
        digital_ids=digital_ids, specs=specs, song_mix=song_mix, track_mix=track_mix,
        mismatched=mismatched, donor=donor, track_tags=track_tags, user_ids=user_ids,
        user_taste=user_taste, user_scene=user_scene, user_era=user_era, plays=plays)
