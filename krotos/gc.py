"""Find and remove outputs under a data root that the current configuration no longer reaches.

Every task writes ``<data_root>/<TaskFamily>/<signature>/``, beside which may
lie ``<signature>.work/`` (resumable scratch) and ``<signature>.tmp-*/`` (a
folder being written, or left by a killed writer). A configuration reaches a
set of ``(family, signature)`` pairs (see :func:`reachable_signatures`);
everything else with a signature-shaped name is stale. Entries whose names do
not look like signatures are never touched, so that other files kept under
the data root (a scheduler's state, notes) are safe.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from krotos.signature import SIGNATURE_LENGTH
from krotos.staging import in_progress, work_folder_in_use

if TYPE_CHECKING:
    import luigi

_ENTRY = re.compile(r"^(?P<signature>[0-9a-f]{%d})(?P<suffix>\.work|\.tmp-.+)?$" % SIGNATURE_LENGTH)

# Tasks with such a parameter exist once per shard; only one of them stands
# in a task's signature_requires(), so every shard found on disk is checked.
SHARD_PARAMETERS = ("shard",)

Entry = collections.namedtuple("Entry", "family signature kind path size")
Entry.__doc__ = """One folder under the data root.

kind is ``"output"`` (a finished output), ``"work"`` (scratch of an
unfinished task) or ``"tmp"`` (being written, or left by a killed writer);
size is the disk space it takes, in bytes.
"""


def disk_usage(path: str) -> int:
    """Bytes of disk that ``path`` (a file or folder tree) takes; links are not followed."""
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            st = os.lstat(current)
        except OSError:
            continue  # removed meanwhile
        total += _allocated(st)
        if os.path.isdir(current) and not os.path.islink(current):
            try:
                stack.extend(os.path.join(current, name) for name in os.listdir(current))
            except OSError:
                continue
    return total


def _allocated(st):
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def scan(data_root: str) -> list[Entry]:
    """All signature-named folders under ``data_root``.

    Parameters
    ----------
    data_root : str

    Returns
    -------
    list of Entry
        Sorted by family, signature and kind.
    """
    entries = []
    if not os.path.isdir(data_root):
        return entries
    for family in sorted(os.listdir(data_root)):
        family_dir = os.path.join(data_root, family)
        if not os.path.isdir(family_dir) or os.path.islink(family_dir):
            continue
        for name in sorted(os.listdir(family_dir)):
            match = _ENTRY.match(name)
            path = os.path.join(family_dir, name)
            if not match or not os.path.isdir(path) or os.path.islink(path):
                continue
            suffix = match.group("suffix") or ""
            kind = "work" if suffix == ".work" else "tmp" if suffix else "output"
            entries.append(Entry(family, match.group("signature"), kind, path, disk_usage(path)))
    return entries


def _in_use(entry):
    # A .tmp-* folder whose writer (on this host) is alive is work in progress;
    # one written from another host cannot be checked and is kept too. A
    # .work folder is in use while its process holds its lock.
    if entry.kind == "work":
        return work_folder_in_use(entry.path)
    if entry.kind != "tmp":
        return False
    return in_progress(entry.path)


def stale_entries(data_root: str, reachable: set[tuple[str, str]]) -> list[Entry]:
    """The folders under ``data_root`` that may be removed.

    Parameters
    ----------
    data_root : str
    reachable : set of (str, str)
        ``(family, signature)`` pairs the current configuration produces.

    Returns
    -------
    list of Entry
        Outputs, scratch and temporaries of unreachable signatures, and
        temporaries of reachable ones whose writer is gone. Temporaries
        whose writer still runs (or runs on another host) are never listed,
        nor is anything of a reachable signature except a dead writer's
        temporary.
    """
    reachable = set(reachable)
    stale = []
    for entry in scan(data_root):
        if _in_use(entry):
            continue
        if (entry.family, entry.signature) in reachable and entry.kind != "tmp":
            continue
        stale.append(entry)
    return stale


def remove_entries(entries: Iterable[Entry]) -> int:
    """Delete ``entries``; return the bytes freed.

    An output folder is first renamed to a ``.tmp-gc*`` name, so that it stops
    looking complete at once even if the deletion is interrupted (what
    remains is then an ownerless temporary, removed by the next ``gc`` or the
    next run of that task).
    """
    freed = 0
    for entry in entries:
        path = entry.path
        if entry.kind == "output":
            doomed = f"{path}.tmp-gc{uuid.uuid4().hex[:8]}"
            try:
                os.rename(path, doomed)
            except FileNotFoundError:
                continue
            path = doomed
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            freed += entry.size
    return freed


def reachable_signatures(tasks: Iterable[luigi.Task],
                         data_root: str | None = None) -> set[tuple[str, str]]:
    """``(family, signature)`` of every krotos task the given tasks depend on.

    Walks ``requires()`` and ``signature_requires()``. A task with a shard parameter (see
    ``SHARD_PARAMETERS``) stands for all its shards: every shard number found
    among the outputs on disk is instantiated with the current configuration,
    and counts when its signature is the one on disk.

    Parameters
    ----------
    tasks : iterable of luigi.Task
        The targets, instantiated with the current configuration.
    data_root : str, optional
        Where to look for shard outputs; default: each task's own.

    Returns
    -------
    set of (str, str)
    """
    from luigi.task import flatten

    reachable = set()
    seen = set()
    queue = list(flatten(tasks))
    shards_on_disk = {}
    while queue:
        task = queue.pop()
        if task.task_id in seen:
            continue
        seen.add(task.task_id)
        if hasattr(task, "signature"):
            reachable.add((task.get_task_family(), task.signature()))
            queue.extend(_shard_siblings(task, data_root, shards_on_disk))
        queue.extend(flatten(task.requires()))
        if hasattr(task, "signature_requires"):
            queue.extend(flatten(task.signature_requires()))
    return reachable


def _shard_siblings(task, data_root, cache):
    params = dict(task.get_params())
    names = [name for name in SHARD_PARAMETERS if name in params]
    if not names:
        return []
    root = data_root if data_root is not None else task.data_root
    family = task.get_task_family()
    if (root, family) not in cache:
        cache[root, family] = _recorded_params(os.path.join(root, family))
    siblings = []
    for recorded in cache[root, family]:
        try:
            values = {name: params[name].parse(recorded[name]) for name in names}
            siblings.append(task.clone(**values))
        except Exception:  # noqa: BLE001 - a value the current code rejects: stale
            continue
    return siblings


def _recorded_params(family_dir):
    """``params`` of each finished output's ``params.json`` in ``family_dir``."""
    import json

    found = []
    if not os.path.isdir(family_dir):
        return found
    for name in sorted(os.listdir(family_dir)):
        match = _ENTRY.match(name)
        if not match or match.group("suffix"):
            continue
        try:
            with open(os.path.join(family_dir, name, "params.json"), encoding="utf-8") as f:
                found.append(json.load(f).get("params", {}))
        except (OSError, ValueError):
            continue
    return found
