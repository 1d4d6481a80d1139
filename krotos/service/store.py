"""What the service keeps in Redis besides rq's own keys.

``krotos:upload:<sha256>``
    uploaded audio waiting for a worker (expires after ``result_ttl``; deleted
    once embedded).
``krotos:result:<model_id>:<sha256>``
    the embedding of that audio by that model (JSON, ``cache_ttl``): the same
    audio is never processed twice by the same model, whoever sends it and
    however (upload, URL, SoundCloud).
``krotos:soundcloud:<track id>``
    the content hash of a SoundCloud track's stream, so that a track liked by
    many users is downloaded once per ``cache_ttl``.
"""

import hashlib
import json

import redis

PREFIX = "krotos"


def connect(url, timeout=5.0):
    """A Redis client for ``url`` (bytes in, bytes out, as rq needs)."""
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                health_check_interval=30)


def content_hash(data):
    return hashlib.sha256(data).hexdigest()


def upload_key(sha):
    return f"{PREFIX}:upload:{sha}"


def result_key(model_id, sha):
    return f"{PREFIX}:result:{model_id}:{sha}"


def soundcloud_key(track_id):
    return f"{PREFIX}:soundcloud:{track_id}"


def put_upload(conn, data, ttl):
    """Store uploaded bytes under their hash; returns the hash."""
    sha = content_hash(data)
    conn.set(upload_key(sha), data, ex=int(ttl))
    return sha


def get_json(conn, key):
    raw = conn.get(key)
    return None if raw is None else json.loads(raw)


def put_json(conn, key, value, ttl):
    conn.set(key, json.dumps(value), ex=int(ttl))
