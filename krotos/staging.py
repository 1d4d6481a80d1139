"""Atomic output folders, and work folders with an owner.

A reader (or Luigi's ``complete()``) sees either no output folder or a
finished one; a killed writer leaves only a ``.tmp-*`` folder, which never
counts as done and is removed by the next attempt of the same task.

A task's resumable work folder (checkpoints, partial downloads) outlives a
killed run on purpose, so it is locked by the process using it
(:func:`lock_work_folder`): a second process wanting the same task is told
which process runs it instead of training into the same folder at once. The
lock is the kernel's (``flock``), so a killed process drops it and the next
run takes the folder over.

A single file is written the same way (:func:`atomic_path`,
:func:`atomic_write`): into a hidden ``.tmp-*`` file beside it, renamed over
the final name only when complete, and removed when the writing fails.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO

log = logging.getLogger(__name__)

#: The file in a work folder that names its owner (``host pid``) and carries the lock.
OWNER_FILE = ".owner"


def remove_stale_temporaries(final_dir: str) -> None:
    """Remove ``.tmp-*`` siblings of ``final_dir`` left by killed writers.

    Only folders whose owning process is gone are removed, so that two
    workers sharing a data root never delete each other's work in progress.
    """
    parent = os.path.dirname(final_dir)
    base = os.path.basename(final_dir)
    for path in glob.glob(os.path.join(parent, f"{base}.tmp-*")):
        if not in_progress(path):
            shutil.rmtree(path, ignore_errors=True)


def in_progress(tmp_dir: str) -> bool:
    """Whether a ``.tmp-*`` folder's writer may still be writing it.

    True when its process on this host is alive, or when it was written from
    another host (which cannot be checked from here); False when the writer
    is gone or unknown.
    """
    owner = _owner_of(tmp_dir)
    return owner is not None and _alive(owner)


def _owner_of(path):
    try:
        with open(os.path.join(path, OWNER_FILE)) as f:
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
def staged_directory(final_dir: str, metadata: dict | None = None) -> Iterator[str]:
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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path`` that becomes ``path`` when the block succeeds.

    The block writes the whole file at the yielded path (``open``, ``h5py``,
    SQLite, ``np.savez``, Keras ``save_weights``: anything that takes a file
    name); when the block ends without an exception the file is renamed over
    ``path`` (``os.replace``, atomic on one filesystem), so that a reader sees
    either the old file, or none, or the complete new one. When the block
    raises, the temporary file is removed and the exception goes on.

    The temporary name is ``.tmp-<pid>-<random>-<name of path>``: hidden (no
    ``*.json`` glob picks it up), unique to the writer, in the same folder
    (so the rename never crosses filesystems) and ending as ``path`` ends
    (writers that insist on an extension, ``.npz`` or ``.weights.h5``, accept
    it). The file is not created in advance: it gets the usual permissions of a
    new file. The folder must exist. A killed writer leaves the hidden file,
    never a file under the final name.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs: object) -> Iterator[IO]:
    """``with atomic_write(path) as f:`` writes a file that appears only when complete.

    ``open(tmp, mode, **open_kwargs)`` on a temporary path of
    :func:`atomic_path`; the file is closed, then renamed over ``path``. On an
    exception nothing is renamed and the temporary file is removed.
    """
    with atomic_path(path) as tmp:
        with open(tmp, mode, **open_kwargs) as f:
            yield f


class WorkFolderBusy(RuntimeError):
    """Another live process holds the work folder; the message names it (pid and host)."""


class WorkFolderLock:
    """A work folder locked by this process; see :func:`lock_work_folder`.

    Attributes
    ----------
    path : str
        The work folder.
    taken_over : str or None
        ``"host pid"`` of a dead process whose folder this was, else None.
    """

    def __init__(self, path, fd, taken_over):
        self.path = path
        self.pid = os.getpid()
        self.taken_over = taken_over
        self._fd = fd

    @property
    def held(self) -> bool:
        """Whether this process still holds the lock (False after release, or in a forked child)."""
        return self._fd is not None and self.pid == os.getpid()

    def release(self) -> None:
        """Give the folder up (the folder itself is kept). Safe to call twice."""
        if self._fd is not None and self.pid == os.getpid():
            # An owner file left with a name in it means its process died holding it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor drops the flock
        self._fd = None


def _me():
    return f"{os.uname().nodename} {os.getpid()}"


def _describe_owner(text):
    try:
        host, pid = text.split()
    except ValueError:
        return "another process"
    where = "" if host == os.uname().nodename else f" on host {host}"
    return f"pid {pid}{where}"


def lock_work_folder(path: str) -> WorkFolderLock:
    """Create the work folder ``path`` if needed and lock it for this process.

    Parameters
    ----------
    path : str
        A task's work folder (``<output_dir>.work``).

    Returns
    -------
    WorkFolderLock
        Held until :meth:`WorkFolderLock.release` or until this process ends.
        ``taken_over`` names the dead process whose lock file was left.

    Raises
    ------
    WorkFolderBusy
        A live process (this one included, through another lock) holds it:
        ``"<path>: already running in pid N"`` (``on host H`` when elsewhere).
    """
    for _ in range(5):
        os.makedirs(path, exist_ok=True)
        owner_file = os.path.join(path, OWNER_FILE)
        try:
            fd = os.open(owner_file, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            continue  # the folder was removed between makedirs and open: its owner finished
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            previous = _read_fd(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise WorkFolderBusy(
                    f"{path}: already running in {_describe_owner(previous)}; this run does not "
                    f"work in the same folder at the same time: wait for it to finish, or stop "
                    f"it, then run again") from None
            raise
        # The lock counts only if the file is still the one at that path: a
        # finishing owner removes the whole folder after dropping nothing.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(owner_file))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        previous = _read_fd(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _me().encode(), 0)
        taken_over = previous if previous and previous != _me() else None
        if taken_over:
            log.warning("%s: taking over the work folder of %s, which no longer runs",
                        path, _describe_owner(taken_over))
        return WorkFolderLock(path, fd, taken_over)
    raise WorkFolderBusy(f"{path}: removed and recreated by other processes while locking it")


def work_folder_in_use(path: str) -> bool:
    """Whether a live process holds the work folder ``path`` (see :func:`lock_work_folder`).

    Probes the owner file's lock without taking it for long; a folder without
    an owner file, or whose owner died, is not in use.
    """
    try:
        fd = os.open(os.path.join(path, OWNER_FILE), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)  # also drops the probe's own lock
    return False


def _read_fd(fd):
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
