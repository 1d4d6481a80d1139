"""The cold-start evaluation as one call, what the pipeline's ``EvaluateRecommendation`` runs."""

from __future__ import annotations

from krotos.coldstart.params import ColdStartParams
from krotos.progress import Progress, no_progress
from krotos.splits import SongSplit


def cold_start_stage(inputs: dict[str, str], song_split: SongSplit, out_path: str,
                     params: ColdStartParams, progress: Progress = no_progress) -> dict:
    """Score the predicted factors on the cold-start songs (see
    :func:`krotos.coldstart.evaluate.evaluate_cold_start`), with the tags of the
    example songs; the linear baseline fits the split's train songs, as the CNN does.

    Parameters
    ----------
    inputs : dict
        Paths: ``plays`` (``plays.h5``), ``factors`` (``factors.h5`` without the
        cold songs' plays), ``upper`` (with them), ``predicted``
        (``predicted_factors.h5``), ``manifest`` (the shard store's
        ``manifest.json``) and ``tagdb`` (``tags.sqlite``).
    song_split : krotos.splits.SongSplit
    out_path : str
        ``metrics.json`` to write.
    params : ColdStartParams
    progress : callable

    Returns
    -------
    dict
        What ``metrics.json`` holds.
    """
    from krotos.coldstart.evaluate import evaluate_cold_start
    from krotos.shards.manifest import read_manifest
    from krotos.tagdb import TagDB

    manifest = read_manifest(inputs["manifest"])
    with TagDB(inputs["tagdb"]) as db:
        vocabulary = db.vocabulary()

        def track_tags(track_ids):
            matrix = db.tag_matrix(list(track_ids))
            return [[vocabulary[j] for j in row.nonzero()[0]] for row in matrix]

        return evaluate_cold_start(
            inputs["plays"], inputs["factors"], inputs["upper"], inputs["predicted"],
            [s["path"] for s in manifest["shards"]], out_path, track_tags=track_tags,
            fit_tracks=set(song_split.tracks("train")), params=params, progress=progress)
