"""The manifest: which shard holds which track, and why a track is missing.

Each shard task writes ``shard.h5`` and ``results.json`` (:func:`write_results`:
``{"params", "tracks": {track_id: {"status", "reason"}}, "summary"}``) into its
folder; the index task gathers them into one ``manifest.json``
(:func:`index_shards`), the same for every feature kind.

On disk (``manifest.json``)::

    {"format_version": 1,
     "params":  {...extraction parameters...},
     "shards":  [{"path": "<relative to the manifest's folder>", "track_ids": [...]}, ...],
     "tracks":  {track_id: {"status": "ok" | "missing_preview" | ..., "reason": str,
                            "shard": int}},
     "summary": {status: count}}

``shard`` is the position in ``shards`` of the shard that handled the track
(ok or not); only ``ok`` tracks are stored in the shard files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from krotos.shards import status as st
from krotos.progress import Progress
from krotos.staging import atomic_write

FORMAT_VERSION = 1

#: File names in a shard task's folder, and in the index task's folder.
SHARD_FILE = "shard.h5"
RESULTS_FILE = "results.json"
MANIFEST_FILE = "manifest.json"


def write_results(out_dir: str | os.PathLike, params: dict, results: dict) -> None:
    """Write a shard's ``results.json``: every track's status, and the parameters.

    Parameters
    ----------
    out_dir : str
        The shard task's (staging) folder, beside ``shard.h5``.
    params : dict
        Extraction parameters (``as_dict()`` of the feature kind's parameters).
    results : dict
        ``track_id -> {"status", "reason"}`` of every track of the shard.
    """
    with atomic_write(os.path.join(out_dir, RESULTS_FILE), encoding="utf-8") as f:
        json.dump({"params": dict(params), "tracks": results,
                   "summary": st.count_statuses(results)}, f, indent=1)


def read_results(folder: str | os.PathLike) -> dict:
    """A shard folder's ``results.json`` (``{"params", "tracks", "summary"}``)."""
    path = os.path.join(folder, RESULTS_FILE)
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc


def build_manifest(shard_results: Sequence[tuple[str, dict]], params: dict,
                   manifest_dir: str | os.PathLike) -> dict:
    """Assemble the manifest from each shard's results.

    Parameters
    ----------
    shard_results : list of (str, dict)
        Per shard, in shard order: the shard file's path and its
        ``track_id -> {"status", "reason"}`` results.
    params : dict
        Extraction parameters.
    manifest_dir : str
        Folder the manifest will be written to (shard paths are stored
        relative to it, so the data root can move).

    Returns
    -------
    dict
    """
    shards, tracks = [], {}
    for index, (path, results) in enumerate(shard_results):
        ok_ids = [tid for tid, r in results.items() if r["status"] == st.OK]
        shards.append({"path": os.path.relpath(os.path.abspath(path),
                                               os.path.abspath(manifest_dir)),
                       "track_ids": ok_ids})
        for tid, r in results.items():
            if tid in tracks:
                raise ValueError(f"track {tid} appears in shards "
                                 f"{tracks[tid]['shard']} and {index}")
            tracks[tid] = {"status": r["status"], "reason": r.get("reason", ""),
                           "shard": index}
    summary = {}
    for r in tracks.values():
        summary[r["status"]] = summary.get(r["status"], 0) + 1
    return {"format_version": FORMAT_VERSION, "params": dict(params),
            "shards": shards, "tracks": tracks, "summary": summary}


def write_manifest(path: str | os.PathLike, manifest: dict) -> None:
    """Write ``manifest`` as JSON atomically (temporary file, then rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with atomic_write(path, encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


def read_manifest(path: str | os.PathLike) -> dict:
    """Read a ``manifest.json``; shard paths come back absolute.

    Parameters
    ----------
    path : str
        The manifest file (output of ``SpectrogramIndex`` or ``EchonestIndex``).

    Returns
    -------
    dict
        ``shards`` (list of ``{"path", "track_ids"}`` with absolute paths),
        ``tracks`` (``track_id -> {"status", "reason", "shard"}``), ``params``
        and ``summary``.

    Raises
    ------
    ValueError
        Not a manifest (the message names the file and what is missing).
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        try:
            manifest = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    missing = [k for k in ("shards", "tracks", "params") if k not in manifest]
    if missing:
        raise ValueError(f"{path}: not a shard manifest (missing {missing})")
    base = os.path.dirname(os.path.abspath(path))
    for shard in manifest["shards"]:
        shard["path"] = os.path.normpath(os.path.join(base, shard["path"]))
    return manifest


def index_shards(shard_dirs: Sequence[str], out_dir: str | os.PathLike,
                 progress: Progress | None = None) -> dict:
    """The index task's work (``SpectrogramIndex``, ``EchonestIndex``): ``manifest.json``.

    Parameters
    ----------
    shard_dirs : list of str
        Output folders of the shard tasks, in shard order, each with
        ``shard.h5`` and ``results.json``.
    out_dir : str
        Folder to write the manifest into (a sibling-depth staging folder of
        the final one, so relative shard paths stay valid after the rename).
    progress : callable, optional

    Returns
    -------
    dict
        The manifest as written (shard paths relative).
    """
    shard_results, params = [], {}
    for i, folder in enumerate(shard_dirs):
        data = read_results(folder)
        if params and data["params"] != params:
            raise ValueError(f"{os.path.join(folder, RESULTS_FILE)}: extraction parameters "
                             f"differ from those of shard 0")
        params = data["params"]
        shard_results.append((os.path.join(folder, SHARD_FILE), data["tracks"]))
        if progress:
            progress((i + 1) / len(shard_dirs), f"indexed {i + 1}/{len(shard_dirs)} shards")
    manifest = build_manifest(shard_results, params, out_dir)
    write_manifest(os.path.join(out_dir, MANIFEST_FILE), manifest)
    return manifest


def describe_statuses(manifest: dict) -> str:
    """``"ok: 590, too_short: 10"``: a manifest's tracks by status, for logs."""
    return ", ".join(f"{k}: {v}" for k, v in sorted(manifest["summary"].items()))
