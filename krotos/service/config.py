"""Settings of the web service and its workers.

Read, later ones winning, from: the ``[service]`` section of luigi.cfg, the
environment (``KROTOS_REDIS_URL``, ``KROTOS_API_TOKEN``, ``KROTOS_MODEL``,
``KROTOS_SOUNDCLOUD_CLIENT_ID``, ``KROTOS_SOUNDCLOUD_ACCESS_TOKEN``), and the
command line of ``krotos serve`` / ``krotos worker``. The API and the workers
must share ``redis_url`` and ``queue``; the URL allow-list and the download
limits are enforced by both (the API on submission, the workers on every
request and redirect they make).
"""

import dataclasses
import os

ENVIRONMENT = {
    "redis_url": "KROTOS_REDIS_URL",
    "api_token": "KROTOS_API_TOKEN",
    "model": "KROTOS_MODEL",
    "soundcloud_client_id": "KROTOS_SOUNDCLOUD_CLIENT_ID",
    "soundcloud_access_token": "KROTOS_SOUNDCLOUD_ACCESS_TOKEN",
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
        When set, every ``/v1`` request needs ``Authorization: Bearer <token>``.
    max_upload_bytes : int
        Largest upload, and largest download of an audio URL or stream.
    allow : tuple of str
        Hosts, addresses or networks (CIDR) that audio URLs and stream URLs may
        reach although they are loopback, link-local or private.
    fetch_timeout : float
        Connect/read timeout of audio downloads, seconds.
    max_redirects : int
        Redirects followed by an audio download (each target checked).
    job_timeout : int
        Seconds a job may run before the worker kills it (it is then failed).
    result_ttl : int
        Seconds a finished or failed job stays readable at ``/v1/jobs/<id>``.
    cache_ttl : int
        Seconds an embedding stays cached under its audio's content hash.
    max_likes : int
        Liked tracks of each user embedded for a compatibility score (most recent).
    model : str
        A ``FinetuneLatents`` output folder; empty = the current configuration's.
    soundcloud_api_url, soundcloud_client_id, soundcloud_access_token : str
    soundcloud_retries : int
    soundcloud_backoff, soundcloud_max_wait : float
    soundcloud_page_size : int
    """

    redis_url: str = "redis://127.0.0.1:6379/0"
    queue: str = "krotos"
    api_token: str = ""
    max_upload_bytes: int = 25 * 1024 * 1024
    allow: tuple = ()
    fetch_timeout: float = 30.0
    max_redirects: int = 5
    job_timeout: int = 900
    result_ttl: int = 24 * 3600
    cache_ttl: int = 30 * 24 * 3600
    max_likes: int = 50
    model: str = ""
    soundcloud_api_url: str = "https://api.soundcloud.com"
    soundcloud_client_id: str = ""
    soundcloud_access_token: str = ""
    soundcloud_retries: int = 3
    soundcloud_backoff: float = 0.5
    soundcloud_max_wait: float = 30.0
    soundcloud_page_size: int = 50

    @classmethod
    def from_mapping(cls, values):
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
        for key in ("max_upload_bytes", "job_timeout", "result_ttl", "cache_ttl", "max_likes"):
            if getattr(config, key) <= 0:
                raise ValueError(f"service setting {key} must be > 0")
        return config

    @classmethod
    def load(cls, overrides=None, environ=None):
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
