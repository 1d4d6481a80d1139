"""The collaborative-filtering stages as one call each: what the pipeline's tasks hand their
inputs to (``PlayMatrix``, ``Factorize``), and the lines they report."""

from __future__ import annotations

import json
from collections.abc import Iterable

from krotos.cf.params import ALSParams, PlayMatrixParams
from krotos.progress import Progress, no_progress


def _write_summary(path: str, summary: dict) -> None:
    # Written into a staging folder, which the caller renames whole.
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")


def play_matrix_stage(triplets_path: str | None, tagdb_path: str, test_tracks: Iterable[str],
                      out_path: str, summary_path: str, params: PlayMatrixParams,
                      progress: Progress = no_progress) -> dict:
    """Build the play split (see :func:`krotos.cf.playmatrix.build_play_split`) whose cold
    songs are those of the test tracks, and write it with its summary.

    Parameters
    ----------
    triplets_path : str or None
        The Taste Profile triplets (``[krotos] triplets``).
    tagdb_path : str
        ``tags.sqlite``: the song-to-track map and the mismatched songs.
    test_tracks : iterable of str
        The song split's test tracks: their songs' plays are all held out.
    out_path, summary_path : str
        ``plays.h5`` and ``summary.json`` to write.
    params : PlayMatrixParams
    progress : callable

    Returns
    -------
    dict
        What ``summary.json`` holds.

    Raises
    ------
    RuntimeError
        No triplets are configured.
    """
    from krotos.cf.playmatrix import build_play_split
    from krotos.tagdb import TagDB

    if not triplets_path:
        raise RuntimeError("PlayMatrix needs the Taste Profile triplets: set [krotos] triplets")
    with TagDB(tagdb_path) as db:
        song_to_track = db.song_to_track()
        mismatched = {song for song, _ in db.mismatches()}
    test_tracks = set(test_tracks)
    cold_songs = {s for s, t in song_to_track.items() if t in test_tracks}
    summary = build_play_split(triplets_path, out_path, song_to_track, cold_songs, params,
                               mismatched_songs=mismatched, progress=progress)
    _write_summary(summary_path, summary)
    return summary


def describe_play_matrix(summary: dict) -> str:
    """One line of a play split's summary: its size, cold songs, bad lines and duplicates."""
    return (f"{summary['users']:,} users x {summary['songs']:,} songs "
            f"({summary['read']['songs_without_track']:,} without a track, kept), "
            f"{summary['split']['cold_songs']:,} cold; "
            f"{summary['bad_lines']['total']:,} bad lines, "
            f"{summary['read']['duplicate_lines']:,} duplicates summed")


def factorize_stage(plays_path: str, out_path: str, summary_path: str, params: ALSParams, *,
                    include_cold: bool = False, chosen_on: str = "given",
                    progress: Progress = no_progress) -> dict:
    """Factorize the play split (see :func:`krotos.cf.als.factorize_play_split`) and write
    its summary, which says where the hyperparameters came from (``chosen_on``)."""
    from krotos.cf.als import factorize_play_split

    summary = factorize_play_split(plays_path, out_path, params, include_cold=include_cold,
                                   progress=progress)
    summary["hyperparameters_chosen_on"] = chosen_on
    _write_summary(summary_path, summary)
    return summary


def describe_cf_metrics(result: dict) -> str:
    """One line of the CF evaluation: each model's MAP@500 and AUC."""
    models = result["models"]
    return " | ".join(f"{name}: MAP@500 {models[name]['map_at_500']['value']:.4f} "
                      f"AUC {models[name]['auc']['value']:.3f}" for name in models)
