"""The demo world has the structure the issue asks for (issue 14).

Styles live in time: simple timbre statistics (each mel band's mean and
deviation, the bag of frames) separate the styles much worse than simple
rhythm or harmony features do. Artists share style and production; listeners
follow inaudible scenes as well as audible styles; tags mix audible and
inaudible kinds, Last.fm-style.
"""

import concurrent.futures

import librosa
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from krotos.demo.arrange import arrange
from krotos.demo.catalogue import generate_catalogue
from krotos.demo.checks import MIN_USERS, DemoParameterError, check_demo_parameters, minimum_songs
from krotos.demo.styles import METERS, STYLES
from krotos.demo.synth import render_song

# The module's world of rendered songs takes about 40 s to build.
pytestmark = pytest.mark.slow

SR = 22050
HOP = 512
FPS = SR / HOP
CLIP_SECONDS = 8.0

# Krumhansl-Kessler key profiles (major, minor).
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _timbre(mel):
    """Bag of frames: each band's mean and deviation over time (the linear baseline's input)."""
    return np.concatenate([mel.mean(axis=1), mel.std(axis=1)])


def _rhythm(mel):
    """Periodicities of onsets: in six bands, the onset autocorrelation's peak in each of
    40 log-spaced lag ranges (50 ms to 6 s): tempo, meter, swing, syncopation."""
    edges = np.unique(np.geomspace(2, 258, 41).astype(int))
    out = []
    for band in np.array_split(mel, 6, axis=0):
        flux = np.maximum(0.0, np.diff(band, axis=1)).mean(axis=0)
        flux -= flux.mean()
        ac = np.correlate(flux, flux, "full")[len(flux) - 1:][:260]
        ac /= ac[0] + 1e-9
        out.append([ac[a:b].max() for a, b in zip(edges[:-1], edges[1:])])
    return np.concatenate(out)


def _harmony(chroma):
    """Key-relative pitch classes, interval content, how fast chords change, major/minor fit."""
    c = chroma / (np.linalg.norm(chroma, axis=0, keepdims=True) + 1e-9)
    profile = c.mean(axis=1)
    major = [np.corrcoef(np.roll(_MAJOR, k), profile)[0, 1] for k in range(12)]
    minor = [np.corrcoef(np.roll(_MINOR, k), profile)[0, 1] for k in range(12)]
    tonic = int(np.argmax(np.maximum(major, minor)))
    in_key = np.roll(c, -tonic, axis=0)
    intervals = np.array([(c * np.roll(c, k, axis=0)).sum(axis=0) for k in range(1, 7)])
    changes = [np.mean((c[:, lag:] * c[:, :-lag]).sum(axis=0))
               for lag in (1, 2, 3, 5, 8, 11, 16, 22, 32, 43, 64) if lag < c.shape[1]]
    return np.concatenate([in_key.mean(axis=1), in_key.std(axis=1), intervals.mean(axis=1),
                           intervals.std(axis=1), changes,
                           [max(major), max(minor), max(major) - max(minor)]])


def _features(job):
    spec, index = job
    audio = render_song(spec, CLIP_SECONDS, SR, np.random.default_rng([5, index])).mean(axis=1)
    power = np.abs(librosa.stft(audio, n_fft=1024, hop_length=HOP)) ** 2
    mel = np.log(librosa.feature.melspectrogram(S=power, sr=SR, n_mels=128) + 1e-7)
    chroma = librosa.feature.chroma_stft(y=audio, sr=SR, n_fft=4096, hop_length=2 * HOP)
    return _timbre(mel), _rhythm(mel), _harmony(chroma)


@pytest.fixture(scope="module")
def separation():
    """Cross-validated style accuracy of each feature kind, test artists unseen."""
    cat = generate_catalogue(n_songs=400, n_users=60, seed=11)
    # Songs whose rhythm, harmony and melody all come from one style: a clean label.
    songs = [i for i, s in enumerate(cat.specs)
             if s.groove_style == s.harmony_style == s.melody_style]
    labels = np.array([cat.specs[i].groove_style for i in songs])
    groups = cat.artist_index[songs]
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(_features, [(cat.specs[i], i) for i in songs], chunksize=8))
    chance = np.bincount(labels).max() / len(labels)
    result = {"chance": chance, "n_songs": len(songs)}
    for k, name in enumerate(("timbre", "rhythm", "harmony")):
        features = np.array([row[k] for row in rows])
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
        # Grouped by artist: an artist's production must not carry the style.
        result[name] = cross_val_score(model, features, labels, groups=groups,
                                       cv=GroupKFold(5)).mean()
    return result


def test_timbre_statistics_separate_styles_much_worse_than_rhythm_or_harmony(separation):
    s = separation
    above = {name: s[name] - s["chance"] for name in ("timbre", "rhythm", "harmony")}
    print({k: round(float(v), 3) for k, v in s.items()})
    # Timbre hears something (instrument preferences, drums or none, density)...
    assert s["timbre"] > s["chance"] + 0.05
    # ...but much less than the time structure: rhythm gets at least twice as
    # far above chance, harmony clearly further.
    assert above["timbre"] < 0.5 * above["rhythm"]
    assert s["rhythm"] > s["timbre"] + 0.2
    assert s["harmony"] > s["timbre"] + 0.07


def test_grooves_fit_their_meters_and_every_idiom_renders():
    for style in STYLES:
        assert len(style.grooves) >= 3  # sub-styles
        for groove in style.grooves:
            beats, steps = METERS[groove.meter]
            for role, pattern in groove.drums.items():
                assert len(pattern) == beats * steps, (style.name, groove.name, role)
    cat = generate_catalogue(n_songs=120, n_users=60, seed=2)
    seen = set()
    for i, spec in enumerate(cat.specs):
        key = (spec.groove_style, spec.groove)
        if key in seen:
            continue
        seen.add(key)
        events = arrange(spec, 4.0, np.random.default_rng(i))
        assert len(events.notes["bass"]) and len(events.notes["comp"]) and len(events.notes["lead"])
        for part in events.notes.values():
            assert np.all((part[:, 0] >= 0) & (part[:, 0] < 4.0) & (part[:, 1] > 0))


def test_artists_share_style_and_production_but_songs_are_not_copies():
    cat = generate_catalogue(n_songs=300, n_users=60, seed=4)
    counts = np.bincount(cat.artist_index)
    assert counts.min() >= 1 and np.median(counts) >= 3 and counts.max() > 2 * np.median(counts)
    for a in np.flatnonzero(counts >= 4)[:10]:
        songs = [cat.specs[i] for i in np.flatnonzero(cat.artist_index == a)]
        # One production per artist: the room, the brightness, the kit.
        assert len({(s.reverb, s.kit, s.drive) for s in songs}) == 1
        # The artist's style is in most aspects of most of its songs.
        main = cat.artist_style[a]
        share = np.mean([[s.groove_style == main, s.harmony_style == main, s.melody_style == main]
                         for s in songs])
        assert share >= 0.5
        # Yet no two songs are the same song: tempo, key or progression differ.
        keys = {(round(s.tempo, 3), s.key, s.progression, s.groove) for s in songs}
        assert len(keys) == len(songs)
    # Within a style, sub-styles vary.
    grooves = {(s.groove_style, s.groove) for s in cat.specs}
    assert all(len({g for st, g in grooves if st == k}) >= 2 for k in range(len(STYLES)))


def test_listeners_follow_scenes_nobody_can_hear_as_well_as_styles():
    cat = generate_catalogue(n_songs=300, n_users=600, seed=6)
    n_users = len(cat.user_ids)
    scene_of_song = cat.artist_scene[cat.artist_index]
    home_scene = np.argmax(cat.user_scene, axis=1)
    home_style = np.argmax(cat.user_taste, axis=1)
    played_scene, played_style, base_scene, base_style = [], [], [], []
    sizes, counts = [], []
    for u, plays in enumerate(cat.plays):
        songs = np.array([s for s, _ in plays])
        sizes.append(len(songs))
        counts.extend(c for _, c in plays)
        played_scene.append(np.mean(scene_of_song[songs] == home_scene[u]))
        base_scene.append(np.mean(scene_of_song == home_scene[u]))
        played_style.append(np.mean(np.argmax(cat.song_mix[songs], axis=1) == home_style[u]))
        base_style.append(np.mean(np.argmax(cat.song_mix, axis=1) == home_style[u]))
    # Both the inaudible scene and the audible style draw listeners, well above chance.
    assert np.mean(played_scene) > 1.5 * np.mean(base_scene)
    assert np.mean(played_style) > 1.5 * np.mean(base_style)
    # Overdispersed counts, a realistic spread of songs per user (>= 10, as the Taste Profile).
    counts = np.array(counts)
    assert counts.min() >= 1 and np.median(counts) <= 2 and counts.var() > 2 * counts.mean()
    sizes = np.array(sizes)
    assert len(sizes) == n_users and sizes.min() >= 10 and sizes.max() > 3 * np.median(sizes)


def test_tags_mix_audible_and_inaudible_kinds_with_relative_weights():
    cat = generate_catalogue(n_songs=400, n_users=60, seed=8)
    raw = [t for tags in cat.track_tags for t, _ in tags]
    assert sum(1 for tags in cat.track_tags if not tags) > 0  # some tracks untagged
    assert all(max(w for _, w in tags) == 100.0 for tags in cat.track_tags if tags)
    present = set(raw)
    # Genres (several spellings), sub-genres, instruments, tempo and mood words: audible.
    assert {"rock", "Rock"} & present and {"Hip-Hop", "hip hop", "hip-hop", "Hip Hop"} & present
    assert {"house", "bebop", "celtic", "trap"} & present
    assert {"piano", "guitar", "saxophone", "synth"} & present
    assert {"slow", "fast"} & present and {"happy", "sad", "dark"} & present
    # Era, seen live, locale and personal junk: inaudible.
    assert {"60s", "70s", "80s", "90s", "00s"} & present and "seen live" in present
    assert {"favorites", "awesome", "love", "cool"} & present
    junk = [w for tags in cat.track_tags for t, w in tags if t in ("favorites", "awesome", "cool")]
    assert np.median(junk) < 10  # personal tags carry low weights
    # Era tags follow the artist's decade, not the sound.
    for i, tags in enumerate(cat.track_tags):
        decade = cat.artist_decade[cat.artist_index[cat.donor[i]]]
        for t, _ in tags:
            if t in ("60s", "70s", "80s", "90s", "00s"):
                assert t == f"{decade % 100:02d}s"


def test_parameter_checks_name_the_parameter_and_the_minimum():
    check_demo_parameters(600, 2000, 10.0, window_seconds=3.0, min_seconds=5.0)
    assert minimum_songs(0.1, 0.2) == 30 and minimum_songs(0.2, 0.2) == 15
    with pytest.raises(DemoParameterError, match=r"n_songs = 20 is too small.*n_songs >= 30"):
        check_demo_parameters(20, 2000, 10.0)
    with pytest.raises(DemoParameterError, match=rf"n_users = 10 .* n_users >= {MIN_USERS}"):
        check_demo_parameters(600, 10, 10.0)
    with pytest.raises(DemoParameterError,
                       match=r"clip_seconds = 2 is shorter than the model window, \[TrainTagModel\] "
                             r"window_seconds = 3: it needs clip_seconds >= 3"):
        check_demo_parameters(600, 2000, 2.0, window_seconds=3.0, min_seconds=1.0)
    with pytest.raises(DemoParameterError, match=r"\[Spectrograms\] min_seconds = 5.*>= 5"):
        check_demo_parameters(600, 2000, 4.0, window_seconds=3.0, min_seconds=5.0)
