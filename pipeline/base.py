"""The base class of every krotos task: signed, atomic output folders.

Every task writes under ``<data_root>/<TaskFamily>/<signature>/`` where the
signature hashes the task family, its significant parameters, the class's
``version`` and the signatures of the tasks it requires (see
:mod:`krotos.signature`). Changing a parameter therefore moves the output of
that task and of everything downstream of it to a new folder, and Luigi,
which only asks whether an output exists, reruns exactly those tasks.
"""

import contextlib
import json
import os
import shutil

import luigi
from luigi.task import flatten

from krotos.config import DataRootMoved, check_data_root
from krotos.signature import compute_signature, signature_payload
from krotos.staging import WorkFolderBusy, lock_work_folder, staged_directory
from pipeline.config import krotos


class KrotosTask(luigi.Task):
    """A task whose output is one signed folder, written atomically.

    Subclasses set ``version`` (bump it when a code change alters the output),
    declare ``requires()``, and in ``run()`` write everything into the folder
    given by ``with self.staging() as tmp:``.
    """

    version = 1

    def signature_requires(self):
        """Tasks whose signatures enter this one's (default: ``requires()``).

        A task with dynamic dependencies adds the tasks it will yield here.
        """
        return self.requires()

    def signature_params(self):
        """``{name: serialized value}`` of the parameters that enter the signature.

        Default: every significant parameter. A task leaves out here settings
        that cannot change its output in the current configuration.
        """
        return {name: param.serialize(getattr(self, name))
                for name, param in self.get_params() if param.significant}

    def _signature_payload(self):
        params = self.signature_params()
        upstream = {task.task_id: task.signature()
                    for task in flatten(self.signature_requires())}
        return signature_payload(self.get_task_family(), params, self.version, upstream)

    def signature(self):
        """Short hash of everything that determines this task's output."""
        if not hasattr(self, "_signature"):
            p = self._signature_payload()
            self._signature = compute_signature(
                p["family"], p["params"], p["version"], p["upstream"])
        return self._signature

    @property
    def data_root(self):
        """``[krotos] data_root``, checked to be writable (once per process)."""
        return _checked_data_root(krotos().data_root)

    @property
    def output_dir(self):
        """``<data_root>/<TaskFamily>/<signature>``."""
        return os.path.join(self.data_root, self.get_task_family(), self.signature())

    @property
    def work_dir(self):
        """Persistent scratch (checkpoints, partial downloads) that survives a kill.

        It sits beside the output folder and never counts as a finished output.
        The first use locks it for this process until the task ends (see
        :func:`krotos.staging.lock_work_folder`): a second process running
        the same task (two ``--local-scheduler`` runs on one data root) fails
        with "already running in pid N" instead of writing into it at the
        same time; the folder of a killed process is taken over.
        """
        path = self.output_dir + ".work"
        lock = getattr(self, "_work_lock", None)
        if lock is None or not lock.held:
            self._work_lock = lock_work_folder(path)
        return path

    def _release_work_dir(self):
        lock = getattr(self, "_work_lock", None)
        if lock is not None:
            lock.release()

    def output(self):
        return luigi.LocalTarget(self.output_dir)

    def file(self, name):
        """Path of ``name`` inside this task's output folder."""
        return os.path.join(self.output_dir, name)

    def staging(self):
        """Context manager yielding a temporary folder that becomes ``output_dir``.

        ``params.json`` (the signature's payload, with the signature itself) is
        written into it just before the rename.
        """
        metadata = dict(self._signature_payload(), signature=self.signature(),
                        task_id=self.task_id)
        return _staging_then_drop_work_dir(self, metadata)

    @property
    def failure_record(self):
        """``<data_root>/.failures/<TaskFamily>/<signature>.json``: why the last
        attempt failed (removed once the task succeeds). Outside the task's own
        folder, which must hold nothing that could look like a result."""
        return os.path.join(self.data_root, ".failures", self.get_task_family(),
                            self.signature() + ".json")

    def on_failure(self, exception):
        # The work folder stays for the next attempt to resume; the lock goes.
        self._release_work_dir()
        # Kept beside the output so that reports made later (``krotos results``,
        # a replicate table) can say why a figure is missing.
        try:
            os.makedirs(os.path.dirname(self.failure_record), exist_ok=True)
            with open(self.failure_record, "w", encoding="utf-8") as f:
                json.dump({"task_id": self.task_id, "error": f"{type(exception).__name__}: "
                                                             f"{exception}"}, f, indent=2)
        except (OSError, DataRootMoved):
            pass  # no data root to keep it in: the error itself says why
        return super().on_failure(exception)

    def on_success(self):
        self._release_work_dir()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.failure_record)
        return super().on_success()

    def progress(self, fraction, message=None):
        """Report progress to the scheduler (a callback for krotos functions)."""
        self.set_progress_percentage(round(100.0 * max(0.0, min(1.0, fraction)), 1))
        if message:
            self.set_status_message(message)


@contextlib.contextmanager
def _staging_then_drop_work_dir(task, metadata):
    with staged_directory(task.output_dir, metadata=metadata) as tmp:
        yield tmp
    # The finished output supersedes checkpoints and partial downloads, but
    # only its owner may remove them: a folder another live process holds is
    # that process's to drop.
    if not os.path.isdir(task.output_dir + ".work"):
        return
    try:
        task.work_dir  # noqa: B018 - locks the folder unless this process holds it
    except WorkFolderBusy:
        return
    shutil.rmtree(task.output_dir + ".work", ignore_errors=True)
    task._release_work_dir()


def _checked_data_root(path):
    # Checked when Luigi first asks whether an output exists, so a bad root
    # fails the run while the graph is built, before any work; after that
    # each use only makes sure that the root did not move during the run.
    return check_data_root(path)


class Replicated:
    """Mixin of the tasks downstream of the song split: a ``replicate`` number.

    Replicate ``r`` runs a task with every seed shifted by ``r`` (the song
    split draws other test songs, the plays are held out anew, the models
    start from other weights), under its own signature. ``Replicates`` runs
    ``r = 0 .. seeds-1``; plain runs are replicate 0. Tasks pass their
    ``replicate`` on to what they require, so one replicate never reads
    another's outputs.
    """

    replicate = luigi.IntParameter(
        default=0, description="replicate number: every seed is shifted by it (see Replicates)")

    def replicate_seed(self, seed):
        """``seed`` shifted by this task's replicate number."""
        return int(seed) + int(self.replicate)


class GridParameter(luigi.ListParameter):
    """A list of values to choose from on a validation set, or a single value.

    ``50``, ``[50]`` and ``[32, 50]`` are accepted (in luigi.cfg or on the
    command line); the value is always a tuple.
    """

    def parse(self, x):
        return self.normalize(json.loads(x))

    def normalize(self, x):
        values = tuple(x) if isinstance(x, (list, tuple)) else (x,)
        return super().normalize(values)
