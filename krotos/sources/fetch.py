"""Resolve a shard's tracks to preview files, and the ``previews.json`` record of it.

``previews.json`` (the output of a ``FetchPreviews`` shard)::

    {"previews": [{"track_id", "path", "root", "status", "reason"}, ...],
     "summary": {status: count}}

No path in it is absolute, so that the data root and the dataset can move:
``path`` is relative to ``root``, which is ``"shard"`` (the JSON file's
folder: previews downloaded into the shard's output) or ``"previews"`` (the
dataset's previews folder, ``[krotos] previews``, given again when reading).
"""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Sequence
from typing import Any, Protocol

from krotos.shards import status as st
from krotos.progress import Progress, no_progress
from krotos.staging import atomic_write


class PreviewSource(Protocol):
    """What :func:`fetch_previews` reads previews through (local folder, 7digital)."""

    def get(self, track: Any) -> dict:
        """``{"track_id", "path", "status", "reason"}`` of one track's preview."""


def fetch_previews(tracks: Sequence, source: PreviewSource,
                   progress: Progress | None = None) -> list[dict]:
    """Resolve each track to its preview through ``source``.

    Parameters
    ----------
    tracks : list
        ``TagDB`` Track tuples (``track_id``, ``track_7digitalid``, ...).
    source : PreviewSource
        Has ``get(track) -> {"track_id", "path", "status", "reason"}``:
        :class:`krotos.sources.local.LocalPreviews` or
        :class:`krotos.sources.sevendigital.SevenDigitalPreviews`.
    progress : callable, optional
        ``progress(fraction, message)`` after each track.

    Returns
    -------
    list of dict
        One record per track, in input order.
    """
    progress = progress or no_progress
    records, counts = [], collections.Counter()
    n = len(tracks)
    for i, track in enumerate(tracks):
        record = source.get(track)
        records.append(record)
        counts[record["status"]] += 1
        progress((i + 1) / max(n, 1),
                 f"{i + 1}/{n} previews: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return records


def write_previews_json(path: str, records: list[dict], previews_folder: str | None = None) -> None:
    """Write the records atomically, each path made relative to where it lies.

    Parameters
    ----------
    path : str
        The ``previews.json`` to write.
    records : list of dict
        ``{"track_id", "path", "status", "reason"}``; ``path`` absolute or None.
    previews_folder : str, optional
        The dataset's previews folder: paths inside it are stored relative to
        it (``root = "previews"``), paths inside ``path``'s folder relative to
        that (``root = "shard"``).

    Raises
    ------
    ValueError
        A path lies in neither folder (it could not be found again after a move).
    """
    path = os.fspath(path)
    base = os.path.dirname(os.path.abspath(path))
    roots = [("shard", base)]
    if previews_folder:
        roots.append(("previews", os.path.abspath(previews_folder)))
    out = []
    for r in records:
        r = dict(r)
        if r.get("path"):
            absolute = os.path.abspath(r["path"])
            for name, folder in roots:
                if os.path.commonpath([absolute, folder]) == folder:
                    r["path"], r["root"] = os.path.relpath(absolute, folder), name
                    break
            else:
                raise ValueError(f"{absolute} ({r['track_id']}): a preview outside both the "
                                 f"shard's folder and [krotos] previews")
        out.append(r)
    summary = dict(collections.Counter(r["status"] for r in out))
    with atomic_write(path, encoding="utf-8") as f:
        json.dump({"previews": out, "summary": summary}, f, indent=1)


def read_previews_json(path: str, previews_folder: str | None = None) -> list[dict]:
    """Read ``previews.json``; paths come back absolute.

    Parameters
    ----------
    path : str
    previews_folder : str, optional
        The dataset's previews folder, where ``root = "previews"`` paths lie.

    Each record gains ``name``: its path as stored (relative), which is how
    reasons name the file.

    Raises
    ------
    ValueError
        A record with an unknown status or no ``track_id``, or one relative to
        the previews folder when none is given (names file and record).
    """
    path = os.fspath(path)
    roots = {"shard": os.path.dirname(os.path.abspath(path)), "previews": previews_folder}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    records = data["previews"]
    for i, r in enumerate(records):
        if "track_id" not in r or r.get("status") not in st.ALL:
            raise ValueError(f"{path}: record {i} is malformed: {r!r}")
        if r.get("path"):
            # Files written before "root" existed hold absolute paths (or shard-relative ones).
            root = roots.get(r.get("root", "shard"))
            if root is None:
                raise ValueError(f"{path}: record {i} ({r['track_id']}) is relative to "
                                 f"[krotos] previews, which is not set")
            r["name"] = r["path"]
            r["path"] = os.path.normpath(os.path.join(os.path.abspath(root), r["path"]))
    return records


def open_source(kind: str, previews_folder: str | None = None, download_dir: str | None = None,
                **client_options: Any) -> PreviewSource:
    """Build the preview source named in the configuration.

    Parameters
    ----------
    kind : {'local', '7digital'}
    previews_folder : str, optional
        For 'local': the dataset's folder of previews.
    download_dir : str, optional
        For '7digital': where downloads accumulate (kept across a killed run).
    **client_options
        For '7digital': :class:`krotos.sources.sevendigital.SevenDigitalClient`
        arguments; ``consumer_key``/``consumer_secret`` fall back to the
        environment.

    Raises
    ------
    ValueError
        Unknown kind, or what the kind needs is missing.
    """
    if kind == "local":
        from krotos.sources.local import LocalPreviews

        if not previews_folder:
            raise ValueError("source = local needs a previews folder: set [krotos] "
                             "previews (the demo dataset has one), or use "
                             "[FetchPreviews] source = 7digital")
        return LocalPreviews(previews_folder)
    if kind == "7digital":
        from krotos.sources.sevendigital import (SevenDigitalClient,
                                                 SevenDigitalPreviews, credentials)

        key, secret = credentials(client_options.pop("consumer_key", None),
                                  client_options.pop("consumer_secret", None))
        client = SevenDigitalClient(key, secret, **client_options)
        return SevenDigitalPreviews(client, download_dir)
    raise ValueError(f"unknown preview source {kind!r}; choose 'local' or '7digital'")


def fetch_shard(tracks: Sequence, source: PreviewSource, out_dir: str,
                progress: Progress | None = None) -> list[dict]:
    """Fetch one shard's previews and write ``out_dir/previews.json``.

    Files that ``source`` downloaded into its ``folder`` are moved into
    ``out_dir/previews/``, so the shard's output holds its own audio; a local
    folder's files are referenced where they are.

    Returns
    -------
    list of dict
        The records, as written.
    """
    records = fetch_previews(tracks, source, progress)
    if getattr(source, "downloads", False):
        target = os.path.join(out_dir, "previews")
        os.makedirs(target, exist_ok=True)
        for r in records:
            if not r.get("path"):
                continue
            moved = os.path.join(target, os.path.basename(r["path"]))
            if os.path.exists(r["path"]):
                os.replace(r["path"], moved)
            # else: two tracks sharing one 7digital id; the file moved already
            r["path"] = moved
    # A local source's files stay where they are: named relative to its folder.
    local_folder = None if getattr(source, "downloads", False) else getattr(source, "folder", None)
    write_previews_json(os.path.join(out_dir, "previews.json"), records, local_folder)
    return records
