"""Settings of the web service and its workers.

Read, later ones winning, from: the ``[service]`` section of luigi.cfg, the
environment (``KROTOS_REDIS_URL``, ``KROTOS_API_TOKEN``, ``KROTOS_MODEL``,
``KROTOS_SOUNDCLOUD_CLIENT_ID``, ``KROTOS_SOUNDCLOUD_CLIENT_SECRET``,
``KROTOS_SECRET_KEY``), and the command line of ``krotos serve`` / ``krotos worker``. The API and the workers
must share ``redis_url`` and ``queue``; the URL allow-list and the download
limits are enforced by both (the API on submission, the workers on every
request and redirect they make).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

ENVIRONMENT = {
    "redis_url": "KROTOS_REDIS_URL",
    "api_token": "KROTOS_API_TOKEN",
    "model": "KROTOS_MODEL",
    "soundcloud_client_id": "KROTOS_SOUNDCLOUD_CLIENT_ID",
    "soundcloud_client_secret": "KROTOS_SOUNDCLOUD_CLIENT_SECRET",
    "secret_key": "KROTOS_SECRET_KEY",
}


@dataclasses.dataclass
class ServiceConfig:
    """Everything the API and the workers need to agree on.

    Attributes
    ----------
    redis_url : str
        Redis holding the job queue, the uploads waiting for a worker and the
        result cache.
    queue : str
        rq queue name.
    api_token : str
        When set, every ``/v1`` request needs ``Authorization: Bearer <token>``,
        and the web page asks for it once per browser session.
    secret_key : str
        Signs the web page's session cookie; empty: a random key per process
        (sessions then end when the server restarts, and several server
        processes need the same key).
    behind_https : bool
        The service is reached over HTTPS: redirect plain HTTP, send HSTS,
        mark cookies secure.
    rate_limit : str
        Jobs one client (address) may create, e.g. ``"10 per minute"``
        (flask-limiter syntax; counted in Redis, so shared by all servers).
    max_upload_bytes : int
        Largest request body (one upload, or all files of the page's two
        sets), and largest download of an audio URL or stream.
    max_audio_seconds : float
        Audio is decoded up to this point and cut there (the result says
        ``cut``); with the accepted sample rates this bounds a job's memory.
    allow : tuple of str
        Hosts, addresses or networks (CIDR) that audio URLs and stream URLs may
        reach although they are loopback, link-local or private.
    fetch_timeout : float
        Wall-clock deadline of one audio download (connection, redirects and
        body together), seconds.
    max_redirects : int
        Redirects followed by an audio download (each target checked).
    job_timeout : int
        Seconds a job may run before the worker kills it (it is then failed).
    worker_heartbeat : int
        Seconds between a worker's heartbeats. A worker missing three is
        dead: it leaves ``/healthz``, and its job is retried (``job_retries``)
        or failed with ``worker_lost``.
    job_retries : int
        Times a job whose worker died is run again.
    result_ttl : int
        Seconds a finished or failed job stays readable at ``/v1/jobs/<id>``.
    cache_ttl : int
        Seconds an embedding stays cached under its audio's content hash.
    max_likes : int
        Liked tracks of each user embedded for a compatibility score (most
        recent), and files per set on the page.
    model : str
        A ``FinetuneModel`` output folder; empty = the current configuration's
        (found by ``krotos worker``; a plain ``rq worker`` needs it set).
    soundcloud_client_id, soundcloud_client_secret : str
        The SoundCloud application's credentials (client-credentials grant).
    soundcloud_api_url, soundcloud_token_url : str
    soundcloud_retries : int
    soundcloud_backoff, soundcloud_max_wait : float
    soundcloud_page_size : int
    """

    redis_url: str = "redis://127.0.0.1:6379/0"
    queue: str = "krotos"
    api_token: str = ""
    secret_key: str = ""
    behind_https: bool = False
    rate_limit: str = "10 per minute"
    max_upload_bytes: int = 25 * 1024 * 1024
    max_audio_seconds: float = 300.0
    allow: tuple = ()
    fetch_timeout: float = 30.0
    max_redirects: int = 5
    job_timeout: int = 900
    worker_heartbeat: int = 5
    job_retries: int = 1
    result_ttl: int = 24 * 3600
    cache_ttl: int = 30 * 24 * 3600
    max_likes: int = 50
    model: str = ""
    soundcloud_api_url: str = "https://api.soundcloud.com"
    soundcloud_token_url: str = "https://secure.soundcloud.com/oauth/token"
    soundcloud_client_id: str = ""
    soundcloud_client_secret: str = ""
    soundcloud_retries: int = 3
    soundcloud_backoff: float = 0.5
    soundcloud_max_wait: float = 30.0
    soundcloud_page_size: int = 50

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> ServiceConfig:
        """Build from strings (config file, environment, flags); unknown keys are an error."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"unknown service setting(s) {unknown}; known: {sorted(fields)}")
        kwargs = {}
        for key, value in values.items():
            if value is None:
                continue
            default = fields[key].default
            try:
                if key == "allow":
                    kwargs[key] = _split_list(value)
                elif isinstance(default, bool):
                    kwargs[key] = str(value).lower() in ("1", "true", "yes", "on")
                elif isinstance(default, int):
                    kwargs[key] = int(value)
                elif isinstance(default, float):
                    kwargs[key] = float(value)
                else:
                    kwargs[key] = str(value)
            except ValueError:
                raise ValueError(f"service setting {key} = {value!r} is not a valid "
                                 f"{type(default).__name__}") from None
        config = cls(**kwargs)
        for key in ("max_upload_bytes", "job_timeout", "result_ttl", "cache_ttl", "max_likes",
                    "worker_heartbeat", "max_audio_seconds"):
            if getattr(config, key) <= 0:
                raise ValueError(f"service setting {key} must be > 0")
        if config.job_retries < 0:
            raise ValueError("service setting job_retries must be >= 0")
        try:
            from limits import parse_many

            parse_many(config.rate_limit)
        except ValueError as exc:
            raise ValueError(f"service setting rate_limit = {config.rate_limit!r}: {exc}"
                             ) from None
        return config

    @property
    def heartbeat_ttl(self) -> int:
        """Seconds after which a silent worker counts as dead."""
        return 3 * int(self.worker_heartbeat)

    @classmethod
    def load(cls, overrides: Mapping[str, object] | None = None,
             environ: Mapping[str, str] | None = None) -> ServiceConfig:
        """luigi.cfg ``[service]``, then the environment, then ``overrides`` (flags)."""
        values = dict(_luigi_section("service"))
        environ = os.environ if environ is None else environ
        for key, var in ENVIRONMENT.items():
            if environ.get(var):
                values[key] = environ[var]
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.from_mapping(values)


def _split_list(value):
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = str(value).replace(",", " ").split()
    return tuple(str(v).strip() for v in items if str(v).strip())


def _luigi_section(name):
    import luigi.configuration

    config = luigi.configuration.get_config()
    if not config.has_section(name):
        return {}
    return {key: value for key, value in config.items(name)}
