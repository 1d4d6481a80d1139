"""Checks of the demo dataset's parameters, made before anything is rendered.

A demo too small for the pipeline that reads it fails late and obscurely (an
empty validation split, a cold-start evaluation over a handful of users, clips
that yield no training window). These checks name the parameter and its
minimum instead, while Luigi builds the graph.
"""

from __future__ import annotations

import math

from krotos.config import ConfigError

#: Songs each of the valid and test splits should get at least.
MIN_SONGS_PER_SPLIT = 3

#: Listeners the evaluations need: users are the bootstrap's unit, and the
#: evaluations warn below 30 evaluated users (not every user plays a test song).
MIN_USERS = 50


class DemoParameterError(ConfigError):
    """A ``[DemoDataset]`` setting is too small for the pipeline."""


def minimum_songs(valid_fraction: float = 0.1, test_fraction: float = 0.2) -> int:
    """Fewest songs that give the valid and test splits :data:`MIN_SONGS_PER_SPLIT` songs each.

    Parameters
    ----------
    valid_fraction, test_fraction : float
        The song split's fractions (``[SongSplit]``); a zero fraction asks nothing.

    Returns
    -------
    int
    """
    fractions = [f for f in (valid_fraction, test_fraction) if f > 0]
    if not fractions:
        return MIN_SONGS_PER_SPLIT
    # A small epsilon: 3 / 0.1 is 30.000000000000004 in floating point.
    return max(MIN_SONGS_PER_SPLIT, math.ceil(MIN_SONGS_PER_SPLIT / min(fractions) - 1e-9))


def check_demo_parameters(n_songs: int, n_users: int, clip_seconds: float, *,
                          valid_fraction: float = 0.1, test_fraction: float = 0.2,
                          window_seconds: float = 0.0, min_seconds: float = 0.0,
                          min_seconds_setting: str = "[Spectrograms] min_seconds",
                          section: str = "DemoDataset") -> None:
    """Raise one clear error for every demo parameter that is too small.

    Parameters
    ----------
    n_songs, n_users : int
    clip_seconds : float
    valid_fraction, test_fraction : float
        The song split's fractions: each split needs a few songs, and splits
        deal whole artists.
    window_seconds : float
        The model's training window (``[TrainTagModel] window_seconds``).
    min_seconds : float
        The shortest clip the feature extraction accepts.
    min_seconds_setting : str
        Where ``min_seconds`` is set, for the message.
    section : str
        The config section named in messages.

    Raises
    ------
    DemoParameterError
        Naming each parameter, its value and its minimum.
    """
    problems = []
    songs = minimum_songs(valid_fraction, test_fraction)
    if n_songs < songs:
        problems.append(
            f"[{section}] n_songs = {n_songs} is too small: artist-disjoint splits with at least "
            f"{MIN_SONGS_PER_SPLIT} songs in valid ({valid_fraction:g}) and test "
            f"({test_fraction:g}) need n_songs >= {songs}")
    if n_users < MIN_USERS:
        problems.append(
            f"[{section}] n_users = {n_users} is too small for the evaluation: it needs "
            f"n_users >= {MIN_USERS} (its intervals are over users)")
    need = max(float(window_seconds), float(min_seconds))
    if clip_seconds < need:
        which = ("the model window, [TrainTagModel] window_seconds = "
                 f"{window_seconds:g}" if window_seconds >= min_seconds else
                 f"the shortest usable clip, {min_seconds_setting} = {min_seconds:g}")
        problems.append(
            f"[{section}] clip_seconds = {clip_seconds:g} is shorter than {which}: "
            f"it needs clip_seconds >= {need:g}")
    if problems:
        raise DemoParameterError("demo dataset settings too small for the pipeline:\n  "
                                 + "\n  ".join(problems))
