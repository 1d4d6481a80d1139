"""Audio previews to log-mel spectrograms: decode, resample, features, shards."""
