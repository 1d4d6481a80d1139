"""MSD per-track HDF5 files (``TR....h5``) for demo songs, analysed from their audio.

The real MSD track files were written by PyTables from the Echo Nest API; this
module writes files of the same layout with h5py, so the readers cannot tell
them apart: the groups ``metadata``, ``analysis`` and ``musicbrainz``, each
with its compound one-row ``songs`` table (the real field names, order and
types, fixed-width byte strings) and its variable-length arrays (the real
names, dtypes, chunk shapes, gzip level 1 + shuffle, and PyTables' ``CLASS`` /
``TITLE`` / ``VERSION`` attributes, titles copied verbatim, typos included).

The analysis imitates the Echo Nest's from the audio, at its 22050 Hz:

* segments start at onsets (``librosa.onset.onset_detect`` on the mel
  spectral flux), at least :data:`MIN_SEGMENT_SECONDS` apart; a
  segment longer than :data:`MAX_SEGMENT_SECONDS` (a held note, a drone) is
  cut into equal parts, as the Echo Nest also splits long sounds;
* ``segments_timbre``: the segment's mean of 12 MFCCs (MFCC-like, like the
  Echo Nest's 12 timbre basis coefficients, though not on their scale);
* ``segments_pitches``: mean chroma over the segment, divided by its maximum
  so the strongest pitch class is 1 (the Echo Nest's normalization);
* ``segments_loudness_start`` / ``_max`` / ``_max_time``: RMS level in dB
  (floored at -60 dB, the Echo Nest's floor) at the segment's start, its
  maximum, and the offset of that maximum from the segment start;
* ``beats_start`` from ``librosa.beat.beat_track``; bars every 4 beats,
  tatums at beats and half beats, sections every 8 bars; ``tempo``, ``key``
  and ``mode`` (Krumhansl-Schmuckler key profiles on the mean chroma) in
  ``analysis/songs``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import h5py
import numpy as np

from krotos.progress import Progress
from krotos.staging import atomic_path

#: The Echo Nest analysed audio at this rate (``analysis_sample_rate``).
ANALYSIS_SAMPLE_RATE = 22050
HOP_LENGTH = 512
N_FFT = 2048
MIN_SEGMENT_SECONDS = 0.06
MAX_SEGMENT_SECONDS = 1.0
LOUDNESS_FLOOR_DB = -60.0
BEATS_PER_BAR = 4
BARS_PER_SECTION = 8

#: Columns of the MSD's ``track_metadata.db`` table ``songs`` (keys of a track row).
TRACK_METADATA_COLUMNS = (
    "track_id", "title", "song_id", "release", "artist_id", "artist_mbid", "artist_name",
    "duration", "artist_familiarity", "artist_hotttnesss", "year", "track_7digitalid",
    "shs_perf", "shs_work")

# The compound ``songs`` tables, field for field as in the real files.
METADATA_FIELDS = [
    ("analyzer_version", "S32"), ("artist_7digitalid", "<i4"), ("artist_familiarity", "<f8"),
    ("artist_hotttnesss", "<f8"), ("artist_id", "S32"), ("artist_latitude", "<f8"),
    ("artist_location", "S1024"), ("artist_longitude", "<f8"), ("artist_mbid", "S40"),
    ("artist_name", "S1024"), ("artist_playmeid", "<i4"), ("genre", "S1024"),
    ("idx_artist_terms", "<i4"), ("idx_similar_artists", "<i4"), ("release", "S1024"),
    ("release_7digitalid", "<i4"), ("song_hotttnesss", "<f8"), ("song_id", "S32"),
    ("title", "S1024"), ("track_7digitalid", "<i4")]
ANALYSIS_FIELDS = [
    ("analysis_sample_rate", "<i4"), ("audio_md5", "S32"), ("danceability", "<f8"),
    ("duration", "<f8"), ("end_of_fade_in", "<f8"), ("energy", "<f8"),
    ("idx_bars_confidence", "<i4"), ("idx_bars_start", "<i4"), ("idx_beats_confidence", "<i4"),
    ("idx_beats_start", "<i4"), ("idx_sections_confidence", "<i4"),
    ("idx_sections_start", "<i4"), ("idx_segments_confidence", "<i4"),
    ("idx_segments_loudness_max", "<i4"), ("idx_segments_loudness_max_time", "<i4"),
    ("idx_segments_loudness_start", "<i4"), ("idx_segments_pitches", "<i4"),
    ("idx_segments_start", "<i4"), ("idx_segments_timbre", "<i4"),
    ("idx_tatums_confidence", "<i4"), ("idx_tatums_start", "<i4"), ("key", "<i4"),
    ("key_confidence", "<f8"), ("loudness", "<f8"), ("mode", "<i4"),
    ("mode_confidence", "<f8"), ("start_of_fade_out", "<f8"), ("tempo", "<f8"),
    ("time_signature", "<i4"), ("time_signature_confidence", "<f8"), ("track_id", "S32")]
MUSICBRAINZ_FIELDS = [("idx_artist_mbtags", "<i4"), ("year", "<i4")]

GROUPS = {  # name -> (TITLE, songs fields, songs TITLE, songs chunk rows)
    "metadata": ("metadata about the song", METADATA_FIELDS,
                 "table of metadata for one song", 3),
    "analysis": ("Echo Nest analysis of the song", ANALYSIS_FIELDS,
                 "table of Echo Nest analysis for one song", 37),
    "musicbrainz": ("data about the song coming from MusicBrainz", MUSICBRAINZ_FIELDS,
                    "table of data coming from MusicBrainz", 1024),
}

#: The per-song arrays: path -> (dtype, row shape, chunk shape, TITLE).
ARRAYS = {
    "analysis/bars_confidence": ("<f8", (), (1024,), "array of confidence of bars"),
    "analysis/bars_start": ("<f8", (), (1024,), "array of start times of bars"),
    "analysis/beats_confidence": ("<f8", (), (1024,), "array of confidence of sections"),
    "analysis/beats_start": ("<f8", (), (1024,), "array of start times of beats"),
    "analysis/sections_confidence": ("<f8", (), (1024,), "array of confidence of sections"),
    "analysis/sections_start": ("<f8", (), (1024,), "array of start times of sections"),
    "analysis/segments_confidence": ("<f8", (), (1024,), "array of confidence of segments"),
    "analysis/segments_loudness_max": ("<f8", (), (1024,), "array of max loudness of segments"),
    "analysis/segments_loudness_max_time": ("<f8", (), (1024,),
                                            "array of max loudness time of segments"),
    "analysis/segments_loudness_start": ("<f8", (), (1024,),
                                         "array of loudness of segments at start time"),
    "analysis/segments_pitches": ("<f8", (12,), (85, 12),
                                  "array of pitches of segments (chromas)"),
    "analysis/segments_start": ("<f8", (), (1024,), "array of start times of segments"),
    "analysis/segments_timbre": ("<f8", (12,), (85, 12),
                                 "array of timbre of segments (MFCC-like)"),
    "analysis/tatums_confidence": ("<f8", (), (1024,), "array of confidence of tatums"),
    "analysis/tatums_start": ("<f8", (), (1024,), "array of start times of tatums"),
    "metadata/artist_terms": ("S256", (), (32,), "array of terms (Echo Nest tags) for an artist"),
    "metadata/artist_terms_freq": ("<f8", (), (1024,),
                                   "array of term (Echo Nest tags) frequencies for an artist"),
    "metadata/artist_terms_weight": ("<f8", (), (1024,),
                                     "array of term (Echo Nest tags) weights for an artist"),
    "metadata/similar_artists": ("S20", (), (409,), "array of similar artists Echo Nest id"),
    "musicbrainz/artist_mbtags": ("S256", (), (32,),
                                  "array of tags from MusicBrainz for an artist"),
    "musicbrainz/artist_mbtags_count": ("<i4", (), (2048,),
                                        "array of tag counts from MusicBrainz for an artist"),
}

#: PyTables' default filters (zlib level 1 + shuffle), as stored in the real files.
_PYTABLES_FILTERS = 65793

# Krumhansl-Kessler key profiles (C major / C minor).
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


# --------------------------------------------------------------------------- analysis

def _mono(audio):
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"audio must be a non-empty (samples,) or (samples, channels) "
                         f"array, got shape {np.shape(audio)}")
    return audio


def _segment_bounds(onsets, n_frames, frame_seconds):
    """Segment start frames from onset frames: merged if too close, split if too long."""
    min_gap = max(1, int(round(MIN_SEGMENT_SECONDS / frame_seconds)))
    max_len = max(min_gap, int(round(MAX_SEGMENT_SECONDS / frame_seconds)))
    starts = [0]
    for f in np.unique(np.asarray(onsets, dtype=int)):
        if min_gap <= f - starts[-1] and f < n_frames:
            starts.append(int(f))
    bounds = starts + [n_frames]
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        parts = int(np.ceil((b - a) / max_len))
        out += [int(v) for v in np.linspace(a, b, parts + 1)[:-1].round()]
    return np.asarray(out, dtype=int)


def _key_mode(chroma_mean):
    if np.ptp(chroma_mean) <= 1e-12:
        return 0, 1, 0.0  # a flat chroma (silence) says nothing about the key
    best = (-np.inf, 0, 1)
    for mode, profile in ((1, _MAJOR), (0, _MINOR)):
        for key in range(12):
            r = np.corrcoef(chroma_mean, np.roll(profile, key))[0, 1]
            if np.isfinite(r) and r > best[0]:
                best = (r, key, mode)
    r, key, mode = best
    confidence = float(np.clip(r, 0.0, 1.0)) if np.isfinite(r) else 0.0
    return key, mode, confidence


def analyze_audio(audio: np.ndarray, sample_rate: int) -> dict:
    """Echo Nest-style analysis of a clip.

    Parameters
    ----------
    audio : np.ndarray
        ``(samples,)`` or ``(samples, channels)`` float, any rate.
    sample_rate : int

    Returns
    -------
    dict
        The ``analysis`` arrays by name (``segments_start``, ``segments_timbre``,
        ..., ``tatums_confidence``) and the ``songs`` row values
        (``duration``, ``tempo``, ``key``, ``mode``, ``loudness``, ...).
    """
    import librosa

    from krotos.audio.features import mel_basis
    from krotos.audio.resample import resample

    y = resample(_mono(audio), int(sample_rate), ANALYSIS_SAMPLE_RATE)
    sr, hop = ANALYSIS_SAMPLE_RATE, HOP_LENGTH
    frame_seconds = hop / sr
    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=hop))
    power = magnitude ** 2
    n_frames = power.shape[1]
    mel_db = librosa.power_to_db(mel_basis(sr, N_FFT, 64, 0.0, None) @ power,
                                 ref=1.0, amin=1e-10, top_db=None)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=12)
    # tuning=0: A440 bins, as the Echo Nest's pitch classes; estimating the
    # tuning costs time and warns on silence.
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=N_FFT, tuning=0.0)
    rms = librosa.feature.rms(S=magnitude, frame_length=N_FFT)[0]
    level_db = np.maximum(20 * np.log10(np.maximum(rms, 1e-10)), LOUDNESS_FLOOR_DB)

    envelope = librosa.onset.onset_strength(S=mel_db, sr=sr)
    # No backtracking: going back to the preceding energy minimum lands 20-50 ms
    # before the attack with 2048-sample frames; the peak itself is within a hop.
    onsets = librosa.onset.onset_detect(onset_envelope=envelope, sr=sr, hop_length=hop)
    seg = _segment_bounds(onsets, n_frames, frame_seconds)
    ends = np.append(seg[1:], n_frames)
    scale = envelope.max() if envelope.size and envelope.max() > 0 else 1.0

    timbre = np.stack([mfcc[:, a:b].mean(axis=1) for a, b in zip(seg, ends)])
    pitches = np.stack([chroma[:, a:b].mean(axis=1) for a, b in zip(seg, ends)])
    peak = pitches.max(axis=1, keepdims=True)
    # A silent segment has no pitch content: a flat chroma, still peaking at 1.
    pitches = np.where(peak > 1e-9, pitches / np.where(peak > 1e-9, peak, 1.0), 1.0)
    loud_max_at = np.array([a + int(np.argmax(level_db[a:b])) for a, b in zip(seg, ends)])

    tempo, beat_frames = librosa.beat.beat_track(onset_envelope=envelope, sr=sr,
                                                 hop_length=hop)
    tempo = float(np.atleast_1d(tempo)[0])
    beat_frames = np.asarray(beat_frames, dtype=int)
    beats = librosa.frames_to_time(beat_frames, sr=sr, hop_length=hop)
    beats_conf = np.clip(envelope[beat_frames] / scale, 0, 1) if len(beat_frames) else beats
    half = (beats[:-1] + beats[1:]) / 2
    half_conf = (beats_conf[:-1] + beats_conf[1:]) / 2
    tatum_order = np.argsort(np.concatenate([beats, half]), kind="stable")
    bars = beats[::BEATS_PER_BAR]
    sections = np.concatenate([[0.0], bars[BARS_PER_SECTION::BARS_PER_SECTION]])

    duration = len(y) / sr
    key, mode, key_conf = _key_mode(chroma.mean(axis=1))
    overall = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    return {
        "segments_start": seg * frame_seconds,
        "segments_confidence": np.clip(envelope[np.minimum(seg, len(envelope) - 1)] / scale,
                                       0, 1),
        "segments_timbre": timbre,
        "segments_pitches": pitches,
        "segments_loudness_start": level_db[seg],
        "segments_loudness_max": level_db[loud_max_at],
        "segments_loudness_max_time": (loud_max_at - seg) * frame_seconds,
        "beats_start": beats,
        "beats_confidence": beats_conf,
        "bars_start": bars,
        "bars_confidence": beats_conf[::BEATS_PER_BAR],
        "tatums_start": np.concatenate([beats, half])[tatum_order],
        "tatums_confidence": np.concatenate([beats_conf, half_conf])[tatum_order],
        "sections_start": sections,
        "sections_confidence": np.where(np.arange(len(sections)) == 0, 1.0, 0.5),
        "duration": duration,
        "tempo": tempo,
        "key": key,
        "key_confidence": key_conf,
        "mode": mode,
        "mode_confidence": key_conf,
        "loudness": max(20 * np.log10(max(overall, 1e-10)), LOUDNESS_FLOOR_DB),
        "end_of_fade_in": 0.0,
        "start_of_fade_out": duration,
        "time_signature": BEATS_PER_BAR,
        "time_signature_confidence": 0.5,
        "analysis_sample_rate": sr,
        "audio_md5": hashlib.md5(np.ascontiguousarray(y).tobytes()).hexdigest(),
    }


# --------------------------------------------------------------------------- writing

def _fixed_bytes(value, width):
    data = ("" if value is None else str(value)).encode("utf-8")
    # Cut at the width without leaving half a UTF-8 character behind.
    return data[:width].decode("utf-8", "ignore").encode("utf-8")


#: What the real files hold where a value is unknown (other ints 0, floats NaN).
FIELD_DEFAULTS = {"danceability": 0.0, "energy": 0.0, "year": 0, "artist_7digitalid": -1,
                  "artist_playmeid": -1, "release_7digitalid": -1, "track_7digitalid": -1}


def _songs_row(fields, values):
    dtype = np.dtype(fields)
    row = np.zeros(1, dtype=dtype)
    for name, _ in fields:
        kind = dtype[name].kind
        value = values.get(name)
        if name.startswith("idx_"):
            value = 0  # one song per file: every array starts at 0
        if kind == "S":
            row[name] = _fixed_bytes(value, dtype[name].itemsize)
        elif value is None or (kind == "i" and isinstance(value, float) and np.isnan(value)):
            row[name] = FIELD_DEFAULTS.get(name, 0 if kind == "i" else np.nan)
        else:
            row[name] = value
    return row


def _table_attrs(dset, fields, title):
    dset.attrs["CLASS"] = np.bytes_(b"TABLE")
    dset.attrs["VERSION"] = np.bytes_(b"2.6")
    dset.attrs["TITLE"] = np.bytes_(title.encode())
    dset.attrs["NROWS"] = np.int64(len(dset))
    for i, (name, code) in enumerate(fields):
        dset.attrs[f"FIELD_{i}_NAME"] = np.bytes_(name.encode())
        kind = np.dtype(code).kind
        dset.attrs[f"FIELD_{i}_FILL"] = (np.bytes_(b"") if kind == "S" else
                                         np.dtype(code).type(0))


def _write_layout(f, songs, arrays):
    f.attrs["CLASS"] = np.bytes_(b"GROUP")
    f.attrs["FILTERS"] = np.int64(_PYTABLES_FILTERS)
    f.attrs["PYTABLES_FORMAT_VERSION"] = np.bytes_(b"2.0")
    f.attrs["TITLE"] = np.bytes_(b"H5 Song File")
    f.attrs["VERSION"] = np.bytes_(b"1.0")
    for group, (title, fields, table_title, chunk) in GROUPS.items():
        g = f.create_group(group)
        g.attrs["CLASS"] = np.bytes_(b"GROUP")
        g.attrs["FILTERS"] = np.int64(_PYTABLES_FILTERS)
        g.attrs["TITLE"] = np.bytes_(title.encode())
        g.attrs["VERSION"] = np.bytes_(b"1.0")
        row = _songs_row(fields, songs)
        dset = g.create_dataset("songs", data=row, maxshape=(None,), chunks=(chunk,),
                                compression="gzip", compression_opts=1, shuffle=True)
        _table_attrs(dset, fields, table_title)
    for path, (code, row_shape, chunks, title) in ARRAYS.items():
        name = path.split("/", 1)[1]
        values = arrays.get(name)
        if values is None:
            values = np.zeros((0,) + row_shape, dtype=code)
        elif np.dtype(code).kind == "S":
            width = np.dtype(code).itemsize
            values = np.array([_fixed_bytes(v, width) for v in values], dtype=code)
        values = np.asarray(values, dtype=code).reshape((-1,) + row_shape)
        dset = f.create_dataset(path, data=values, maxshape=(None,) + row_shape, chunks=chunks,
                                compression="gzip", compression_opts=1, shuffle=True)
        dset.attrs["CLASS"] = np.bytes_(b"EARRAY")
        dset.attrs["EXTDIM"] = np.int32(0)
        dset.attrs["TITLE"] = np.bytes_(title.encode())
        dset.attrs["VERSION"] = np.bytes_(b"1.0")


def write_msd_track_h5(path: str, track_row: dict, audio: np.ndarray, sample_rate: int) -> dict:
    """Write one MSD per-track HDF5 file for a clip, analysed Echo Nest style.

    Parameters
    ----------
    path : str
        The file to create (usually :func:`krotos.features.echonest_shard.msd_h5_path`);
        folders are created, and the file appears only once complete.
    track_row : dict
        The track's metadata: at least ``track_id``; the columns of
        ``track_metadata.db`` (:data:`TRACK_METADATA_COLUMNS`) and any other
        field of the three ``songs`` tables (``artist_location``, ``genre``,
        ...) are used where given; ``artist_terms`` (list of str) fills the
        ``metadata/artist_terms`` array. Unknown values are written as the
        real files have them (:data:`FIELD_DEFAULTS`; else 0 or NaN).
    audio : np.ndarray
        ``(samples,)`` or ``(samples, channels)`` float samples.
    sample_rate : int

    Returns
    -------
    dict
        The analysis written (see :func:`analyze_audio`).
    """
    analysis = analyze_audio(audio, sample_rate)
    write_msd_track_arrays(path, track_row, analysis)
    return analysis


def write_msd_track_arrays(path: str, track_row: dict, analysis: dict) -> None:
    """Write an MSD per-track HDF5 file from given values (no audio analysis).

    Parameters
    ----------
    path : str
        The file to create (atomically; folders are created).
    track_row : dict
        Metadata, as for :func:`write_msd_track_h5`.
    analysis : dict
        Scalars go to the ``songs`` tables (e.g. ``duration``, ``tempo``),
        arrays to the arrays of the same name (e.g. ``segments_start``,
        ``segments_timbre``); arrays not given are written empty.
    """
    track_row = dict(track_row)
    if not track_row.get("track_id"):
        raise ValueError("track_row needs a track_id")
    songs = {**track_row, **{k: v for k, v in analysis.items() if np.ndim(v) == 0}}
    arrays = {k: v for k, v in analysis.items() if np.ndim(v) > 0}
    terms = list(track_row.get("artist_terms") or [])
    arrays.setdefault("artist_terms", terms)
    arrays.setdefault("artist_terms_freq", np.linspace(1.0, 0.5, len(terms)))
    arrays.setdefault("artist_terms_weight", np.linspace(1.0, 0.5, len(terms)))
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        _write_layout(f, songs, arrays)


def _find_preview(folder, row):
    digital = row.get("track_7digitalid")
    names = []
    if digital not in (None, "", -1):
        names.append(f"{int(digital)}.mp3")
    names += [f"{row['track_id']}.{ext}" for ext in ("mp3", "ogg", "flac", "wav")]
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _write_one(job):
    from krotos.audio.decode import DecodeError, load_audio
    from krotos.features.echonest_shard import msd_h5_path

    root, previews, row = job
    source = _find_preview(previews, row)
    if source is None:
        return row["track_id"], "missing_preview", f"no preview for {row['track_id']} in {previews}"
    try:
        samples, sr = load_audio(source)
    except DecodeError as exc:
        return row["track_id"], "undecodable", str(exc)
    write_msd_track_h5(msd_h5_path(root, row["track_id"]), row, samples, sr)
    return row["track_id"], "ok", ""


def write_msd_h5_tree(root: str, tracks: Iterable[dict], previews_folder: str, workers: int = 1,
                      progress: Progress | None = None) -> dict:
    """Write ``root/A/B/C/<track_id>.h5`` for every track with a preview.

    Parameters
    ----------
    root : str
        Folder of the tree (created).
    tracks : iterable of dict
        Track rows (see :func:`write_msd_track_h5`), e.g. the rows of
        ``track_metadata.db`` as dicts (:func:`read_track_rows`).
    previews_folder : str
        Audio named ``<track_7digitalid>.mp3`` or ``<track_id>.<ext>``.
    workers : int
        Processes (the files do not depend on it).
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    dict
        ``{"written": n, "skipped": {track_id: reason}}`` (tracks without a
        preview or with an undecodable one are skipped, not fatal).
    """
    import concurrent.futures

    jobs = [(os.fspath(root), os.fspath(previews_folder), dict(row)) for row in tracks]
    os.makedirs(root, exist_ok=True)
    pool = None
    if workers > 1:
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers)
        results = pool.map(_write_one, jobs, chunksize=4)
    else:
        results = map(_write_one, jobs)
    written, skipped = 0, {}
    try:
        for done, (track_id, status, reason) in enumerate(results, 1):
            if status == "ok":
                written += 1
            else:
                skipped[track_id] = f"{status}: {reason}"
            if progress and (done % 25 == 0 or done == len(jobs)):
                progress(done / len(jobs), f"analysed {done}/{len(jobs)} tracks into MSD HDF5")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return {"written": written, "skipped": skipped}


def read_track_rows(track_metadata_db: str) -> list[dict]:
    """The rows of a ``track_metadata.db`` as dicts (keys :data:`TRACK_METADATA_COLUMNS`)."""
    import sqlite3

    with sqlite3.connect(f"file:{os.path.abspath(track_metadata_db)}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM songs ORDER BY track_id")]
    db.close()
    return rows
