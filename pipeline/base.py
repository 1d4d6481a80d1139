"""The base class of every krotos task: signed, atomic output folders.

Every task writes under ``<data_root>/<TaskFamily>/<signature>/`` where the
signature hashes the task family, its significant parameters, the class's
``version`` and the signatures of the tasks it requires (see
:mod:`krotos.signature`). Changing a parameter therefore moves the output of
that task and of everything downstream of it to a new folder, and Luigi,
which only asks whether an output exists, reruns exactly those tasks.
"""

import contextlib
import os
import shutil

import luigi
from luigi.task import flatten

from krotos.config import check_data_root
from krotos.signature import compute_signature, signature_payload
from krotos.staging import staged_directory
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
        """
        path = self.output_dir + ".work"
        os.makedirs(path, exist_ok=True)
        return path

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
        return _staging_then_drop_work_dir(self.output_dir, metadata)

    def progress(self, fraction, message=None):
        """Report progress to the scheduler (a callback for krotos functions)."""
        self.set_progress_percentage(round(100.0 * max(0.0, min(1.0, fraction)), 1))
        if message:
            self.set_status_message(message)


@contextlib.contextmanager
def _staging_then_drop_work_dir(output_dir, metadata):
    with staged_directory(output_dir, metadata=metadata) as tmp:
        yield tmp
    # The finished output supersedes checkpoints and partial downloads.
    shutil.rmtree(output_dir + ".work", ignore_errors=True)


_CHECKED_ROOTS = {}


def _checked_data_root(path):
    # Checked when Luigi first asks whether an output exists, so a bad root
    # fails the run while the graph is built, before any work.
    if path not in _CHECKED_ROOTS:
        _CHECKED_ROOTS[path] = check_data_root(path)
    return _CHECKED_ROOTS[path]
