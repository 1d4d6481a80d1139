"""The work the rq worker does: embed one track; score two SoundCloud users.

The models are loaded once per worker process (:func:`init`, called by
``krotos worker`` before it takes jobs) and reused by every job. A job that
fails records ``{"code", "message", "details"}`` in its ``meta["error"]``
before re-raising, so that the API reports a stable code and a readable
reason; rq marks it failed and the worker takes the next job.

**Compatibility.** Each user's taste vector is the mean of the
unit-normalized latent vectors predicted for their liked tracks. The tracks
are normalized first so that every liked track weighs the same, whatever the
length of its predicted vector (the latent model is trained on unit-normalized
ALS factors, so the direction carries the taste; the norm mostly reflects how
sure the model is). The score is ``(1 + cos(taste_a, taste_b)) / 2``, in [0, 1]:
1 for identical directions, 0.5 for unrelated ones, 0 for opposite tastes.
"""

import functools
import logging

import numpy as np

from krotos.service import store

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


def init(config, embedder, conn=None):
    """Set the worker process's configuration, loaded models and Redis connection."""
    _STATE.update(config=config, embedder=embedder,
                  conn=conn or store.connect(config.redis_url))


def _state():
    """The worker state; loaded from the configuration when a plain ``rq worker`` runs us."""
    if "embedder" not in _STATE:
        from krotos.inference import Embedder
        from krotos.locate import locate
        from krotos.service.config import ServiceConfig

        config = ServiceConfig.load()
        init(config, Embedder.from_files(locate(config.model or None)))
    return _STATE["config"], _STATE["embedder"], _STATE["conn"]


def error_of(exc):
    """``{"code", "message", "details"}`` of an exception raised by a job."""
    from rq.timeouts import JobTimeoutException

    if isinstance(exc, JobError):
        return {"code": exc.code, "message": str(exc), "details": exc.details}
    if isinstance(exc, JobTimeoutException):
        return {"code": "timeout", "message": f"the job ran out of time ({exc})",
                "details": None}
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return {"code": code, "message": str(exc), "details": None}
    return {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}",
            "details": None}


def _reported(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            from rq import get_current_job

            job = get_current_job()
            if job is not None:
                job.meta["error"] = error_of(exc)
                job.save_meta()
            raise
    return wrapper


def _progress(**values):
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta["progress"] = values
        job.save_meta()


def embed_bytes(data, name, config, embedder, conn):
    """Embedding of audio bytes, from the cache when this model has seen them."""
    sha = store.content_hash(data)
    key = store.result_key(embedder.model_id, sha)
    cached = store.get_json(conn, key)
    if cached is not None:
        return dict(cached, cached=True)
    result = dict(embedder.embed(data, name=name), sha256=sha)
    store.put_json(conn, key, result, config.cache_ttl)
    return dict(result, cached=False)


@_reported
def embed_track(source):
    """Job: tags and latent vector of one uploaded file or audio URL.

    Parameters
    ----------
    source : dict
        ``{"kind": "upload", "sha256", "name"}`` (bytes waiting in Redis) or
        ``{"kind": "url", "url"}``.

    Returns
    -------
    dict
        :meth:`krotos.inference.Embedder.embed`'s result plus ``sha256``,
        ``cached`` and ``source``.
    """
    from krotos.service.fetch import UrlPolicy, fetch_audio

    config, embedder, conn = _state()
    if source.get("kind") == "upload":
        sha = source["sha256"]
        key = store.result_key(embedder.model_id, sha)
        cached = store.get_json(conn, key)
        if cached is None:
            data = conn.get(store.upload_key(sha))
            if data is None:
                # Another worker may have embedded and dropped the same bytes.
                cached = store.get_json(conn, key)
                if cached is None:
                    raise JobError("upload_expired", "the uploaded audio is no longer "
                                                     "stored; upload it again")
        if cached is not None:
            conn.delete(store.upload_key(sha))
            return dict(cached, cached=True, source={"upload": source.get("name")})
        result = embed_bytes(data, source.get("name") or "upload", config, embedder, conn)
        conn.delete(store.upload_key(sha))
        return dict(result, source={"upload": source.get("name")})
    if source.get("kind") == "url":
        data, final_url = fetch_audio(
            source["url"], UrlPolicy(config.allow), max_bytes=config.max_upload_bytes,
            timeout=config.fetch_timeout, max_redirects=config.max_redirects)
        result = embed_bytes(data, source["url"], config, embedder, conn)
        return dict(result, source={"url": source["url"], "final_url": final_url})
    raise JobError("bad_request", f"unknown source {source!r}")


def _soundcloud_client(config):
    from krotos.sources.soundcloud import SoundCloudClient

    try:
        return SoundCloudClient(
            client_id=config.soundcloud_client_id, api_url=config.soundcloud_api_url,
            access_token=config.soundcloud_access_token or None,
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
    from krotos.service.fetch import UrlPolicy, fetch_audio

    sc_key = store.soundcloud_key(track["id"])
    sha = conn.get(sc_key)
    if sha is not None:
        cached = store.get_json(conn, store.result_key(embedder.model_id, sha.decode()))
        if cached is not None:
            return dict(cached, cached=True)
    url = client.stream_url(track)
    data, _ = fetch_audio(url, UrlPolicy(config.allow), max_bytes=config.max_upload_bytes,
                          timeout=config.fetch_timeout, max_redirects=config.max_redirects,
                          headers=client.stream_headers(url))
    result = embed_bytes(data, f"SoundCloud track {track['id']}", config, embedder, conn)
    conn.set(sc_key, result["sha256"], ex=int(config.cache_ttl))
    return result


def _user_tracks(client, spec, config, embedder, conn, report):
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
    likes = client.liked_tracks(user["id"], limit=config.max_likes)
    name = user.get("username") or spec
    if not likes:
        raise JobError("soundcloud_no_likes", f"SoundCloud user {name!r} has no liked tracks",
                       {"user": spec})
    tracks, vectors, tags, skipped = [], [], [], []
    for i, track in enumerate(likes):
        try:
            result = _embed_soundcloud_track(client, track, config, embedder, conn)
        except (AudioError, FetchError, NotStreamable) as exc:
            skipped.append(dict(_track_info(track), code=exc.code, reason=str(exc)))
        else:
            tracks.append(_track_info(track))
            vectors.append(result["vector"])
            tags.append([result["tags"].get(t, 0.0) for t in embedder.vocabulary])
        report(spec, i + 1, len(likes))
    if not tracks:
        raise JobError("no_usable_tracks",
                       f"none of the {len(likes)} liked tracks of SoundCloud user {name!r} "
                       f"could be embedded (first: {skipped[0]['reason']})",
                       {"user": spec, "skipped": skipped})
    profile = {"input": spec, "id": user["id"], "username": user.get("username"),
               "url": user.get("permalink_url"), "n_likes": len(likes),
               "n_tracks": len(tracks), "skipped": skipped}
    return profile, tracks, np.asarray(vectors, dtype=np.float32), np.asarray(tags)


def compatibility_of(vectors_a, vectors_b, tags_a, tags_b, vocabulary):
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


@_reported
def compatibility(user_a, user_b):
    """Job: musical compatibility of two SoundCloud users (see the module docstring)."""
    config, embedder, conn = _state()
    done = {}

    def report(spec, count, total):
        done[spec] = (count, total)
        _progress(tracks_done=sum(c for c, _ in done.values()),
                  tracks_total=sum(t for _, t in done.values()), users_started=len(done))

    with _soundcloud_client(config) as client:
        profile_a, tracks_a, vectors_a, tags_a = _user_tracks(
            client, user_a, config, embedder, conn, report)
        profile_b, tracks_b, vectors_b, tags_b = _user_tracks(
            client, user_b, config, embedder, conn, report)
    result = compatibility_of(vectors_a, vectors_b, tags_a, tags_b, embedder.vocabulary)
    for pair in result["closest_pairs"]:
        pair["a"], pair["b"] = tracks_a[pair["a"]], tracks_b[pair["b"]]
    common = sorted({t["id"] for t in tracks_a} & {t["id"] for t in tracks_b})
    return dict(
        result, users=[profile_a, profile_b], common_tracks=common,
        model_id=embedder.model_id,
        method="taste vector = mean of the unit-normalized predicted latent vectors of the "
               "user's liked tracks; score = (1 + cosine of the two taste vectors) / 2")
