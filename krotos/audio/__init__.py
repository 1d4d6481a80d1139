"""Audio previews to log-mel spectrograms: decode, resample, features, and the extraction
of one shard (stored in the shard store, :mod:`krotos.shards`)."""
