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

import hashlib
import json
import uuid

import redis

PREFIX = "krotos"


def connect(url, timeout=5.0):
    """A Redis client for ``url`` (bytes in, bytes out, as rq needs)."""
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                health_check_interval=30)


def content_hash(data):
    return hashlib.sha256(data).hexdigest()


def upload_key(name):
    return f"{PREFIX}:upload:{name}"


def result_key(model_id, sha):
    return f"{PREFIX}:result:{model_id}:{sha}"


def soundcloud_key(track_id):
    return f"{PREFIX}:soundcloud:{track_id}"


def worker_key(queue, name):
    return f"{PREFIX}:worker:{queue}:{name}"


def put_upload(conn, data, ttl):
    """Store one upload for one job; returns its key."""
    key = upload_key(uuid.uuid4().hex)
    conn.set(key, data, ex=int(ttl))
    return key


def get_json(conn, key):
    raw = conn.get(key)
    return None if raw is None else json.loads(raw)


def put_json(conn, key, value, ttl):
    conn.set(key, json.dumps(value), ex=int(ttl))
