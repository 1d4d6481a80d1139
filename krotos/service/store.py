"""What the service keeps in Redis besides rq's own keys.

``krotos:upload:<uuid>``
    one uploaded file waiting for its job (deleted when the job ends, whatever
    the outcome; expires after ``result_ttl`` should nobody be left to do it).
``krotos:result:<model_id>:<sha256>``
    the embedding of that audio by that model (JSON, ``cache_ttl``): the same
    audio is never processed twice by the same model, whoever sends it and
    however (upload, URL, SoundCloud).
``krotos:soundcloud:<track id>``
    the content hash of a SoundCloud track's stream, so that a track liked by
    many users is downloaded once per ``cache_ttl``.
``krotos:worker:<queue>:<worker name>``
    a live worker's heartbeat: what it loaded (JSON), expiring after three
    missed beats (``/healthz`` lists these, not rq's worker records).
"""

from __future__ import annotations

import hashlib
import json
import uuid

import redis

PREFIX = "krotos"


def connect(url: str, timeout: float = 5.0) -> redis.Redis:
    """A Redis client for ``url`` (bytes in, bytes out, as rq needs)."""
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                health_check_interval=30)


def content_hash(data: bytes) -> str:
    """The hex SHA-256 of ``data``: what the result cache is keyed by."""
    return hashlib.sha256(data).hexdigest()


def upload_key(name: str) -> str:
    """The key of one upload waiting for its job."""
    return f"{PREFIX}:upload:{name}"


def result_key(model_id: str, sha: str) -> str:
    """The key of the cached embedding of the audio ``sha`` by the model ``model_id``."""
    return f"{PREFIX}:result:{model_id}:{sha}"


def soundcloud_key(track_id: int | str) -> str:
    """The key of the content hash of a SoundCloud track's stream."""
    return f"{PREFIX}:soundcloud:{track_id}"


def worker_key(queue: str, name: str) -> str:
    """The key of a live worker's heartbeat; ``name="*"`` matches every worker of ``queue``."""
    return f"{PREFIX}:worker:{queue}:{name}"


def put_upload(conn: redis.Redis, data: bytes, ttl: float) -> str:
    """Store one upload for one job; returns its key."""
    key = upload_key(uuid.uuid4().hex)
    conn.set(key, data, ex=int(ttl))
    return key


def get_json(conn: redis.Redis, key: str) -> object:
    """The JSON value at ``key``, or None when there is none."""
    raw = conn.get(key)
    return None if raw is None else json.loads(raw)


def put_json(conn: redis.Redis, key: str, value: object, ttl: float) -> None:
    """Store ``value`` as JSON at ``key`` for ``ttl`` seconds."""
    conn.set(key, json.dumps(value), ex=int(ttl))
