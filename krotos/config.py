"""Checks of the user's configuration, made before any work starts."""

from __future__ import annotations

import os
import tempfile

#: The inputs of a real dataset, as named in the ``[krotos]`` section:
#: setting -> (kind, what it is).
DATASET_INPUTS = {
    "track_metadata": ("file", "MSD track_metadata.db (SQLite)"),
    "lastfm_tags": ("file", "Last.fm lastfm_tags.db (SQLite)"),
    "lastfm_json": ("dir", "Last.fm per-track JSON folder (lastfm_train/, lastfm_test/ or their parent)"),
    "triplets": ("file", "Taste Profile train_triplets.txt"),
    "sid_mismatches": ("file", "MSD sid_mismatches.txt"),
    "unique_tracks": ("file", "MSD unique_tracks.txt"),
    "previews": ("dir", "folder of audio previews"),
    "msd_h5": ("path", "MSD per-track HDF5 files (folder A/B/C/TR*.h5) or an aggregate .h5"),
}


#: Inputs a real dataset cannot do without.
REQUIRED_INPUTS = ("triplets",)

#: Any one of these gives the tags.
TAG_SOURCES = ("lastfm_tags", "lastfm_json")

#: Any one of these gives the track list.
TRACK_LISTS = ("track_metadata", "msd_h5", "unique_tracks")


class ConfigError(ValueError):
    """A setting in luigi.cfg (or on the command line) cannot be used."""


def configured_inputs(settings: dict[str, str]) -> dict[str, str]:
    """The dataset inputs that are set (non-empty), as absolute paths.

    Parameters
    ----------
    settings : dict
        ``{setting: value}`` for the keys of :data:`DATASET_INPUTS`.

    Returns
    -------
    dict
        Only the non-empty settings.
    """
    return {key: os.path.abspath(os.path.expanduser(value))
            for key, value in settings.items()
            if key in DATASET_INPUTS and value}


def check_dataset_inputs(settings: dict[str, str], section: str = "krotos") -> None:
    """Fail with one clear message for every configured path that is unusable.

    Parameters
    ----------
    settings : dict
        ``{setting: path}``; empty values mean "not configured".
    section : str
        The config section named in messages.

    Raises
    ------
    ConfigError
        Naming each setting and path that does not exist or is the wrong kind.
    """
    problems = []
    given = configured_inputs(settings)
    if given:
        problems += [f"[{section}] {key} is empty, but a real dataset needs it "
                     f"({DATASET_INPUTS[key][1]}); leave every dataset path empty "
                     f"to use the demo dataset"
                     for key in REQUIRED_INPUTS if key not in given]
        if not any(key in given for key in TAG_SOURCES):
            problems.append(f"[{section}] lastfm_tags is empty, but a real dataset needs tags: "
                            f"set lastfm_tags (lastfm_tags.db) or lastfm_json (the JSON folders)")
        if not any(key in given for key in TRACK_LISTS):
            problems.append(f"[{section}] track_metadata is empty, but a real dataset needs a "
                            f"track list: set track_metadata (MSD track_metadata.db), msd_h5 "
                            f"(MSD HDF5 files) or unique_tracks")
    for key, path in given.items():
        kind, what = DATASET_INPUTS[key]
        if not os.path.exists(path):
            spaced = " (note the whitespace around a name in it)" if _new_names_with_stray_spaces(
                path) else ""
            problems.append(f"[{section}] {key} = {path}: no such {kind} ({what}){spaced}")
        elif kind == "dir" and not os.path.isdir(path):
            problems.append(f"[{section}] {key} = {path}: not a folder ({what})")
        elif kind == "file" and not os.path.isfile(path):
            problems.append(f"[{section}] {key} = {path}: not a file ({what})")
    if problems:
        raise ConfigError("unusable dataset settings:\n  " + "\n  ".join(problems))


def _new_names_with_stray_spaces(path):
    """Names in ``path`` that do not exist yet and begin or end with whitespace."""
    stray = []
    while path and not os.path.exists(path):
        head, name = os.path.split(path)
        if name != name.strip():
            stray.append(name)
        if head == path:
            break
        path = head
    return stray


class DataRootMoved(ConfigError):
    """The data root a run started with was moved, renamed or removed during the run."""


#: ``{data root: (device, inode)}`` of the roots this process (and the
#: workers it forks) has checked: later checks only compare.
_ROOTS_SEEN = {}


def check_data_root(path: str | os.PathLike, section: str = "krotos") -> str:
    """Make sure ``path`` exists (creating it) and is writable.

    A folder that does not exist yet is not created when one of the names to
    create begins or ends with whitespace (``--krotos-data-root "data "``):
    that is a typo far more often than a wish, and would start a new, empty
    data root without a word.

    Once a process has checked a root, later calls only make sure it is
    still the same folder (one ``stat``): a root moved or removed while a
    run is in progress is an error, never recreated empty (which would look
    like a first run and silently recompute everything).

    Returns
    -------
    str
        The root as an absolute path.

    Raises

    ------
    DataRootMoved
        The root checked earlier in this process is gone, or another folder.
    ConfigError
        When the folder cannot be created or written to, or would be created
        with a name that begins or ends with whitespace.
    """
    path = os.path.abspath(os.path.expanduser(path))
    seen = _ROOTS_SEEN.get(path)
    if seen is not None:
        try:
            now = os.stat(path)
        except OSError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != seen:
            state = "is gone" if now is None else "is now another folder"
            raise DataRootMoved(
                f"[{section}] data_root = {path} {state}: it was moved, renamed or removed "
                f"while this run was in progress. Nothing was recreated or recomputed; run "
                f"again with --krotos-data-root (or data_root in luigi.cfg) naming its new "
                f"place, and finished outputs are reused.")
        return path
    stray = _new_names_with_stray_spaces(path)
    if stray:
        raise ConfigError(
            f"[{section}] data_root = {path!r} does not exist, and the folder name "
            f"{stray[0]!r} begins or ends with whitespace: remove it (or create the folder "
            f"yourself if you mean that name)")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(
            f"[{section}] data_root = {path} is not a writable folder: "
            f"{exc.strerror or exc}. Set --krotos-data-root or data_root in "
            f"luigi.cfg to a folder you can write to.") from None
    now = os.stat(path)
    _ROOTS_SEEN[path] = (now.st_dev, now.st_ino)
    return path
