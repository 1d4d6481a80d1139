"""The HTTP API (Flask): accept work, queue it for the rq worker, report on it.

Endpoints::

    GET  /healthz                 Redis reachable and a worker with a loaded model
    POST /v1/tracks               an audio upload (multipart field "file", or the raw body
                                  with an audio/* or application/octet-stream type) or
                                  {"url": "https://..."}  -> 202 {"job_id", "status_url"}
    POST /v1/compatibility        {"user_a": name or profile URL, "user_b": ...} -> 202
    GET  /v1/jobs/<job_id>        {"job_id", "status", "result" | "error", "progress"}

Errors are JSON ``{"error": {"code", "message"}}`` with stable codes:
``bad_request``, ``invalid_url``, ``url_not_allowed``, ``empty_upload``,
``not_audio``, ``payload_too_large``, ``unauthorized``, ``not_found``,
``job_not_found``, ``method_not_allowed``, ``redis_unavailable`` (503),
``internal_error``; a failed job carries the worker's code (``undecodable``,
``too_short``, ``silent``, ``url_fetch_failed``, ``soundcloud_user_not_found``,
``soundcloud_no_likes``, ``soundcloud_rate_limited``, ``soundcloud_unavailable``,
``no_usable_tracks``, ``timeout``, ...).

No job is lost between the two: a job is answered ``202`` only once rq holds it
in Redis; the worker either finishes it or marks it failed (a worker killed
mid-job leaves it to rq's abandoned-job cleanup, which fails it).
"""

import hmac
import logging

import redis
from flask import Flask, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from krotos.service import store
from krotos.service.config import ServiceConfig

log = logging.getLogger(__name__)

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 415: "not_audio"}
AUDIO_TYPES = ("audio/", "application/octet-stream")


class ApiError(Exception):
    """An error answered as JSON with a stable code."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code


def _error(status, code, message, headers=None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def create_app(config=None, conn=None):
    """The Flask application.

    Parameters
    ----------
    config : ServiceConfig, optional
        Default: :meth:`ServiceConfig.load` (luigi.cfg ``[service]``, environment).
    conn : redis.Redis, optional
        Default: a connection to ``config.redis_url``.
    """
    from rq import Queue

    config = config or ServiceConfig.load()
    conn = conn or store.connect(config.redis_url)
    app = Flask("krotos.service")
    # Werkzeug refuses larger bodies itself (413) before they are read; the
    # multipart overhead gets a little room beyond the audio limit.
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes + 64 * 1024
    app.json.sort_keys = False
    app.extensions["krotos"] = {"config": config, "redis": conn}
    queue = Queue(config.queue, connection=conn)

    @app.errorhandler(ApiError)
    def _api_error(exc):
        return _error(exc.status, exc.code, str(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        return _error(exc.code or 500, HTTP_CODES.get(exc.code, "http_error"), exc.description)

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def _redis_down(exc):
        log.error("Redis unreachable at %s: %s", config.redis_url, exc)
        return _error(503, "redis_unavailable",
                      "the job queue (Redis) is unreachable; try again later",
                      {"Retry-After": "10"})

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, "internal_error", f"internal error ({type(exc).__name__})")

    @app.before_request
    def _authenticate():
        if not config.api_token or request.path == "/healthz":
            return None
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), config.api_token.encode()):
            return _error(401, "unauthorized", "a valid 'Authorization: Bearer <token>' "
                                               "header is required",
                          {"WWW-Authenticate": 'Bearer realm="krotos"'})
        return None

    @app.get("/healthz")
    def healthz():
        from krotos.service.worker import live_models

        try:
            conn.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            return jsonify({"status": "unavailable", "redis": False,
                            "message": f"Redis unreachable: {exc}", "workers": []}), 503
        workers = live_models(conn, config.queue)
        loaded = [w for w in workers if w.get("model")]
        body = {"status": "ok" if loaded else "no_worker", "redis": True,
                "queue": config.queue, "queued_jobs": queue.count, "workers": workers}
        if not loaded:
            body["message"] = "no worker with a loaded model listens on the queue; start " \
                              "`krotos worker`"
        return jsonify(body), 200 if loaded else 503

    def _enqueue(func, *args, description):
        job = queue.enqueue(func, *args, job_timeout=config.job_timeout,
                            result_ttl=config.result_ttl, failure_ttl=config.result_ttl,
                            description=description)
        body = {"job_id": job.id, "status": "queued",
                "status_url": url_for("get_job", job_id=job.id)}
        response = jsonify(body)
        response.status_code = 202
        response.headers["Location"] = body["status_url"]
        return response

    @app.post("/v1/tracks")
    def post_track():
        from krotos.service.fetch import FetchError, UrlPolicy

        url, data, name = _track_input()
        if url is not None:
            try:
                UrlPolicy(config.allow).check(url)
            except FetchError as exc:
                status = 400 if exc.code in ("url_not_allowed", "invalid_url") else 422
                raise ApiError(status, exc.code, str(exc)) from None
            return _enqueue("krotos.service.jobs.embed_track", {"kind": "url", "url": url},
                            description=f"embed {url[:200]}")
        _check_upload(data, name, config)
        sha = store.put_upload(conn, data, config.result_ttl)
        return _enqueue("krotos.service.jobs.embed_track",
                        {"kind": "upload", "sha256": sha, "name": name},
                        description=f"embed upload {name} ({len(data)} bytes)")

    @app.post("/v1/compatibility")
    def post_compatibility():
        from krotos.sources.soundcloud import profile_url

        body = _json_body()
        users = body.get("users")
        if users is None:
            users = [body.get("user_a"), body.get("user_b")]
        if not isinstance(users, list) or len(users) != 2 or not all(
                isinstance(u, str) and u.strip() for u in users):
            raise ApiError(400, "bad_request", 'give two SoundCloud users: {"user_a": '
                                               '"name or profile URL", "user_b": "..."}')
        for user in users:
            try:
                profile_url(user)
            except ValueError as exc:
                raise ApiError(400, "bad_request", str(exc)) from None
        return _enqueue("krotos.service.jobs.compatibility", users[0].strip(),
                        users[1].strip(), description=f"compatibility {users[0]} {users[1]}")

    @app.get("/v1/jobs/<job_id>")
    def get_job(job_id):
        return jsonify(job_status(queue, job_id))

    return app


def job_status(queue, job_id):
    """The API's view of a job: status, and result or error."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        raise ApiError(404, "job_not_found", f"no job {job_id!r} (unknown, or expired "
                                             f"after its result was kept long enough)") from None
    status = job.get_status()
    status = getattr(status, "value", status)
    body = {"job_id": job.id, "status": status,
            "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
            "ended_at": job.ended_at.isoformat() if job.ended_at else None}
    if job.meta.get("progress"):
        body["progress"] = job.meta["progress"]
    if status == "finished":
        body["result"] = job.return_value()
    elif status in ("failed", "stopped", "canceled"):
        body["status"] = "failed"
        error = job.meta.get("error")
        if not error:
            lines = [line for line in (job.exc_info or "").strip().splitlines() if line.strip()]
            error = {"code": "job_failed" if status == "failed" else status,
                     "message": lines[-1] if lines else f"the job was {status}"}
        body["error"] = {k: v for k, v in error.items() if v is not None}
    return body


def _json_body():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the request body must be a JSON object")
    return body


def _track_input():
    """``(url, None, None)`` or ``(None, bytes, name)`` from the request."""
    content_type = (request.mimetype or "").lower()
    if content_type == "application/json":
        url = _json_body().get("url")
        if not isinstance(url, str) or not url.strip():
            raise ApiError(400, "bad_request", 'a JSON body needs {"url": "https://..."}')
        return url.strip(), None, None
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        if "file" in request.files:
            upload = request.files["file"]
            return None, upload.read(), upload.filename or "upload"
        if request.form.get("url"):
            return request.form["url"].strip(), None, None
        raise ApiError(400, "bad_request", "send the audio as the form field 'file', or a "
                                           "'url' field")
    if content_type.startswith(AUDIO_TYPES):
        return None, request.get_data(cache=False), "upload"
    raise ApiError(400, "bad_request",
                   "send audio as multipart/form-data (field 'file'), as a raw body with an "
                   "audio/* or application/octet-stream Content-Type, or JSON {\"url\": ...}")


def _check_upload(data, name, config):
    from krotos.service.fetch import looks_like_text
    from krotos.sources.sniff import describe, sniff

    if not data:
        raise ApiError(400, "empty_upload", f"{name}: the upload is empty")
    if len(data) > config.max_upload_bytes:
        raise ApiError(413, "payload_too_large", f"{name}: {len(data)} bytes, the limit is "
                                                 f"{config.max_upload_bytes}")
    head = data[:64]
    if sniff(head) is None and looks_like_text(head):
        raise ApiError(415, "not_audio", f"{name}: not audio ({describe(head)})")
