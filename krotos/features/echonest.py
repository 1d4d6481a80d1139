"""Echo Nest segment features of one MSD track as a time x 25 matrix.

Every track file of the Million Song Dataset carries the Echo Nest analysis of
its audio: the track is cut into *segments* (short sound events, about 4 a
second), each with a start time, a 12-d ``segments_timbre`` vector (MFCC-like),
a 12-d ``segments_pitches`` chroma vector (max-normalized to 1) and its
loudness in dB. This module turns those into the same kind of input the CNN
gets from audio: a ``(frames, 25)`` float32 matrix, channels
``timbre[0..11] + pitches[0..11] + loudness``.

Time grid
---------
The segments define a piecewise-constant signal: a segment's values hold from
its start to the next segment's start (the last one to the track's
``duration``; the first one also covers any time before it). Each output frame
is that signal's mean over the frame's time span, so a frame inside one long
segment carries exactly that segment's values, and a frame spanning several
short segments carries their duration-weighted mean (no segment is skipped,
which sampling at frame centres would do with 70 ms segments at 10 Hz).

* ``grid='fixed'``: frames ``[k / frame_rate, (k + 1) / frame_rate)`` for
  ``k < floor(duration * frame_rate)``;
* ``grid='beats'``: one frame per beat, ``[beats_start[i], beats_start[i + 1])``,
  the last beat running to ``duration`` (beat-synchronous features, as in
  Bertin-Mahieux et al.'s MSD papers); time before the first beat is dropped.

The values are stored raw (timbre roughly -250..250, pitches 0..1, loudness
-60..0 dB): the model standardizes every channel with statistics of the
training split in its first layer, exactly as it does the log-mel bands.

Bad input
---------
A track is rejected (:class:`krotos.shards.status.Rejected`, with a status
and a reason naming the file) when its file is not HDF5 (``unreadable_h5``),
is not an MSD track file or holds another track (``not_msd_track``), lacks a
segment array, has zero segments, arrays of different lengths, or NaN/inf in
timbre, pitches, loudness or start times (``bad_analysis``), or is shorter
than ``min_seconds`` (``too_short``).

Disorder in the segment start times is *repaired* and recorded, as long as it
touches at most :data:`MAX_REPAIRED_FRACTION` of the segments (else the file
is taken as corrupt and rejected): MSD files store start times only, so an
overlap shows up as a segment starting before its predecessor; such rows are
sorted by start time (stably, rows keep their values); rows sharing a start
time (zero-length segments) keep the last one; segments starting outside
``[0, duration)`` are dropped. Each repair adds a warning that ends up in the
manifest's ``reason`` of the (``ok``) track.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

# The shard store's status vocabulary and rejection, shared with the audio extraction.
from krotos.shards import status as st

#: Channel names, in matrix column order.
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
CHANNELS = tuple([f"timbre_{i}" for i in range(12)] + [f"pitch_{p}" for p in PITCH_NAMES]
                 + ["loudness"])
N_CHANNELS = len(CHANNELS)

#: Above this fraction of segments needing repair, the file is rejected.
MAX_REPAIRED_FRACTION = 0.1

#: Echo Nest analysed audio at 22050 Hz (``analysis/songs.analysis_sample_rate``).
ANALYSIS_SAMPLE_RATE = 22050

#: Nominal frame rate of the beat grid (one beat at 120 BPM), used only to turn
#: a window length in seconds into frames.
NOMINAL_BEATS_PER_SECOND = 2.0

SEGMENT_FIELDS = ("segments_start", "segments_timbre", "segments_pitches")
LOUDNESS_FIELDS = {"max": "segments_loudness_max", "start": "segments_loudness_start"}


@dataclasses.dataclass(frozen=True)
class EchonestParams:
    """Everything that determines the feature matrix of a track.

    Parameters
    ----------
    frame_rate : float
        Frames per second of the fixed grid (ignored by ``grid='beats'``).
    grid : {'fixed', 'beats'}
        Fixed time grid, or one frame per beat.
    loudness : {'max', 'start'}
        Loudness channel: ``segments_loudness_max`` (peak of the segment) or
        ``segments_loudness_start`` (level at its onset).
    dtype : {'float16', 'float32'}
        Storage type in the shard. float32 by default: the matrices are small
        (25 channels, 10 frames/s) and timbre values reach +-250.
    min_seconds : float
        Tracks shorter than this are recorded as ``too_short``.
    """

    frame_rate: float = 10.0
    grid: str = "fixed"
    loudness: str = "max"
    dtype: str = "float32"
    min_seconds: float = 5.0

    def __post_init__(self):
        if self.grid not in ("fixed", "beats"):
            raise ValueError(f"grid must be 'fixed' or 'beats', got {self.grid!r}")
        if self.loudness not in LOUDNESS_FIELDS:
            raise ValueError(f"loudness must be 'max' or 'start', got {self.loudness!r}")
        if self.dtype not in ("float16", "float32"):
            raise ValueError(f"dtype must be float16 or float32, got {self.dtype!r}")
        if not (np.isfinite(self.frame_rate) and self.frame_rate > 0):
            raise ValueError(f"frame_rate must be > 0, got {self.frame_rate!r}")
        object.__setattr__(self, "frame_rate", float(self.frame_rate))
        object.__setattr__(self, "min_seconds", float(self.min_seconds))

    @property
    def frames_per_second(self) -> float:
        """Frame rate of the grid (nominal for beats: see :data:`NOMINAL_BEATS_PER_SECOND`)."""
        return self.frame_rate if self.grid == "fixed" else NOMINAL_BEATS_PER_SECOND

    def as_dict(self) -> dict:
        """JSON-able parameters, as stored in the shard attributes and the manifest.

        ``sample_rate`` / ``hop_length`` express the frame rate the way the
        spectrogram manifest does (``sample_rate / hop_length`` frames per
        second, at the Echo Nest's 22050 Hz analysis rate), so code that turns
        seconds into frames from a mel manifest reads this one alike.
        """
        d = dataclasses.asdict(self)
        fps = self.frames_per_second
        d.update(feature="echonest", n_channels=N_CHANNELS, channels=list(CHANNELS),
                 frames_per_second=fps, sample_rate=ANALYSIS_SAMPLE_RATE,
                 hop_length=ANALYSIS_SAMPLE_RATE / fps, frame_axis=0,
                 max_repaired_fraction=MAX_REPAIRED_FRACTION)
        return d


# --------------------------------------------------------------------------- reading

def read_track_analysis(path: str | os.PathLike, track_id: str | None = None, row: int = 0,
                        loudness: str = "max", beats: bool = True, where: str | None = None) -> dict:
    """Read the Echo Nest analysis arrays of one track from an MSD HDF5 file.

    The file is opened once; of the ``songs`` tables only ``track_id``,
    ``duration`` (and, in an aggregate file, the slice bounds) are read.

    Parameters
    ----------
    path : str
        A per-track ``TR*.h5`` file, or an aggregate file holding the arrays.
    track_id : str, optional
        The track expected at ``row``; another one there is rejected.
    row : int
        Row of the track in the file's ``songs`` tables (0 in per-track files).
    loudness : {'max', 'start'}
        Which loudness array is needed.
    beats : bool
        Read ``beats_start`` too (only the beat grid needs it).
    where : str, optional
        How messages name the file (default: ``path``).

    Returns
    -------
    dict
        ``track_id``, ``duration`` (float, may be NaN), ``segments_start``
        (n,), ``segments_timbre`` (n, 12), ``segments_pitches`` (n, 12),
        ``loudness`` (n,), ``beats_start`` (m,) (empty when absent or not
        asked for), as stored (float64 in MSD files).

    Raises
    ------
    krotos.shards.status.Rejected
        ``unreadable_h5``, ``not_msd_track`` or ``bad_analysis`` (missing
        arrays), with a reason naming the file.
    """
    from krotos.msd.errors import InputFileError
    from krotos.msd.hdf5 import MSDFile, UnreadableFile

    path = os.fspath(path)
    where = path if where is None else where

    def named(exc):
        return str(exc).replace(path, where)

    needed = SEGMENT_FIELDS + (LOUDNESS_FIELDS[loudness],)
    try:
        with MSDFile(path) as f:
            song = f.table_row("analysis", row, ("track_id", "duration")) or {}
            if "track_id" not in song or "duration" not in song:
                raise st.Rejected(st.NOT_MSD_TRACK, f"{where}: no analysis/songs table with "
                                                    f"track_id and duration (not an MSD track file?)")
            found = song["track_id"]
            if track_id is not None and found != track_id:
                raise st.Rejected(st.NOT_MSD_TRACK, f"{where}: row {row} holds track "
                                                    f"{found!r}, expected {track_id}")
            arrays = f.arrays(needed + (("beats_start",) if beats else ()), row)
    except UnreadableFile as exc:
        raise st.Rejected(st.UNREADABLE_H5, named(exc)) from exc
    except (InputFileError, IndexError, KeyError) as exc:
        raise st.Rejected(st.NOT_MSD_TRACK, named(exc).strip("'\"")) from exc
    missing = [name for name in needed if name not in arrays]
    if missing:
        raise st.Rejected(st.BAD_ANALYSIS, f"{where}: missing segment arrays: "
                                           f"{', '.join('analysis/' + m for m in missing)}")
    out = {name: arrays[name] for name in SEGMENT_FIELDS}
    out["loudness"] = arrays[LOUDNESS_FIELDS[loudness]]
    out["beats_start"] = arrays.get("beats_start", np.zeros(0))
    for name, values in out.items():
        if values.dtype.kind not in "fiu":
            raise st.Rejected(st.BAD_ANALYSIS, f"{where}: {name} holds {values.dtype} values, "
                                               f"not numbers")
    out["track_id"] = found
    try:
        out["duration"] = float(song["duration"])
    except (TypeError, ValueError):
        out["duration"] = float("nan")
    return out


# --------------------------------------------------------------------------- checks

def check_analysis(analysis: dict, where: str = "track") -> tuple[dict, list[str]]:
    """Validate (and where safe, repair) the segment arrays of one track.

    Parameters
    ----------
    analysis : dict
        As returned by :func:`read_track_analysis`.
    where : str
        Names the track in messages (usually its file).

    Returns
    -------
    clean : dict
        ``starts`` (n,), ``values`` (n, 25) float64, ``end`` (seconds),
        ``beats`` (sorted beat starts inside ``[0, end)``).
    warnings : list of str
        One line per repair made.

    Raises
    ------
    krotos.shards.status.Rejected
        ``bad_analysis`` with the reason.
    """
    starts = np.asarray(analysis["segments_start"], dtype=np.float64)
    timbre = np.asarray(analysis["segments_timbre"], dtype=np.float64)
    pitches = np.asarray(analysis["segments_pitches"], dtype=np.float64)
    loud = np.asarray(analysis["loudness"], dtype=np.float64)
    n = starts.shape[0] if starts.ndim == 1 else -1
    if n == 0:
        raise st.Rejected(st.BAD_ANALYSIS, f"{where}: zero segments")
    shapes = {"segments_start": (starts.shape, (n,)), "segments_timbre": (timbre.shape, (n, 12)),
              "segments_pitches": (pitches.shape, (n, 12)), "loudness": (loud.shape, (n,))}
    wrong = [f"{name} {tuple(got)} (expected {want})"
             for name, (got, want) in shapes.items() if n < 0 or tuple(got) != want]
    if wrong:
        raise st.Rejected(st.BAD_ANALYSIS, f"{where}: segment arrays disagree in shape: "
                                           f"{'; '.join(wrong)}")
    values = np.concatenate([timbre, pitches, loud[:, None]], axis=1)
    # One look at every value; the counts per array only for the message.
    if not (np.isfinite(starts).all() and np.isfinite(values).all()):
        for name, array in (("segments_start", starts), ("segments_timbre", timbre),
                            ("segments_pitches", pitches), ("segment loudness", loud)):
            bad = int(np.count_nonzero(~np.isfinite(array)))
            if bad:
                raise st.Rejected(st.BAD_ANALYSIS, f"{where}: {bad} NaN/inf value(s) in {name}")
    warnings = []

    duration = float(analysis.get("duration", np.nan))
    end = duration
    if not (np.isfinite(duration) and duration > 0):
        end = None
    repaired = 0

    # The checks below find nothing to repair in almost every file: each
    # costs one pass over the start times then.
    steps = starts[1:] - starts[:-1]
    inversions = int(np.count_nonzero(steps < 0))
    if inversions:
        order = np.argsort(starts, kind="stable")
        starts, values = starts[order], values[order]
        steps = starts[1:] - starts[:-1]
        repaired += inversions
        warnings.append(f"{inversions} segment(s) start before their predecessor "
                        f"(out of order / overlapping): sorted by start time")
    # Of several rows with one start time the last wins: zero-length segments
    # have no time to hold their values.
    increasing = steps > 0
    dropped = len(increasing) - int(np.count_nonzero(increasing))
    if dropped:
        keep = np.append(increasing, True)
        starts, values = starts[keep], values[keep]
        repaired += dropped
        warnings.append(f"{dropped} segment(s) with a duplicate start time dropped")
    # The starts now increase: inside the track when the first and last are.
    outside = 0
    if not (starts[0] >= 0 and (end is None or starts[-1] < end)):
        inside = (starts >= 0) & (starts < end if end is not None else True)
        outside = int(np.count_nonzero(~inside))
    if outside:
        starts, values = starts[inside], values[inside]
        repaired += outside
        warnings.append(f"{outside} segment(s) starting outside [0, duration="
                        f"{duration:g} s) dropped")
    if repaired > MAX_REPAIRED_FRACTION * n:
        raise st.Rejected(st.BAD_ANALYSIS, f"{where}: {repaired} of {n} segments out of order, "
                                           f"duplicated or out of range (more than "
                                           f"{MAX_REPAIRED_FRACTION:.0%}): corrupt segment table")
    if len(starts) == 0:
        raise st.Rejected(st.BAD_ANALYSIS, f"{where}: no segment starts inside the track")
    if end is None:
        # Without a usable duration the last segment gets a typical length.
        typical = float(np.median(np.diff(starts))) if len(starts) > 1 else 0.25
        end = float(starts[-1] + typical)
        warnings.append(f"duration {duration!r} unusable: track end taken as "
                        f"{end:.3f} s (last segment start + median segment length)")

    beats = np.asarray(analysis.get("beats_start", np.zeros(0)), dtype=np.float64).ravel()
    clean_beats = beats  # none read: the fixed grid does not need them
    if len(beats):
        good = np.isfinite(beats) & (beats >= 0) & (beats < end)
        clean_beats = np.unique(beats[good])
    if len(clean_beats) != len(beats):
        warnings.append(f"{len(beats) - len(clean_beats)} beat(s) non-finite, duplicated "
                        f"or outside the track dropped")
    return {"starts": starts, "values": values, "end": float(end), "beats": clean_beats}, warnings


# --------------------------------------------------------------------------- grid

def _box_means(starts, values, end, edges, dtype=np.float64):
    """Mean of the piecewise-constant segment signal over each ``[edges[i], edges[i + 1])``.

    The running integral of the signal is evaluated once at every frame edge
    (frames share their edges), so a frame costs two table lookups whatever
    the number of segments it spans. Computed in float64 and rounded once to
    ``dtype`` as the last step writes the result.
    """
    n = len(values)
    bounds = np.empty(n + 1)
    bounds[:n] = starts
    bounds[n] = end
    bounds[0] = 0.0  # the first segment also covers the time before it
    integral = np.empty((n + 1, values.shape[1]))
    integral[0] = 0.0
    np.add.accumulate((bounds[1:] - bounds[:-1])[:, None] * values, axis=0, out=integral[1:])
    k = np.searchsorted(bounds, edges, side="right")
    k -= 1
    np.minimum(np.maximum(k, 0, out=k), n - 1, out=k)
    at_edges = integral.take(k, axis=0)
    partial = values.take(k, axis=0)
    partial *= (edges - bounds.take(k))[:, None]
    at_edges += partial
    means = np.subtract(at_edges[1:], at_edges[:-1], out=partial[:-1])
    out = np.empty(means.shape, dtype)
    np.multiply(means, (1.0 / (edges[1:] - edges[:-1]))[:, None], out=out, casting="same_kind")
    return out


def _frame_edges(clean, grid, frame_rate):
    """Frame boundaries: frame ``i`` spans ``[edges[i], edges[i + 1])`` (see :func:`frame_spans`).

    Both grids tile time (each frame ends where the next one starts), so the
    edges are ``frame_spans``' starts followed by its last end, the same numbers.
    """
    if grid == "fixed":
        n = int(np.floor(clean["end"] * frame_rate + 1e-9))
        return np.arange(n + 1, dtype=np.float64) / frame_rate
    if grid == "beats":
        return np.append(clean["beats"], clean["end"])
    raise ValueError(f"grid must be 'fixed' or 'beats', got {grid!r}")


def frame_spans(clean: dict, grid: str = "fixed",
                frame_rate: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times (seconds) of the output frames of a checked track.

    Returns
    -------
    lo, hi : np.ndarray
        Frame ``i`` spans ``[lo[i], hi[i])``; empty when the track holds no
        whole frame (or, for beats, no beat).
    """
    end = clean["end"]
    if grid == "fixed":
        n = int(np.floor(end * frame_rate + 1e-9))
        k = np.arange(n, dtype=np.float64)
        return k / frame_rate, (k + 1) / frame_rate
    if grid == "beats":
        beats = clean["beats"]
        return beats, np.append(beats[1:], end)
    raise ValueError(f"grid must be 'fixed' or 'beats', got {grid!r}")


def echonest_matrix(analysis: dict, grid: str = "fixed", frame_rate: float = 10.0, where: str = "track",
                    min_seconds: float = 0.0) -> tuple[np.ndarray, list[str]]:
    """The ``(frames, 25)`` feature matrix of one track's analysis.

    Parameters
    ----------
    analysis : dict
        As returned by :func:`read_track_analysis`.
    grid : {'fixed', 'beats'}
    frame_rate : float
        Frames per second of the fixed grid.
    where : str
        Names the track in messages.
    min_seconds : float
        Shorter tracks are rejected as ``too_short``.

    Returns
    -------
    matrix : np.ndarray
        float32 ``(frames, 25)``: timbre (12), pitches (12), loudness (1).
    warnings : list of str
        Repairs made (see :func:`check_analysis`).

    Raises
    ------
    krotos.shards.status.Rejected
        ``bad_analysis`` (including no beats with ``grid='beats'``) or
        ``too_short`` (no whole frame).
    """
    clean, warnings = check_analysis(analysis, where)
    if clean["end"] < min_seconds:
        raise st.Rejected(st.TOO_SHORT, f"{where}: {clean['end']:.2f} s < min_seconds="
                                        f"{min_seconds:g}")
    if grid == "beats" and len(clean["beats"]) == 0:
        raise st.Rejected(st.BAD_ANALYSIS, f"{where}: no beats (grid='beats' needs "
                                           f"analysis/beats_start)")
    edges = _frame_edges(clean, grid, frame_rate)
    if len(edges) < 2:
        raise st.Rejected(st.TOO_SHORT, f"{where}: {clean['end']:.2f} s holds no whole frame "
                                        f"at {frame_rate:g} frames/s")
    matrix = _box_means(clean["starts"], clean["values"], clean["end"], edges, np.float32)
    return matrix, warnings


def features_of_file(path: str | os.PathLike, params: EchonestParams, track_id: str | None = None,
                     row: int = 0, where: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Read, check and grid one track: the echonest counterpart of a spectrogram.

    Parameters
    ----------
    path : str
        MSD HDF5 file.
    params : EchonestParams
    track_id : str, optional
        Expected track (checked against the file).
    row : int
        Row in an aggregate file (0 for per-track files).
    where : str, optional
        How reasons name the file (default: ``path``); the shards name it
        relative to the ``msd_h5`` folder, so that no output holds an
        absolute path.

    Returns
    -------
    matrix : np.ndarray
        ``(frames, 25)`` float32.
    warnings : list of str

    Raises
    ------
    krotos.shards.status.Rejected
        With the manifest status and a reason naming the file.
    """
    where = os.fspath(path) if where is None else where
    analysis = read_track_analysis(path, track_id=track_id, row=row, loudness=params.loudness,
                                   beats=params.grid == "beats", where=where)
    # Finite segments (checked) make finite frame means: frames have positive widths.
    return echonest_matrix(analysis, grid=params.grid, frame_rate=params.frame_rate,
                           where=where, min_seconds=params.min_seconds)
