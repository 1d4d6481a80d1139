"""Client for the 7digital preview-clip API.

``GET {base_url}{track_7digitalid}?country=..`` signed with OAuth 1.0 (HMAC-SHA1,
consumer key and secret only, signature in the query string, as 7digital's
preview endpoint expects) returns the 30 s mp3 clip of a track.

Retries are done with tenacity around the whole request rather than with
urllib3's ``Retry`` inside the connection pool: each attempt must be signed
afresh (a replayed OAuth nonce is refused by a strict server), and a body
that is cut off mid-transfer has to be retried too, which urllib3 cannot do
once the response has been handed over for streaming.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import requests
import tenacity
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth1
from urllib3.util.retry import Retry

from krotos.shards import status as st
from krotos.sources.sniff import NotAudio, check_audio_file, describe

DEFAULT_BASE_URL = "https://previews.7digital.com/clip/"
KEY_ENV = "KROTOS_7DIGITAL_KEY"
SECRET_ENV = "KROTOS_7DIGITAL_SECRET"

#: Status codes worth another try: rate limiting and server trouble.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class AuthError(RuntimeError):
    """The server refused the credentials (HTTP 401): a configuration error,
    not a problem of one track, so it stops the run."""


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's wish, if any."""

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


class _Missing(Exception):
    """HTTP 404/410: 7digital has no preview for this id."""


class _Failed(Exception):
    """A definitive per-track failure (other 4xx, non-audio body)."""


class RateLimiter:
    """At most ``rate`` request starts per second (0 = unlimited), thread-safe.

    The limit holds per client, i.e. per worker process.
    """

    def __init__(self, rate):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until this call's turn: at most ``rate`` calls a second, across threads."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class _WaitRetryAfter(tenacity.wait.wait_base):
    """Wait what the server's ``Retry-After`` says, else exponential backoff."""

    def __init__(self, fallback, cap):
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state):
        exc = retry_state.outcome.exception()
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        return self.fallback(retry_state)


def credentials(consumer_key: str | None = None,
                consumer_secret: str | None = None) -> tuple[str, str]:
    """The consumer key and secret from the arguments or the environment.

    Raises
    ------
    ValueError
        When either is missing, naming the setting and the variable to set.
    """
    key = consumer_key or os.environ.get(KEY_ENV, "")
    secret = consumer_secret or os.environ.get(SECRET_ENV, "")
    if not key or not secret:
        raise ValueError(
            "the 7digital source needs an OAuth consumer key and secret: set "
            f"[FetchPreviews] consumer_key/consumer_secret or ${KEY_ENV}/${SECRET_ENV}")
    return key, secret


class SevenDigitalClient:
    """Download 7digital preview clips.

    Parameters
    ----------
    consumer_key, consumer_secret : str
        OAuth 1.0 consumer credentials (see :func:`credentials`).
    base_url : str
        Clip endpoint; the 7digital id is appended.
    country : str
        Shop country code sent as ``country=`` (previews are licensed per country).
    timeout : float or (float, float)
        Connect and read timeouts in seconds.
    retries : int
        Further attempts after the first on 429, 5xx, timeouts, dropped
        connections and truncated bodies.
    backoff : float
        First backoff in seconds, doubling (with jitter) up to ``max_wait``;
        a ``Retry-After`` header replaces it.
    max_wait : float
        Longest single wait, also the cap on ``Retry-After``.
    rate_limit : float
        Requests per second (0 = no limit).
    max_seconds : float
        Give up on a transfer that trickles on for longer than this.
    session : requests.Session, optional
        Reused for every request (connection keep-alive); one is made if absent.
    """

    def __init__(self, consumer_key, consumer_secret, base_url=DEFAULT_BASE_URL,
                 country="US", timeout=(5.0, 30.0), retries=4, backoff=1.0,
                 max_wait=60.0, rate_limit=5.0, max_seconds=120.0, session=None):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.country = country
        self.timeout = timeout
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_wait = float(max_wait)
        self.max_seconds = float(max_seconds)
        self._auth = OAuth1(consumer_key, client_secret=consumer_secret,
                            signature_type="query")
        self._limiter = RateLimiter(rate_limit)
        if session is None:
            session = requests.Session()
            # Retries are ours (see the module docstring); the adapter only pools.
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = "krotos/0.1 python-requests"
        self.session = session

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def url(self, track_7digitalid: int | str) -> str:
        """Unsigned clip URL of a 7digital track id."""
        return f"{self.base_url}{int(track_7digitalid)}"

    def fetch(self, track_7digitalid: int | str, dest: str | os.PathLike) -> dict:
        """Download one preview to ``dest`` unless a valid copy is there.

        The body goes to ``dest + '.part'`` and is renamed only once it has
        been checked to be complete audio.

        Returns
        -------
        dict
            ``{"path", "status", "reason"}``: status ``ok``,
            ``missing_preview`` (404/410) or ``fetch_failed`` (retries
            exhausted, other 4xx, non-audio or truncated body).

        Raises
        ------
        AuthError
            On HTTP 401 (wrong key or secret).
        """
        dest = os.fspath(dest)
        url = self.url(track_7digitalid)
        if os.path.exists(dest):
            try:
                check_audio_file(dest)
                return {"path": dest, "status": st.OK, "reason": "already on disk"}
            except NotAudio:
                os.remove(dest)  # an earlier bad body; fetch again
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        part = dest + ".part"
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=_WaitRetryAfter(
                tenacity.wait_exponential_jitter(multiplier=self.backoff, max=self.max_wait,
                                                  jitter=self.backoff),
                cap=self.max_wait),
            reraise=True)
        try:
            retrying(self._download, url, part)
            os.replace(part, dest)
            return {"path": dest, "status": st.OK, "reason": ""}
        except _Missing as exc:
            return {"path": None, "status": st.MISSING_PREVIEW, "reason": str(exc)}
        except (_Transient, _Failed) as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            return {"path": None, "status": st.FETCH_FAILED,
                    "reason": f"{exc} (after {attempts} attempt(s))"}
        finally:
            if os.path.exists(part):
                os.remove(part)

    def _download(self, url, part):
        self._limiter.wait()
        try:
            response = self.session.get(url, params={"country": self.country},
                                        auth=self._auth, stream=True,
                                        timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise _Transient(f"{url}: {type(exc).__name__}: {exc}") from exc
        with response:
            code = response.status_code
            if code == 401:
                raise AuthError(f"{url}: HTTP 401 (check the 7digital consumer key/secret)")
            if code in (404, 410):
                raise _Missing(f"{url}: HTTP {code}, no preview")
            if code in RETRY_STATUSES:
                raise _Transient(f"{url}: HTTP {code}",
                                 retry_after=_retry_after(response))
            if code != 200:
                raise _Failed(f"{url}: HTTP {code}")
            ctype = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype.startswith(("text/", "application/json", "application/xml")):
                head = response.raw.read(64, decode_content=True) or b""
                raise _Failed(f"{url}: not audio (Content-Type {ctype}, {describe(head)})")
            expected = response.headers.get("Content-Length")
            expected = int(expected) if expected and expected.isdigit() and \
                not response.headers.get("Content-Encoding") else None
            started = time.monotonic()
            try:
                with open(part, "wb") as f:
                    for chunk in response.iter_content(chunk_size=64 * 1024):
                        f.write(chunk)
                        if time.monotonic() - started > self.max_seconds:
                            raise _Transient(f"{url}: transfer slower than "
                                             f"max_seconds={self.max_seconds:g}")
            except (requests.RequestException, OSError) as exc:
                # urllib3 notices a body shorter than its Content-Length here.
                raise _Transient(f"{url}: transfer broken off "
                                 f"({type(exc).__name__}: {exc})") from exc
        try:
            check_audio_file(part, expected_size=expected)
        except NotAudio as exc:
            message = str(exc).replace(part, url)
            if "truncated" in message:
                raise _Transient(message) from exc
            raise _Failed(message) from exc


def _retry_after(response):
    """Seconds from a ``Retry-After`` header (delta or HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(Retry(0).parse_retry_after(value))
    except Exception:  # urllib3 raises InvalidHeader on garbage; fall back to backoff
        return None


class SevenDigitalPreviews:
    """The 7digital source: downloads each track's preview into ``folder``.

    Parameters
    ----------
    client : SevenDigitalClient
    folder : str
        Where ``<track_7digitalid>.mp3`` files are kept; a valid file there is
        not downloaded again, so an interrupted shard resumes.
    """

    #: Files land in ``folder`` and are moved into the shard's output.
    downloads = True

    def __init__(self, client, folder):
        self.client = client
        self.folder = os.path.abspath(os.fspath(folder))

    def get(self, track: Any) -> dict:
        """Fetch one track (a ``TagDB`` Track); returns a preview record."""
        if not track.track_7digitalid:
            return {"track_id": track.track_id, "path": None,
                    "status": st.MISSING_PREVIEW,
                    "reason": f"{track.track_id} has no track_7digitalid"}
        dest = os.path.join(self.folder, f"{int(track.track_7digitalid)}.mp3")
        result = self.client.fetch(track.track_7digitalid, dest)
        return {"track_id": track.track_id, **result}
