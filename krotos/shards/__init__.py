"""The shard store: per-track feature matrices in HDF5 shards, and the manifest over them.

One store for every feature kind: log-mel spectrograms (``Spectrograms``,
:mod:`krotos.audio.extract`) and Echo Nest segment features
(``EchonestFeatures``, :mod:`krotos.features.echonest_shard`) are written,
indexed and read by the same code, so that everything downstream (the models,
the report, the service) reads either kind alike.

A shard folder (one shard task's output) holds::

    shard.h5       the ok tracks' (frames, channels) matrices     writer, reader
    results.json   every track's status and reason                manifest.write_results

and the index task's folder holds ``manifest.json`` over all shards
(:func:`krotos.shards.manifest.index_shards`, :func:`~krotos.shards.manifest.read_manifest`).

Modules
-------
:mod:`~krotos.shards.writer`
    :class:`ShardWriter`: a shard file that appears only when complete.
:mod:`~krotos.shards.reader`
    :class:`ShardReader`, and :func:`read_track` by manifest.
:mod:`~krotos.shards.sharding`
    Which tracks go to which shard, counted before the track list exists.
:mod:`~krotos.shards.manifest`
    ``results.json`` per shard, ``manifest.json`` over them.
:mod:`~krotos.shards.status`
    The per-track statuses, and :class:`Rejected`, the one way a track is refused.

Nothing is imported here, so that importing the status vocabulary (the
preview sources do) does not load h5py.
"""
