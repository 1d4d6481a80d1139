"""The work the rq worker does: embed one track; score two SoundCloud users.

The models are loaded once per worker process (:func:`init`, called by
``krotos worker`` before it takes jobs) and reused by every job. A job that
fails records ``{"code", "message", "details"}`` in its ``meta["error"]``
before re-raising, so that the API reports a stable code and a readable
reason; rq marks it failed and the worker takes the next job. Such a job is
not retried (it would fail the same way); a job whose worker died is (rq's
``Retry``, see :mod:`krotos.service.worker`). Uploaded bytes are deleted when
a job ends, whatever the outcome (:func:`release_uploads`, an rq callback).

**Compatibility.** Each user's taste vector is the mean of the
unit-normalized latent vectors predicted for their liked tracks. The tracks
are normalized first so that every liked track weighs the same, whatever the
length of its predicted vector (the latent model is trained on unit-normalized
ALS factors, so the direction carries the taste; the norm mostly reflects how
sure the model is). The score is ``(1 + cos(taste_a, taste_b)) / 2``, in [0, 1]:
1 for identical directions, 0.5 for unrelated ones, 0 for opposite tastes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from krotos.service import store

if TYPE_CHECKING:
    import redis
    from rq.job import Job

    from krotos.inference import DecodeLimits, Embedder
    from krotos.service.config import ServiceConfig

log = logging.getLogger(__name__)

_STATE = {}

#: Tags of each user's profile considered when listing the shared ones.
PROFILE_TAGS = 10
SHARED_TAGS = 5
CLOSEST_PAIRS = 5


class JobError(Exception):
    """A job that cannot complete, with a stable ``code`` and optional ``details``."""

    def __init__(self, code, message, details=None):
        super().__init__(message)
        self.code = code
        self.details = details


def init(config: ServiceConfig, embedder: Embedder, conn: redis.Redis | None = None) -> None:
    """Set the worker process's configuration, loaded models and Redis connection."""
    _STATE.update(config=config, embedder=embedder,
                  conn=conn or store.connect(config.redis_url))


def decode_limits(config: ServiceConfig) -> DecodeLimits:
    """The :class:`krotos.inference.DecodeLimits` of the service's settings."""
    from krotos.inference import DecodeLimits

    return DecodeLimits(max_seconds=float(config.max_audio_seconds))


def _state():
    """The worker state; loaded from the configuration when a plain ``rq worker`` runs us.

    Such a worker needs the model folder in ``[service] model`` (or
    ``KROTOS_MODEL``): finding the current configuration's model means asking
    the pipeline, which only ``krotos worker`` (the command layer) does.
    """
    if "embedder" not in _STATE:
        from krotos.inference import Embedder
        from krotos.locate import ModelNotFound, locate
        from krotos.service.config import ServiceConfig

        config = ServiceConfig.load()
        if not config.model:
            raise ModelNotFound("a worker started by plain `rq worker` needs [service] model "
                                "(or KROTOS_MODEL), a FinetuneModel output folder; `krotos "
                                "worker` finds the current configuration's model itself")
        init(config, Embedder.from_files(locate(config.model), limits=decode_limits(config)))
    return _STATE["config"], _STATE["embedder"], _STATE["conn"]


def error_of(exc: BaseException) -> dict:
    """``{"code", "message", "details"}`` of an exception raised by a job.

    Unexpected exceptions are reported by type only: their text may hold
    paths or addresses of the worker's machine (the worker's log has it all).
    """
    from rq.timeouts import JobTimeoutException

    if isinstance(exc, JobError):
        return {"code": exc.code, "message": str(exc), "details": exc.details}
    if isinstance(exc, JobTimeoutException):
        return {"code": "timeout", "message": "the job ran out of time (job_timeout)",
                "details": None}
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return {"code": code, "message": str(exc), "details": None}
    return {"code": "internal_error", "message": f"internal error ({type(exc).__name__}); the "
                                                f"worker's log has the details",
            "details": None}


def _reported(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            from rq import get_current_job

            if error_of(exc)["code"] == "internal_error":
                log.exception("job failed")
            job = get_current_job()
            if job is not None:
                job.meta["error"] = error_of(exc)
                job.save_meta()
                # A job that reports its own failure would fail the same way again:
                # retries are for jobs whose worker died under them.
                job.retries_left = 0
            raise
    return wrapper


def upload_keys(args: Sequence[Any]) -> list[str]:
    """The Redis keys of the uploads a job's arguments name."""
    keys = []
    for arg in args:
        items = arg if isinstance(arg, list) else [arg]
        keys.extend(i["key"] for i in items if isinstance(i, dict) and i.get("key"))
    return keys


def release_uploads(job: Job, connection: redis.Redis, *args: Any) -> None:
    """rq callback (success and failure): delete the job's uploads once it has ended.

    A job whose worker died and that rq will run again keeps them.
    """
    if job.get_status(refresh=False) != "finished" and job.should_retry:
        return
    keys = upload_keys(job.args or ())
    if keys:
        connection.delete(*keys)


def _progress(**values):
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta["progress"] = values
        job.save_meta()


def embed_bytes(data: bytes, name: str, config: ServiceConfig, embedder: Embedder,
                conn: redis.Redis) -> dict:
    """Embedding of audio bytes, from the cache when this model has seen them."""
    sha = store.content_hash(data)
    key = store.result_key(embedder.model_id, sha)
    cached = store.get_json(conn, key)
    if cached is not None:
        return dict(cached, cached=True)
    result = dict(embedder.embed(data, name=name), sha256=sha)
    store.put_json(conn, key, result, config.cache_ttl)
    return dict(result, cached=False)


def _upload_bytes(conn, item):
    data = conn.get(item["key"])
    if data is None:
        raise JobError("upload_expired", f"{item.get('name') or 'the upload'} is no longer "
                                         f"stored; upload it again")
    return data


def _fetch(config, url, headers=None):
    from krotos.service.fetch import UrlPolicy, fetch_audio

    return fetch_audio(url, UrlPolicy(config.allow), max_bytes=config.max_upload_bytes,
                       timeout=config.fetch_timeout, max_redirects=config.max_redirects,
                       headers=headers)


@_reported
def embed_track(source: dict) -> dict:
    """Job: tags and latent vector of one uploaded file or audio URL.

    Parameters
    ----------
    source : dict
        ``{"kind": "upload", "key", "name"}`` (bytes waiting in Redis) or
        ``{"kind": "url", "url"}``.

    Returns
    -------
    dict
        :meth:`krotos.inference.Embedder.embed`'s result plus ``sha256``,
        ``cached`` and ``source``.
    """
    config, embedder, conn = _state()
    if source.get("kind") == "upload":
        data = _upload_bytes(conn, source)
        result = embed_bytes(data, source.get("name") or "upload", config, embedder, conn)
        return dict(result, source={"upload": source.get("name")})
    if source.get("kind") == "url":
        data, final_url = _fetch(config, source["url"])
        result = embed_bytes(data, source["url"], config, embedder, conn)
        return dict(result, source={"url": source["url"], "final_url": final_url})
    raise JobError("bad_request", f"unknown source {source!r}")


def _soundcloud_client(config):
    from krotos.sources.soundcloud import SoundCloudClient

    try:
        return SoundCloudClient(
            config.soundcloud_client_id, config.soundcloud_client_secret,
            api_url=config.soundcloud_api_url, token_url=config.soundcloud_token_url,
            timeout=(min(10.0, config.fetch_timeout), config.fetch_timeout),
            retries=config.soundcloud_retries, backoff=config.soundcloud_backoff,
            max_retry_wait=config.soundcloud_max_wait, page_size=config.soundcloud_page_size)
    except ValueError as exc:
        raise JobError("soundcloud_not_configured", str(exc)) from None


def _track_info(track):
    user = track.get("user") or {}
    return {"id": track.get("id"), "title": track.get("title"),
            "artist": user.get("username"), "url": track.get("permalink_url")}


def _embed_soundcloud_track(client, track, config, embedder, conn):
    sc_key = store.soundcloud_key(track["id"])
    sha = conn.get(sc_key)
    if sha is not None:
        cached = store.get_json(conn, store.result_key(embedder.model_id, sha.decode()))
        if cached is not None:
            return dict(cached, cached=True)
    data, _ = client.download(track, lambda url, headers: _fetch(config, url, headers))
    result = embed_bytes(data, f"SoundCloud track {track['id']}", config, embedder, conn)
    conn.set(sc_key, result["sha256"], ex=int(config.cache_ttl))
    return result


class _Side:
    """One side of a comparison: its tracks, their vectors and tag probabilities."""

    def __init__(self, profile):
        self.profile = profile
        self.tracks, self.vectors, self.tags, self.skipped = [], [], [], []

    def add(self, info, result, vocabulary):
        self.tracks.append(info)
        self.vectors.append(result["vector"])
        self.tags.append([result["tags"].get(t, 0.0) for t in vocabulary])

    def finish(self, total, what):
        if not self.tracks:
            first = self.skipped[0]["reason"] if self.skipped else "nothing to embed"
            raise JobError("no_usable_tracks",
                           f"none of the {total} tracks of {what} could be embedded (first: "
                           f"{first})", {"user": self.profile["input"], "skipped": self.skipped})
        self.profile.update(n_tracks=len(self.tracks), tracks=self.tracks,
                            skipped=self.skipped)
        return self


def _user_side(client, spec, config, embedder, conn, report):
    """Resolve a user, embed their liked tracks; skipped tracks are listed with reasons."""
    from krotos.inference import AudioError
    from krotos.service.fetch import FetchError
    from krotos.sources.soundcloud import NotStreamable, UserNotFound

    try:
        user = client.resolve_user(spec)
    except ValueError as exc:
        raise JobError("bad_request", str(exc)) from None
    except UserNotFound as exc:
        raise JobError(UserNotFound.code, str(exc), {"user": spec}) from None
    likes = client.liked_tracks(user, limit=config.max_likes + 1)
    capped = len(likes) > config.max_likes
    likes = likes[:config.max_likes]
    name = user.get("username") or spec
    if not likes:
        raise JobError("soundcloud_no_likes", f"SoundCloud user {name!r} has no liked tracks",
                       {"user": spec})
    side = _Side({"input": spec, "id": user["id"], "username": user.get("username"),
                  "url": user.get("permalink_url"), "n_likes": len(likes),
                  "likes_cap": config.max_likes, "capped": capped})
    for i, track in enumerate(likes):
        try:
            result = _embed_soundcloud_track(client, track, config, embedder, conn)
        except (AudioError, FetchError, NotStreamable) as exc:
            side.skipped.append(dict(_track_info(track), code=exc.code, reason=str(exc)))
        else:
            side.add(_track_info(track), result, embedder.vocabulary)
        report(spec, i + 1, len(likes))
    return side.finish(len(likes), f"SoundCloud user {name!r}")


def _upload_side(label, items, config, embedder, conn, report):
    """Embed one set of uploaded files; unusable files are listed with reasons."""
    from krotos.inference import AudioError

    side = _Side({"input": label, "id": None, "username": label, "url": None,
                  "n_likes": len(items), "likes_cap": config.max_likes, "capped": False})
    for i, item in enumerate(items):
        info = {"id": None, "title": item.get("name"), "artist": None, "url": None}
        try:
            result = embed_bytes(_upload_bytes(conn, item), item.get("name") or "upload",
                                 config, embedder, conn)
        except (AudioError, JobError) as exc:
            side.skipped.append(dict(info, code=exc.code, reason=str(exc)))
        else:
            side.add(info, result, embedder.vocabulary)
        report(label, i + 1, len(items))
    return side.finish(len(items), label)


def compatibility_of(vectors_a: np.ndarray, vectors_b: np.ndarray, tags_a: np.ndarray,
                     tags_b: np.ndarray, vocabulary: Sequence[str]) -> dict:
    """Score and explanation of two users from their tracks' vectors and tag probabilities.

    Returns
    -------
    dict
        ``score`` in [0, 1], ``cosine``, ``shared_tags`` (tags in both users'
        top-``PROFILE_TAGS`` mean probabilities, by the smaller of the two) and
        ``closest_pairs`` (indices ``a``, ``b`` and cosine of the most similar
        track pairs).
    """
    from krotos.coldstart.vectors import unit_normalize

    unit_a, unit_b = unit_normalize(vectors_a), unit_normalize(vectors_b)
    taste = unit_normalize(np.stack([unit_a.mean(axis=0), unit_b.mean(axis=0)]))
    cosine = float(np.clip(taste[0] @ taste[1], -1.0, 1.0))
    profile_a, profile_b = np.asarray(tags_a).mean(axis=0), np.asarray(tags_b).mean(axis=0)
    k = min(PROFILE_TAGS, len(vocabulary))
    top_a = set(np.argsort(-profile_a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-profile_b, kind="stable")[:k].tolist())
    shared = sorted(top_a & top_b, key=lambda j: -min(profile_a[j], profile_b[j]))
    pairs = unit_a @ unit_b.T
    flat = np.argsort(-pairs, axis=None, kind="stable")[:CLOSEST_PAIRS]
    return {
        "score": round((1.0 + cosine) / 2.0, 6),
        "cosine": round(cosine, 6),
        "shared_tags": [{"tag": vocabulary[j], "a": round(float(profile_a[j]), 4),
                         "b": round(float(profile_b[j]), 4)} for j in shared[:SHARED_TAGS]],
        "closest_pairs": [{"a": int(i // pairs.shape[1]), "b": int(i % pairs.shape[1]),
                           "similarity": round(float(pairs.flat[i]), 6)} for i in flat],
    }


def _reporter():
    done = {}

    def report(spec, count, total):
        done[spec] = (count, total)
        _progress(tracks_done=sum(c for c, _ in done.values()),
                  tracks_total=sum(t for _, t in done.values()), users_started=len(done))
    return report


def _compare(side_a, side_b, embedder):
    result = compatibility_of(np.asarray(side_a.vectors, dtype=np.float32),
                              np.asarray(side_b.vectors, dtype=np.float32),
                              np.asarray(side_a.tags), np.asarray(side_b.tags),
                              embedder.vocabulary)
    for pair in result["closest_pairs"]:
        pair["a"], pair["b"] = side_a.tracks[pair["a"]], side_b.tracks[pair["b"]]
    common = sorted({t["id"] for t in side_a.tracks if t["id"] is not None}
                    & {t["id"] for t in side_b.tracks if t["id"] is not None})
    return dict(
        result, users=[side_a.profile, side_b.profile], common_tracks=common,
        model_id=embedder.model_id,
        method="taste vector = mean of the unit-normalized predicted latent vectors of the "
               "user's liked tracks; score = (1 + cosine of the two taste vectors) / 2")


@_reported
def compatibility(user_a: str, user_b: str) -> dict:
    """Job: musical compatibility of two SoundCloud users (see the module docstring)."""
    config, embedder, conn = _state()
    report = _reporter()
    with _soundcloud_client(config) as client:
        side_a = _user_side(client, user_a, config, embedder, conn, report)
        side_b = _user_side(client, user_b, config, embedder, conn, report)
    return _compare(side_a, side_b, embedder)


@_reported
def compatibility_of_uploads(files_a: list[dict], files_b: list[dict]) -> dict:
    """Job: compatibility of two sets of uploaded files, as if each were a user's likes.

    Parameters
    ----------
    files_a, files_b : list of dict
        ``{"key", "name"}`` of each uploaded file (bytes waiting in Redis).
    """
    config, embedder, conn = _state()
    report = _reporter()
    side_a = _upload_side("Files A", files_a, config, embedder, conn, report)
    side_b = _upload_side("Files B", files_b, config, embedder, conn, report)
    return _compare(side_a, side_b, embedder)
