"""The demo world: songs, artists, tags and listeners, before any file is written.

Everything is drawn from one seed. Songs are mixes of latent styles
(:mod:`krotos.demo.styles`); the same mix decides what a song sounds like,
which Last.fm tags it gets and which users play it. A few song/track pairs
are deliberately wrong, as in the real MSD: the track's audio and tags belong
to another song, and ``sid_mismatches.txt`` lists them.
"""

from dataclasses import dataclass

import numpy as np

from krotos.demo.styles import JUNK_TAGS, MOOD_TAGS, STYLES

_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
_HEX = np.array(list("0123456789abcdef"))
_SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "tor", "sa", "bel", "dri", "um", "fa", "no",
              "zel", "qu", "pe", "ston", "ly", "ar", "cor", "via")
_WORDS = ("night", "river", "gold", "echo", "rain", "city", "heart", "fire", "blue", "road",
          "dream", "shadow", "light", "summer", "stone", "wild", "glass", "ocean", "ghost", "sky")


@dataclass
class Catalogue:
    """The generated demo world (arrays indexed by song, or by user)."""

    track_ids: list
    song_ids: list
    artist_index: np.ndarray        # (n_songs,) index into artist_* lists
    artist_ids: list
    artist_mbids: list
    artist_names: list
    titles: list
    releases: list
    years: np.ndarray
    durations: np.ndarray
    familiarity: np.ndarray
    hotttnesss: np.ndarray
    digital_ids: np.ndarray         # track_7digitalid
    song_mix: np.ndarray            # (n_songs, n_styles): what listeners respond to
    track_mix: np.ndarray           # (n_songs, n_styles): what the track sounds like
    mismatched: np.ndarray          # (n_songs,) bool: track is not really the song
    donor: np.ndarray               # (n_songs,) the song whose audio a mismatched track has
    track_tags: list                # per song: list of (raw tag, weight 1-100)
    user_ids: list
    user_taste: np.ndarray          # (n_users, n_styles)
    plays: list                     # per user: list of (song index, count)


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


def _tags_for(mix, rng, styles):
    """Last.fm-like tags for a track whose audio has style mix ``mix``."""
    if rng.random() < 0.05:
        return []  # many real tracks have no tags at all
    tags = {}
    strongest = mix.max()
    for k in np.flatnonzero(mix >= 0.15):
        for spellings, probability in styles[k].tags:
            if rng.random() < probability * (0.6 + 0.4 * mix[k] / strongest):
                raw = spellings[rng.integers(len(spellings))]
                tags[raw] = max(tags.get(raw, 0.0), 100.0 * mix[k] / strongest * rng.uniform(0.5, 1.0))
    weight_of = {style.name: mix[k] / strongest for k, style in enumerate(styles)}
    for mood, leaning in MOOD_TAGS.items():
        lean = max(weight_of.get(name, 0.0) for name in leaning)
        if lean >= 0.15 and rng.random() < 0.3 * lean:
            tags.setdefault(mood, 100.0 * lean * rng.uniform(0.2, 0.6))
    if rng.random() < 0.3:  # personal bookkeeping: says nothing about the music
        for raw in rng.choice(JUNK_TAGS, size=rng.integers(1, 3), replace=False):
            tags.setdefault(str(raw), rng.uniform(1, 4))
    if rng.random() < 0.05:  # a plainly wrong tag, as taggers sometimes add
        wrong = styles[rng.integers(len(styles))].tags[0][0][0]
        tags.setdefault(wrong, rng.uniform(1, 30))
    if not tags:
        return []
    top = max(tags.values())
    # Last.fm scales each track's tag counts so that the top tag is 100.
    return sorted(((raw, float(max(1, round(100 * w / top)))) for raw, w in tags.items()),
                  key=lambda kv: (-kv[1], kv[0]))


def generate_catalogue(n_songs, n_users, seed, styles=STYLES, mismatch_fraction=0.02):
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
    n_artists = max(2, n_songs // 5)

    # Artists lean to one style; their songs mix it with a few others.
    artist_style = rng.integers(n_styles, size=n_artists)
    artist_index = rng.integers(n_artists, size=n_songs)
    concentration = np.full((n_songs, n_styles), 0.15)
    concentration[np.arange(n_songs), artist_style[artist_index]] += 1.5
    song_mix = np.vstack([rng.dirichlet(c) for c in concentration])

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
    years = np.where(rng.random(n_songs) < 0.2, 0, rng.integers(1960, 2011, size=n_songs))
    durations = np.round(rng.uniform(120, 420, size=n_songs), 5)
    familiarity = np.round(rng.uniform(0.2, 0.9, size=n_artists), 6)[artist_index]
    hotttnesss = np.round(rng.uniform(0.2, 0.7, size=n_artists), 6)[artist_index]
    digital_ids = 1000000 + rng.choice(9000000, size=n_songs, replace=False)

    track_tags = [_tags_for(track_mix[i], rng, styles) for i in range(n_songs)]

    # Listeners: a taste over styles, a song popularity skew, and a play count
    # that grows with how much the song matches the taste.
    user_ids = _ids(rng, n_users, "", 40, _HEX)
    user_taste = rng.dirichlet(np.full(n_styles, 0.3), size=n_users)
    popularity = 1.0 / (rng.permutation(n_songs) + 10.0) ** 0.8
    affinity = user_taste @ song_mix.T
    affinity /= affinity.max(axis=1, keepdims=True)
    log_weight = np.log(popularity)[None, :] + 7.0 * affinity
    n_played = np.clip(rng.lognormal(np.log(20), 0.6, size=n_users).astype(int),
                       3, max(3, n_songs // 3))
    keys = log_weight + rng.gumbel(size=log_weight.shape)  # Gumbel top-k: sampling w/o replacement
    plays = []
    for u in range(n_users):
        chosen = np.sort(np.argpartition(-keys[u], n_played[u] - 1)[:n_played[u]])
        counts = 1 + rng.poisson(4.0 * affinity[u, chosen] ** 2)
        plays.append(list(zip(chosen.tolist(), counts.tolist())))

    return Catalogue(
        track_ids=track_ids, song_ids=song_ids, artist_index=artist_index,
        artist_ids=artist_ids, artist_mbids=artist_mbids, artist_names=artist_names,
        titles=titles, releases=releases, years=years, durations=durations,
        familiarity=familiarity, hotttnesss=hotttnesss, digital_ids=digital_ids,
        song_mix=song_mix, track_mix=track_mix, mismatched=mismatched, donor=donor,
        track_tags=track_tags, user_ids=user_ids, user_taste=user_taste, plays=plays)
