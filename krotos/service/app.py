"""The service over HTTP (Flask): a web page for people, a JSON API for programs.

Page (server-rendered HTML, a little plain JavaScript that polls the job)::

    GET  /                        the form: two SoundCloud profiles, or two sets of files
    POST /                        validate; a form error, or a job and a redirect to it
    GET  /jobs/<job_id>           progress while it runs; the result or the error after
    GET  /jobs/<job_id>/status    the job as JSON (what the page's script polls)
    GET|POST /login               asks for the API token once per browser session

API::

    GET  /healthz                 ok / not ok; details with the API token
    POST /v1/tracks               an audio upload (multipart field "file", or the raw body
                                  with an audio/* or application/octet-stream type) or
                                  {"url": "https://..."}  -> 202 {"job_id", "status_url"}
    POST /v1/compatibility        {"user_a": name or profile URL, "user_b": ...} -> 202
    GET  /v1/jobs/<job_id>        {"job_id", "status", "result" | "error", "progress"}

API errors are JSON ``{"error": {"code", "message"}}`` with stable codes:
``bad_request``, ``same_user``, ``invalid_url``, ``url_not_allowed``,
``empty_upload``, ``not_audio``, ``payload_too_large``, ``unauthorized``,
``rate_limited``, ``not_found``, ``job_not_found``, ``method_not_allowed``,
``headers_too_large``, ``redis_unavailable`` (503), ``internal_error``; a
failed job carries the worker's code.

Security: Jinja escapes everything SoundCloud or an upload names; Talisman
sends a Content-Security-Policy (scripts and styles from this origin only)
and the other security headers; flask-limiter counts job creation per client
address in Redis (``rate_limit``); Flask-WTF checks a CSRF token on the
page's forms. The token never appears in a URL: the page posts it once and
keeps a digest of it in the signed session cookie.

No job is lost: a job is answered ``202`` only once rq holds it in Redis; it
ends ``finished`` or ``failed`` (see :mod:`krotos.service.worker` for a
worker that dies under it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import TYPE_CHECKING

import redis
from flask import (Blueprint, Flask, jsonify, redirect, render_template, request,
                   session, url_for)
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler

from krotos.service import store
from krotos.service.config import ServiceConfig

if TYPE_CHECKING:
    from rq import Queue

log = logging.getLogger(__name__)

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 415: "not_audio",
              429: "rate_limited", 431: "headers_too_large"}
AUDIO_TYPES = ("audio/", "application/octet-stream")
CSP = {"default-src": "'self'", "script-src": "'self'", "style-src": "'self'",
       "img-src": "'self' data:", "object-src": "'none'", "base-uri": "'none'",
       "frame-ancestors": "'none'", "form-action": "'self'"}


class ApiError(Exception):
    """An error answered as JSON with a stable code."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code


class FormError(Exception):
    """A mistake in the page's form: shown beside the form, no job created."""


def _error(status, code, message, headers=None):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


class JsonErrorRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, answering its own errors (431, 414, 400) in JSON.

    ``http.server`` refuses over-long request lines and headers before the
    application sees them, with an HTML page; an API client expects JSON.
    """

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        body = json.dumps({"error": {"code": HTTP_CODES.get(code, "http_error"),
                                     "message": message or explain or str(code)}}).encode()
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass
        self.close_connection = True


def _token_digest(config):
    return hashlib.sha256(f"krotos-page:{config.api_token}".encode()).hexdigest()[:32]


def create_app(config: ServiceConfig | None = None, conn: redis.Redis | None = None) -> Flask:
    """The Flask application.

    Parameters
    ----------
    config : ServiceConfig, optional
        Default: :meth:`ServiceConfig.load` (luigi.cfg ``[service]``, environment).
    conn : redis.Redis, optional
        Default: a connection to ``config.redis_url``.
    """
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address
    from flask_talisman import Talisman
    from flask_wtf.csrf import CSRFProtect
    from rq import Queue

    config = config or ServiceConfig.load()
    conn = conn or store.connect(config.redis_url)
    app = Flask("krotos.service")
    # Werkzeug refuses larger bodies itself (413) before they are read; the
    # multipart overhead gets a little room beyond the audio limit.
    app.config.update(
        MAX_CONTENT_LENGTH=config.max_upload_bytes + 64 * 1024,
        SECRET_KEY=config.secret_key or secrets.token_hex(32),
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=None)
    app.json.sort_keys = False
    app.extensions["krotos"] = {"config": config, "redis": conn}
    queue = Queue(config.queue, connection=conn)
    Talisman(app, content_security_policy=CSP, force_https=config.behind_https,
             strict_transport_security=config.behind_https,
             session_cookie_secure=config.behind_https, referrer_policy="no-referrer")
    csrf = CSRFProtect(app)
    limiter = Limiter(get_remote_address, app=app, storage_uri=config.redis_url,
                      strategy="fixed-window", swallow_errors=True,
                      key_prefix=f"krotos-limits:{config.queue}")
    limit_jobs = limiter.limit(config.rate_limit, methods=["POST"],
                               error_message="too many jobs from this address")

    def wants_json():
        path = request.path
        page = path == "/" or path.startswith(("/login", "/jobs/", "/static/"))
        return not page or path.endswith("/status")

    @app.errorhandler(ApiError)
    def _api_error(exc):
        return _error(exc.status, exc.code, str(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        code = HTTP_CODES.get(exc.code, "http_error")
        message = exc.description
        if exc.code == 429:
            message = f"too many jobs from this address (limit {config.rate_limit}); " \
                      f"try again later"
        if wants_json():
            return _error(exc.code or 500, code, message)
        return render_template("error.html", status=exc.code, code=code,
                               message=message), exc.code or 500

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def _redis_down(exc):
        log.error("Redis unreachable at %s: %s", config.redis_url, exc)
        message = "the job queue (Redis) is unreachable; try again later"
        if wants_json():
            return _error(503, "redis_unavailable", message, {"Retry-After": "10"})
        return render_template("error.html", status=503, code="redis_unavailable",
                               message=message), 503

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, "internal_error", f"internal error ({type(exc).__name__})")

    def token_given():
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), config.api_token.encode())

    def enqueue(func, *args, description):
        from rq import Callback, Retry

        from krotos.service.jobs import release_uploads

        retry = Retry(max=config.job_retries) if config.job_retries else None
        return queue.enqueue(func, *args, job_timeout=config.job_timeout,
                             result_ttl=config.result_ttl, failure_ttl=config.result_ttl,
                             description=description, retry=retry,
                             on_success=Callback(release_uploads),
                             on_failure=Callback(release_uploads))

    def enqueue_answer(func, *args, description):
        job = enqueue(func, *args, description=description)
        body = {"job_id": job.id, "status": "queued",
                "status_url": url_for("api.get_job", job_id=job.id)}
        response = jsonify(body)
        response.status_code = 202
        response.headers["Location"] = body["status_url"]
        return response

    # -- the API -----------------------------------------------------------------

    api = Blueprint("api", __name__)
    csrf.exempt(api)

    @api.before_request
    def _authenticate():
        if not config.api_token or token_given():
            return None
        return _error(401, "unauthorized", "a valid 'Authorization: Bearer <token>' header "
                                           "is required",
                      {"WWW-Authenticate": 'Bearer realm="krotos"'})

    @api.post("/v1/tracks")
    @limit_jobs
    def post_track():
        from krotos.service.fetch import FetchError, UrlPolicy

        url, data, name = _track_input()
        if url is not None:
            try:
                UrlPolicy(config.allow).check(url)
            except FetchError as exc:
                status = 400 if exc.code in ("url_not_allowed", "invalid_url") else 422
                raise ApiError(status, exc.code, str(exc)) from None
            return enqueue_answer("krotos.service.jobs.embed_track",
                                  {"kind": "url", "url": url},
                                  description=f"embed {url[:200]}")
        _check_upload(data, name, config)
        key = store.put_upload(conn, data, config.result_ttl)
        return enqueue_answer("krotos.service.jobs.embed_track",
                              {"kind": "upload", "key": key, "name": name},
                              description=f"embed upload {name} ({len(data)} bytes)")

    @api.post("/v1/compatibility")
    @limit_jobs
    def post_compatibility():
        body = _json_body()
        users = body.get("users")
        if users is None:
            users = [body.get("user_a"), body.get("user_b")]
        if not isinstance(users, list) or len(users) != 2 or not all(
                isinstance(u, str) and u.strip() for u in users):
            raise ApiError(400, "bad_request", 'give two SoundCloud users: {"user_a": '
                                               '"name or profile URL", "user_b": "..."}')
        try:
            users = _two_users(*users)
        except FormError as exc:
            raise ApiError(400, exc.args[1] if len(exc.args) > 1 else "bad_request",
                           exc.args[0]) from None
        return enqueue_answer("krotos.service.jobs.compatibility", *users,
                              description=f"compatibility {users[0]} {users[1]}")

    @api.get("/v1/jobs/<job_id>")
    def get_job(job_id):
        return jsonify(job_status(queue, job_id))

    app.register_blueprint(api)

    @app.get("/healthz")
    def healthz():
        from krotos.service.worker import live_models

        details = not config.api_token or token_given()
        try:
            conn.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            body = {"status": "unavailable"}
            if details:
                body.update(redis=False, message=f"Redis unreachable: {exc}")
            return jsonify(body), 503
        workers = live_models(conn, config.queue)
        loaded = [w for w in workers if w.get("model_id")]
        body = {"status": "ok" if loaded else "no_worker"}
        if details:
            body.update(redis=True, queue=config.queue, queued_jobs=queue.count,
                        workers=workers)
            if not loaded:
                body["message"] = ("no worker with a loaded model beats on the queue; start "
                                   "`krotos worker`")
        return jsonify(body), 200 if loaded else 503

    # -- the page ----------------------------------------------------------------

    web = Blueprint("web", __name__)

    @web.before_request
    def _page_login():
        if not config.api_token or request.endpoint == "web.login":
            return None
        if hmac.compare_digest(str(session.get("auth", "")), _token_digest(config)):
            return None
        if request.endpoint == "web.job_json":
            return _error(401, "unauthorized", "the session has ended; reload the page")
        return redirect(url_for("web.login", next=request.path if request.method == "GET"
                                else "/"))

    @web.route("/login", methods=["GET", "POST"])
    def login():
        error = None
        if request.method == "POST":
            given = request.form.get("token", "")
            if hmac.compare_digest(given.encode(), config.api_token.encode()):
                session["auth"] = _token_digest(config)
                target = request.args.get("next", "/")
                return redirect(target if target.startswith("/") and not target.startswith(
                    "//") else "/")
            error = "That is not the service's token."
        return render_template("login.html", error=error), 401 if error else 200

    @web.get("/")
    def index():
        return render_template("index.html", form={}, errors=[], settings=config)

    @web.post("/")
    @limit_jobs
    def submit():
        form = {"user_a": request.form.get("user_a", "").strip(),
                "user_b": request.form.get("user_b", "").strip()}
        try:
            job = _page_job(form)
        except FormError as exc:
            return render_template("index.html", form=form, errors=[exc.args[0]],
                                   settings=config), 400
        return redirect(url_for("web.job_page", job_id=job.id), code=303)

    def _page_job(form):
        files_a = [f for f in request.files.getlist("files_a") if f.filename]
        files_b = [f for f in request.files.getlist("files_b") if f.filename]
        if form["user_a"] or form["user_b"]:
            if files_a or files_b:
                raise FormError("Give either two SoundCloud profiles or two sets of files, "
                                "not both.")
            if not form["user_a"] or not form["user_b"]:
                raise FormError("Give both SoundCloud profiles.")
            users = _two_users(form["user_a"], form["user_b"])
            return enqueue("krotos.service.jobs.compatibility", *users,
                           description=f"compatibility {users[0]} {users[1]}")
        if not files_a or not files_b:
            raise FormError("Give two SoundCloud profiles (a username or a "
                            "https://soundcloud.com/... link), or two sets of audio files.")
        sets = []
        for label, files in (("A", files_a), ("B", files_b)):
            if len(files) > config.max_likes:
                raise FormError(f"Set {label} has {len(files)} files; at most "
                                f"{config.max_likes} per set.")
            items = []
            for upload in files:
                data = upload.read()
                try:
                    _check_upload(data, upload.filename, config)
                except ApiError as exc:
                    raise FormError(f"Set {label}: {exc}") from None
                items.append({"key": store.put_upload(conn, data, config.result_ttl),
                              "name": upload.filename})
            sets.append(items)
        return enqueue("krotos.service.jobs.compatibility_of_uploads", *sets,
                       description=f"compatibility of {len(sets[0])} and {len(sets[1])} "
                                   f"uploaded files")

    @web.get("/jobs/<job_id>")
    def job_page(job_id):
        try:
            body = job_status(queue, job_id)
        except ApiError as exc:
            return render_template("error.html", status=404, code=exc.code,
                                   message=str(exc)), 404
        return render_template("job.html", job=body, settings=config)

    @web.get("/jobs/<job_id>/status")
    def job_json(job_id):
        return jsonify(job_status(queue, job_id))

    app.register_blueprint(web)
    return app


def _two_users(user_a, user_b):
    """Both users as given, after checking they are two different SoundCloud profiles."""
    from krotos.sources.soundcloud import profile_url

    canonical = []
    for user in (user_a, user_b):
        try:
            canonical.append(profile_url(user))
        except ValueError as exc:
            raise FormError(f"{exc}.", "bad_request") from None
    if canonical[0] == canonical[1]:
        raise FormError(f"both profiles are {canonical[0]}: give two different users",
                        "same_user")
    return user_a.strip(), user_b.strip()


def job_status(queue: Queue, job_id: str) -> dict:
    """The API's view of a job: status, and result or error.

    A started job whose worker stopped beating is handed to rq's abandoned-job
    handling first (retried, or failed with ``worker_lost``).
    """
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        raise ApiError(404, "job_not_found", f"no job {job_id!r} (unknown, or expired "
                                             f"after its result was kept long enough)") from None
    status = job.get_status()
    status = getattr(status, "value", status)
    if status == "started":
        queue.started_job_registry.cleanup()
        status = job.get_status()
        status = getattr(status, "value", status)
    if status in ("finished", "failed", "stopped", "canceled"):
        # get_status() reads the status afresh, but meta (the error) and the
        # result were read at fetch time, possibly before the worker wrote them.
        job.refresh()
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
            info = job.exc_info or ""
            if "AbandonedJobError" in info:
                error = {"code": "worker_lost",
                         "message": "the worker running this job stopped (killed or "
                                    "crashed), and so did every retry; submit it again"}
            else:
                error = {"code": "job_failed" if status == "failed" else status,
                         "message": f"the job was {status}"}
        body["error"] = {k: v for k, v in error.items() if v is not None}
    return body


def _json_body():
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None  # nested deeper than the parser goes: not a request of ours
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
    from krotos.inference import EMPTY, AudioError, audio_container

    if not data:
        raise ApiError(400, "empty_upload", f"{name}: the upload is empty")
    if len(data) > config.max_upload_bytes:
        raise ApiError(413, "payload_too_large", f"{name}: {len(data)} bytes, the limit is "
                                                 f"{config.max_upload_bytes}")
    try:
        audio_container(data, name)
    except AudioError as exc:
        if exc.code == EMPTY:
            raise ApiError(400, "empty_upload", str(exc)) from None
        raise ApiError(415, "not_audio", str(exc)) from None
