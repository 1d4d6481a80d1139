"""Atomic output folders: build everything in a temporary folder, then rename.

A reader (or Luigi's ``complete()``) sees either no output folder or a
finished one; a killed writer leaves only a ``.tmp-*`` folder, which never
counts as done and is removed by the next attempt of the same task.
"""

import contextlib
import glob
import json
import os
import shutil
import tempfile


def remove_stale_temporaries(final_dir):
    """Remove ``.tmp-*`` siblings of ``final_dir`` left by killed writers.

    Only folders whose owning process is gone are removed, so that two
    workers sharing a data root never delete each other's work in progress.
    """
    parent = os.path.dirname(final_dir)
    base = os.path.basename(final_dir)
    for path in glob.glob(os.path.join(parent, f"{base}.tmp-*")):
        if not in_progress(path):
            shutil.rmtree(path, ignore_errors=True)


def in_progress(tmp_dir):
    """Whether a ``.tmp-*`` folder's writer may still be writing it.

    True when its process on this host is alive, or when it was written from
    another host (which cannot be checked from here); False when the writer
    is gone or unknown.
    """
    owner = _owner_of(tmp_dir)
    return owner is not None and _alive(owner)


def _owner_of(path):
    try:
        with open(os.path.join(path, ".owner")) as f:
            host, pid = f.read().split()
    except (OSError, ValueError):
        return None
    if host != os.uname().nodename:
        return (host, None)
    return (host, int(pid))


def _alive(owner):
    host, pid = owner
    if pid is None:
        # A process on another machine: we cannot tell, so keep its folder.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def staged_directory(final_dir, metadata=None):
    """Yield a temporary folder that becomes ``final_dir`` on success.

    Parameters
    ----------
    final_dir : str
        Where the finished output must appear.
    metadata : dict, optional
        Written as ``params.json`` inside the folder just before the rename,
        so that every finished output records what produced it.

    Notes
    -----
    When another process (a second worker or machine sharing the data root)
    renamed its own copy into place first, ours is discarded and theirs is
    kept: both were produced from the same signature.
    """
    parent = os.path.dirname(final_dir)
    os.makedirs(parent, exist_ok=True)
    remove_stale_temporaries(final_dir)
    tmp = tempfile.mkdtemp(prefix=os.path.basename(final_dir) + ".tmp-", dir=parent)
    with open(os.path.join(tmp, ".owner"), "w") as f:
        f.write(f"{os.uname().nodename} {os.getpid()}")
    try:
        yield tmp
        os.remove(os.path.join(tmp, ".owner"))
        if metadata is not None:
            with open(os.path.join(tmp, "params.json"), "w") as f:
                json.dump(metadata, f, indent=2, sort_keys=True)
                f.write("\n")
        try:
            os.rename(tmp, final_dir)
        except OSError:
            if os.path.isdir(final_dir):
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
