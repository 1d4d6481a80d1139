"""The model inputs, whichever feature kind: shard index tasks, and the switch between kinds.

Every feature kind is one shard task (``Spectrograms``, ``EchonestFeatures``)
and one index task over all its shards, a :class:`ShardIndex` subclass that
names its kind in ``feature`` (``SpectrogramIndex``: ``mel``,
``EchonestIndex``: ``echonest``). All write the shard store's files
(:mod:`krotos.shards`), so the models read any kind alike.
:func:`feature_index_task` picks the index task by ``[krotos] features``.

A new feature kind goes into a stage module of its own: a shard task whose
run() writes ``shard.h5`` and ``results.json`` (see
:func:`krotos.shards.manifest.write_results`), a ``ShardIndex`` subclass with
``feature = "<kind>"`` and ``shard_task`` set, imported by ``pipeline/__init__.py``,
and the kind among the choices of ``[krotos] features``.

How the shard tasks are found: the track list lives in the TagDatabase's
SQLite file, which does not exist when Luigi builds the graph on a first
run. The number of shards is therefore counted from the dataset's inputs
as the graph is built (:func:`krotos.shards.sharding.count_input_tracks`: an
upper bound of the tracks the database keeps), so an index task lists every
``shard_task(shard=i, n_shards=n)`` in ``requires()`` from the very first
run: every worker process that schedules the index, on every machine, can
take shards (Luigi runs a task only on the workers that listed it; yielded
tasks would stay on the one worker that yielded them). Each shard task reads
its own slice of the track list from the database in its own ``run()``. A
rerun with nothing changed finds the manifest and does nothing; after a
crash only the shards without output are redone.
"""

import contextlib
import logging

import luigi

from krotos.shards.manifest import MANIFEST_FILE
from pipeline.base import KrotosTask
from pipeline.dataset import dataset_task
from pipeline.tagdb import TagDatabase

logger = logging.getLogger("luigi-interface")


def input_track_count():
    """Upper bound of the tag database's tracks, from the dataset's inputs (graph-build time).

    The demo writes ``n_songs`` tracks; a real dataset's track list is
    counted without parsing it (see :func:`krotos.shards.sharding.count_input_tracks`).
    """
    from krotos.shards.sharding import count_input_tracks
    from pipeline.demo import DemoDataset

    dataset = dataset_task()
    if isinstance(dataset, DemoDataset):
        return dataset.n_songs
    paths = dataset.paths()
    return count_input_tracks(paths.get("track_metadata"), paths.get("msd_h5"),
                              paths.get("unique_tracks"))


class ShardIndex(KrotosTask):
    """Base of the tasks that run every shard of the track list and index them.

    Subclasses name their feature kind in ``feature`` and their per-shard
    task in ``shard_task`` (with parameters ``shard`` and ``n_shards``). The
    shard count comes from the dataset's inputs as the graph is built (see
    the module's docstring), so all shards are listed in ``requires()``, on
    the first run too. The index then writes ``manifest.json`` over them
    (read it with :func:`krotos.shards.manifest.read_manifest`).
    """

    version = 2
    #: Output file (written by :func:`krotos.shards.manifest.index_shards`).
    MANIFEST = MANIFEST_FILE
    #: The ``[krotos] features`` value this index serves.
    feature = None
    shard_task = None

    shard_size = luigi.IntParameter(default=100, description="tracks per shard (at most)")

    def shard_count(self):
        """Number of shards: the dataset's input tracks over ``shard_size``, rounded up.

        Counted once per task object: Luigi asks for ``requires()`` again just
        before ``run()``, and the answer must not change in between.
        """
        from krotos.shards.sharding import n_shards

        if not hasattr(self, "_shard_count"):
            self._shard_count = n_shards(input_track_count(), self.shard_size)
        return self._shard_count

    def requires(self):
        count = self.shard_count()
        return [TagDatabase()] + [self.shard(i, count) for i in range(count)]

    def shard(self, i, count):
        return self.shard_task(shard=i, n_shards=count)

    def signature_requires(self):
        # One shard stands for them all, so that an extraction parameter or a
        # source setting moves the manifest; the count follows from the
        # inputs, which the tag database's signature covers. Naming it here
        # would make every existence check count the inputs.
        return [TagDatabase(), self.shard(0, 1)]

    def run(self):
        from krotos.shards.manifest import describe_statuses, index_shards

        count = self.shard_count()
        with self.staging() as tmp:
            manifest = index_shards([self.shard(i, count).output_dir for i in range(count)], tmp,
                                    progress=self.progress)
        summary = describe_statuses(manifest)
        logger.info("%s: %d shards, tracks by status: %s", self.get_task_family(), count, summary)
        self.set_status_message(f"{count} shards; {summary}")


def feature_kinds():
    """``{feature kind: its index task class}``: every ``ShardIndex`` subclass naming a kind.

    The stage modules define them; importing the ``pipeline`` package imports
    them all, so this module needs none of them (they import it).
    """
    kinds, todo = {}, [ShardIndex]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.feature:
            if kinds.get(cls.feature, cls) is not cls:
                raise TypeError(f"feature {cls.feature!r} has two index tasks: "
                                f"{kinds[cls.feature].__name__} and {cls.__name__}")
            kinds[cls.feature] = cls
    return kinds


# Set only inside features_setting(): the command line's --krotos-features
# outranks luigi.cfg, so looking up the other setting's outputs cannot go
# through the configuration.
_features_override = None


@contextlib.contextmanager
def features_setting(features):
    """Build tasks as if ``[krotos] features`` were ``features`` (to find their outputs)."""
    from luigi.task_register import Register

    global _features_override
    previous, _features_override = _features_override, features
    Register.clear_instance_cache()
    try:
        yield
    finally:
        _features_override = previous
        Register.clear_instance_cache()


def feature_index_task(features=None):
    """The task whose ``manifest.json`` feeds the models, by ``[krotos] features``.

    Parameters
    ----------
    features : {'mel', 'echonest'}, optional
        Default: the ``[krotos] features`` setting (``mel`` while it is absent).

    Returns
    -------
    ShardIndex
        ``SpectrogramIndex`` or ``EchonestIndex``. Both write the same
        manifest; their signatures differ, so everything downstream keeps
        ``mel`` and ``echonest`` outputs apart.

    Raises
    ------
    krotos.config.ConfigError
        No index task serves ``features``.
    """
    from krotos.config import ConfigError
    from pipeline.config import krotos

    features = features or _features_override or krotos().features
    kinds = feature_kinds()
    if features not in kinds:
        raise ConfigError(f"[krotos] features = {features!r}: choose one of "
                          f"{', '.join(sorted(kinds))}")
    return kinds[features]()
