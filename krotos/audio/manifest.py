"""Moved to :mod:`krotos.shards.manifest` (the shard store serves every feature kind).

Kept until pipeline/latents.py and pipeline/report.py import
krotos.shards.manifest; nothing else may import it.
"""

from krotos.shards.manifest import read_manifest  # noqa: F401
