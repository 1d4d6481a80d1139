"""The spectrogram manifest: which shard holds which track, and why a track is missing.

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

import json
import os

from krotos.audio import status as st
from krotos.staging import atomic_write

FORMAT_VERSION = 1


def build_manifest(shard_results, params, manifest_dir):
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


def write_manifest(path, manifest):
    """Write ``manifest`` as JSON atomically (temporary file, then rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with atomic_write(path, encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


def read_manifest(path):
    """Read a ``manifest.json``; shard paths come back absolute.

    Parameters
    ----------
    path : str
        The manifest file (output of the ``SpectrogramIndex`` task).

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
        raise ValueError(f"{path}: not a spectrogram manifest (missing {missing})")
    base = os.path.dirname(os.path.abspath(path))
    for shard in manifest["shards"]:
        shard["path"] = os.path.normpath(os.path.join(base, shard["path"]))
    return manifest


def index_shards(shard_dirs, out_dir, progress=None):
    """The ``SpectrogramIndex`` task's work: write ``out_dir/manifest.json``.

    Parameters
    ----------
    shard_dirs : list of str
        Output folders of the ``Spectrograms`` shards, in shard order, each
        with ``shard.h5`` and ``results.json``.
    out_dir : str
        Folder to write the manifest into (a sibling-depth staging folder of
        the final one, so relative shard paths stay valid after the rename).
    progress : callable, optional

    Returns
    -------
    dict
        The manifest as written (shard paths relative).
    """
    from krotos.audio.extract import RESULTS_FILE, SHARD_FILE

    shard_results, params = [], {}
    for i, folder in enumerate(shard_dirs):
        results_path = os.path.join(folder, RESULTS_FILE)
        with open(results_path, encoding="utf-8") as f:
            data = json.load(f)
        if params and data["params"] != params:
            raise ValueError(f"{results_path}: extraction parameters differ from "
                             f"those of shard 0")
        params = data["params"]
        shard_results.append((os.path.join(folder, SHARD_FILE), data["tracks"]))
        if progress:
            progress((i + 1) / len(shard_dirs), f"indexed {i + 1}/{len(shard_dirs)} shards")
    manifest = build_manifest(shard_results, params, out_dir)
    write_manifest(os.path.join(out_dir, "manifest.json"), manifest)
    return manifest
