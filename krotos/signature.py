"""Signatures: which settings produced an output.

Luigi asks only "does the output exist?". krotos asks "does it exist *for
these settings*?" by writing every output under a folder named after a hash
of everything that determines its content: the task family, its significant
parameters, a code-version constant, and the signatures of its inputs. Since
an input's signature is part of the hash, a change anywhere propagates to
everything downstream of it, and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import os

SIGNATURE_LENGTH = 12


def signature_payload(family: str, params: dict[str, str], version: int | str,
                      upstream: dict[str, str]) -> dict:
    """The record that a signature hashes (also written as ``params.json``).

    Parameters
    ----------
    family : str
        Task family, e.g. ``"TagDatabase"``.
    params : dict
        Significant parameters, values already serialized to strings.
    version : int or str
        The task's code-version constant.
    upstream : dict
        ``{task_id: signature}`` of the tasks this one requires.

    Returns
    -------
    dict
    """
    return {
        "family": family,
        "params": {k: params[k] for k in sorted(params)},
        "version": version,
        "upstream": {k: upstream[k] for k in sorted(upstream)},
    }


def compute_signature(family: str, params: dict[str, str], version: int | str,
                      upstream: dict[str, str]) -> str:
    """Short, stable hash of :func:`signature_payload`.

    Returns
    -------
    str
        ``SIGNATURE_LENGTH`` lowercase hex digits.

    Examples
    --------
    >>> compute_signature("A", {"x": "1"}, 1, {})
    '...'
    """
    payload = signature_payload(family, params, version, upstream)
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:SIGNATURE_LENGTH]


def output_name(path: str | os.PathLike) -> str:
    """How an output file or folder is named in records: ``<TaskFamily>/<signature>[/file]``.

    Records (``training.json``, ``metrics.json``, HDF5 attributes) name the
    models they came from by these last components, never by an absolute
    path, so that a data root can be moved or mounted elsewhere. A path that
    is not a task output keeps its last three components.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
    """
    parts = os.path.normpath(os.fspath(path)).split(os.sep)
    for i in range(len(parts) - 1, 0, -1):
        if len(parts[i]) == SIGNATURE_LENGTH and all(c in "0123456789abcdef" for c in parts[i]):
            return "/".join(parts[i - 1:])
    return "/".join(p for p in parts[-3:] if p)
