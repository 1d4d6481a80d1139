"""A small client of the SoundCloud HTTP API: users, their liked tracks, stream URLs.

**Authentication** (SoundCloud's OAuth 2.1, client-credentials grant): the
application's ``client_id`` and ``client_secret`` are exchanged at the token
endpoint (default ``https://secure.soundcloud.com/oauth/token``, HTTP Basic
credentials, ``grant_type=client_credentials``) for an access token that
lasts about an hour; every API request carries ``Authorization: OAuth
<token>``. The exchange is requests-oauthlib's (``OAuth2Session`` with a
``BackendApplicationClient``). The token is fetched on first use, cached per
process (every client of the same credentials shares it), replaced shortly
before it expires (:data:`REFRESH_MARGIN`), and fetched once more when the
API answers 401 anyway (revoked, clock skew). SoundCloud's refresh tokens are
single-use, which several worker processes sharing credentials cannot
honour, so a new client-credentials token is asked for instead.

Endpoints used (``api_url``, default ``https://api.soundcloud.com``):

``GET /resolve?url=https://soundcloud.com/<permalink>``
    the user object (``{"kind": "user", "id", "urn", "username", ...}``);
    404 when nobody has that profile.
``GET /users/<urn>/likes/tracks?limit=N&linked_partitioning=true``
    pages ``{"collection": [track, ...], "next_href": url or null}``;
    ``next_href`` is followed until it is null (or enough tracks are in).
``GET /tracks/<urn>/streams``
    ``{"http_mp3_128_url", "hls_mp3_128_url", "hls_aac_160_url",
    "preview_mp3_128_url"}``. The progressive mp3 (else the preview) is used:
    HLS is a playlist, which the service refuses to decode. Those URLs are on
    the API host, need the token, and redirect to the CDN.

The token goes to the API host only, never to the CDN that stream URLs
redirect to, and a ``next_href`` that leaves the API host is refused.

Rate limits and server trouble (429, 500, 502, 503, 504, dropped connections)
are retried by urllib3's ``Retry`` in the connection pool, waiting what
``Retry-After`` asks, capped at ``max_retry_wait``, else exponential backoff;
the token endpoint is retried the same way (its POST only asks for a new
token, so replaying it is harmless).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import urllib.parse
from collections.abc import Callable

import requests
from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth2Session
from urllib3.util.retry import Retry

DEFAULT_API_URL = "https://api.soundcloud.com"
DEFAULT_TOKEN_URL = "https://secure.soundcloud.com/oauth/token"
PROFILE_HOSTS = frozenset({"soundcloud.com", "www.soundcloud.com", "m.soundcloud.com"})
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: A token is replaced when less than this part of its lifetime is left (at
#: most 60 s before it expires).
REFRESH_MARGIN = 0.1
_PERMALINK = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
#: Settings named in messages about credentials.
CREDENTIAL_SETTINGS = ("[service] soundcloud_client_id / soundcloud_client_secret "
                       "($KROTOS_SOUNDCLOUD_CLIENT_ID / $KROTOS_SOUNDCLOUD_CLIENT_SECRET)")


class SoundCloudError(Exception):
    """A SoundCloud request failed; ``code`` is stable, the message says what happened."""

    code = "soundcloud_error"

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class UserNotFound(SoundCloudError):
    code = "soundcloud_user_not_found"


class RateLimited(SoundCloudError):
    code = "soundcloud_rate_limited"


class Unavailable(SoundCloudError):
    code = "soundcloud_unavailable"


class AuthError(SoundCloudError):
    code = "soundcloud_auth_failed"


class NotStreamable(SoundCloudError):
    code = "not_streamable"


class _CappedRetry(Retry):
    """urllib3's Retry with ``Retry-After`` capped, so a server cannot park a worker."""

    def __init__(self, *args, max_retry_after=30.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_retry_after = float(max_retry_after)

    def new(self, **kwargs):
        retry = super().new(**kwargs)
        retry.max_retry_after = self.max_retry_after
        return retry

    def get_retry_after(self, response):
        wait = super().get_retry_after(response)
        return None if wait is None else min(wait, self.max_retry_after)


def profile_url(user: str) -> str:
    """The canonical profile URL of a username or profile URL.

    Parameters
    ----------
    user : str
        ``"some-artist"`` or ``"https://soundcloud.com/some-artist"`` (also
        without scheme, with ``www.``/``m.``, with trailing path or query).

    Raises
    ------
    ValueError
        Neither a valid username nor a soundcloud.com profile URL.
    """
    text = str(user or "").strip()
    if not text:
        raise ValueError("empty SoundCloud user")
    if _PERMALINK.match(text):
        return f"https://soundcloud.com/{text.lower()}"
    candidate = text if "://" in text else "https://" + text
    parts = urllib.parse.urlsplit(candidate)
    segments = [s for s in parts.path.split("/") if s]
    if (parts.scheme not in ("http", "https") or (parts.hostname or "") not in PROFILE_HOSTS
            or not segments or not _PERMALINK.match(segments[0])):
        raise ValueError(f"{text!r} is neither a SoundCloud username nor a "
                         f"https://soundcloud.com/<user> profile URL")
    return f"https://soundcloud.com/{segments[0].lower()}"


class _TokenCache:
    """Access tokens of this process, one per (token URL, client id, secret)."""

    def __init__(self):
        self._tokens = {}
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            return self._tokens.get(key)

    def put(self, key, token):
        with self._lock:
            self._tokens[key] = token

    def drop(self, key, token):
        """Forget ``token`` unless another client already replaced it."""
        with self._lock:
            if self._tokens.get(key) is token:
                del self._tokens[key]

    def clear(self):
        with self._lock:
            self._tokens.clear()


#: The per-process token cache.
TOKENS = _TokenCache()


def _fresh(token, now=None):
    """Whether a cached token is still good for a while."""
    if not token or not token.get("access_token"):
        return False
    expires_at = token.get("expires_at")
    if expires_at is None:
        return True
    lifetime = float(token.get("expires_in") or 3600)
    margin = min(60.0, REFRESH_MARGIN * lifetime)
    return (now or time.time()) < float(expires_at) - margin


class SoundCloudClient:
    """Read users, likes and stream URLs from the SoundCloud API.

    Parameters
    ----------
    client_id, client_secret : str
        The application's credentials (client-credentials grant).
    api_url : str
        API base URL (a stand-in server in tests).
    token_url : str
        Token endpoint.
    timeout : float or (float, float)
        Connect and read timeouts, seconds.
    retries : int
        Further attempts on 429/5xx and connection errors (API and token endpoint).
    backoff : float
        Backoff factor of the retries (``backoff * 2**(n-1)`` seconds).
    max_retry_wait : float
        Cap on a ``Retry-After`` wait and on the backoff.
    page_size : int
        Likes per page requested.

    Raises
    ------
    ValueError
        A credential is missing (the message names the settings).
    """

    def __init__(self, client_id, client_secret, api_url=DEFAULT_API_URL,
                 token_url=DEFAULT_TOKEN_URL, timeout=(5.0, 30.0), retries=3, backoff=0.5,
                 max_retry_wait=30.0, page_size=50):
        if not client_id or not client_secret:
            raise ValueError(f"the SoundCloud client needs a client id and a client secret: "
                             f"set {CREDENTIAL_SETTINGS}")
        self.client_id = client_id
        self._client_secret = client_secret
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        self._api_netloc = urllib.parse.urlsplit(self.api_url).netloc
        self._cache_key = (token_url, client_id,
                           hashlib.sha256(client_secret.encode()).hexdigest())
        self.timeout = timeout
        self.page_size = int(page_size)
        self.retries = int(retries)
        session = OAuth2Session(client=BackendApplicationClient(client_id=client_id))
        retry = dict(total=int(retries), connect=int(retries), read=int(retries),
                     status=int(retries), status_forcelist=RETRY_STATUSES,
                     backoff_factor=float(backoff), backoff_max=float(max_retry_wait),
                     respect_retry_after_header=True, raise_on_status=False,
                     max_retry_after=max_retry_wait)
        api = HTTPAdapter(max_retries=_CappedRetry(allowed_methods=frozenset({"GET"}), **retry),
                          pool_maxsize=4)
        session.mount("http://", api)
        session.mount("https://", api)
        session.mount(token_url, HTTPAdapter(max_retries=_CappedRetry(
            allowed_methods=frozenset({"POST"}), **retry)))
        session.headers["User-Agent"] = "krotos requests"
        session.headers["Accept"] = "application/json"
        session.register_compliance_hook("access_token_response", self._token_response)
        self.session = session

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- the token ---------------------------------------------------------

    def _token_response(self, response):
        """Turn the token endpoint's refusals into errors that say what to check."""
        status = response.status_code
        if status in (400, 401, 403):
            raise AuthError(f"SoundCloud's token endpoint {_strip(self.token_url)} refused the "
                            f"client credentials (HTTP {status}: {_oauth_error(response)}); "
                            f"check {CREDENTIAL_SETTINGS}", status)
        if status >= 500 or status == 429:
            raise Unavailable(f"SoundCloud's token endpoint {_strip(self.token_url)} answered "
                              f"HTTP {status} after {self.retries} retries; try again later "
                              f"(setting: [service] soundcloud_token_url)", status)
        return response

    def token(self, renew: bool = False) -> dict:
        """The access token (a requests-oauthlib token dict), fetched when needed.

        Parameters
        ----------
        renew : bool
            Fetch a new one even if the cached token looks valid (after a 401).

        Raises
        ------
        AuthError
            Bad credentials (``soundcloud_auth_failed``, naming the settings).
        Unavailable
            The token endpoint stayed unreachable or failing after the retries.
        """
        cached = TOKENS.get(self._cache_key)
        if renew and cached is not None:
            TOKENS.drop(self._cache_key, cached)
        elif _fresh(cached):
            return cached
        try:
            token = self.session.fetch_token(self.token_url, client_secret=self._client_secret,
                                             timeout=self.timeout)
        except SoundCloudError:
            raise
        except requests.RequestException as exc:
            raise Unavailable(f"SoundCloud's token endpoint {_strip(self.token_url)} is "
                              f"unreachable after {self.retries} retries "
                              f"({type(exc).__name__}); check [service] soundcloud_token_url "
                              f"or try again later") from None
        except (OAuth2Error, ValueError) as exc:
            raise AuthError(f"SoundCloud's token endpoint {_strip(self.token_url)} gave no "
                            f"usable token ({type(exc).__name__}: {exc}); check "
                            f"{CREDENTIAL_SETTINGS} and [service] soundcloud_token_url"
                            ) from None
        TOKENS.put(self._cache_key, token)
        return token

    def auth_headers(self, renew: bool = False) -> dict[str, str]:
        """``{"Authorization": "OAuth <token>"}`` for a request to the API host."""
        return {"Authorization": f"OAuth {self.token(renew)['access_token']}"}

    # -- requests --------------------------------------------------------

    def _on_api_host(self, url):
        return urllib.parse.urlsplit(url).netloc == self._api_netloc

    def get_json(self, url: str, params: dict | None = None,
                 not_found: type[SoundCloudError] | None = None) -> dict | list:
        """GET an API URL and decode its JSON, mapping failures to :class:`SoundCloudError`.

        A 401 is answered by fetching a new token and trying once more.
        ``not_found``: the exception to raise on 404 (default :class:`SoundCloudError`).
        """
        if not url.startswith(("http://", "https://")):
            url = self.api_url + url
        if not self._on_api_host(url):
            raise SoundCloudError(f"refusing to follow {_strip(url)}: not on the API host "
                                  f"{self._api_netloc}")
        for attempt in range(2):
            try:
                response = self.session.get(url, params=params, timeout=self.timeout,
                                            headers=self.auth_headers(renew=attempt > 0),
                                            withhold_token=True)
            except requests.RequestException as exc:
                raise Unavailable(f"SoundCloud API unreachable ({_strip(url)}): "
                                  f"{type(exc).__name__}: {exc}") from None
            if response.status_code != 401:
                break
        where = _strip(response.url or url)
        status = response.status_code
        if status == 404 and not_found is not None:
            raise not_found(f"not found: {where}", status)
        if status == 429:
            raise RateLimited(f"SoundCloud rate limit still exceeded after retries "
                              f"({where}, HTTP 429)", status)
        if status in (401, 403):
            raise AuthError(f"SoundCloud refused a fresh access token ({where}, HTTP "
                            f"{status}); check {CREDENTIAL_SETTINGS}", status)
        if status >= 500:
            raise Unavailable(f"SoundCloud API error {status} after retries ({where})", status)
        if status != 200:
            raise SoundCloudError(f"SoundCloud answered HTTP {status} ({where})", status)
        try:
            return response.json()
        except ValueError:
            raise SoundCloudError(f"SoundCloud answered non-JSON ({where})", status) from None

    # -- API -------------------------------------------------------------

    def resolve_user(self, user: str) -> dict:
        """The user object of a username or profile URL.

        Raises
        ------
        ValueError
            ``user`` is not a username or profile URL.
        UserNotFound
            No such profile, or it is not a user (a track, a playlist).
        """
        url = profile_url(user)
        try:
            found = self.get_json("/resolve", {"url": url}, not_found=UserNotFound)
        except UserNotFound:
            raise UserNotFound(f"SoundCloud user {str(user).strip()!r} does not exist "
                               f"({url})", 404) from None
        if not isinstance(found, dict) or found.get("kind") != "user" or "id" not in found:
            raise UserNotFound(f"{url} is not a SoundCloud user "
                               f"(it is a {found.get('kind') if isinstance(found, dict) else '?'})")
        return found

    def liked_tracks(self, user: dict | int | str, limit: int | None = None) -> list[dict]:
        """The tracks a user liked, most recent first, following ``next_href``.

        Parameters
        ----------
        user : dict or int or str
            The user object (its ``urn`` is used when present) or its id.
        limit : int, optional
            Stop once this many tracks are in.

        Returns
        -------
        list of dict
            Track objects (playlists and other kinds are left out).
        """
        ref = _ref(user)
        tracks, seen_pages = [], set()
        url = f"/users/{ref}/likes/tracks"
        params = {"limit": self.page_size, "linked_partitioning": "true"}
        while url:
            page = self.get_json(url, params, not_found=UserNotFound)
            params = None  # next_href carries its own query
            if isinstance(page, list):  # an API answering without linked partitioning
                items, next_href = page, None
            elif isinstance(page, dict):
                items, next_href = page.get("collection") or [], page.get("next_href")
            else:
                raise SoundCloudError(f"unexpected likes page for user {ref}: "
                                      f"{type(page).__name__}")
            for item in items:
                track = item.get("track") if isinstance(item, dict) and "track" in item else item
                if isinstance(track, dict) and track.get("kind", "track") == "track" \
                        and "id" in track:
                    tracks.append(track)
            if limit is not None and len(tracks) >= limit:
                return tracks[:int(limit)]
            if next_href in seen_pages:
                raise SoundCloudError(f"the likes of user {ref} loop back to a page "
                                      f"already read ({_strip(next_href)})")
            seen_pages.add(next_href)
            url = next_href
        return tracks

    def stream_url(self, track: dict) -> str:
        """The URL of the track's progressive mp3 (or its preview), on the API host.

        The URL needs :meth:`auth_headers` and redirects to SoundCloud's CDN:
        the caller follows the redirects itself, checking each target.

        Raises
        ------
        NotStreamable
            The track cannot be streamed (``streamable`` false, ``access``
            blocked, or no progressive mp3 offered: HLS only).
        """
        name = f"track {track.get('id')} ({track.get('title', '?')})"
        if track.get("streamable") is False or track.get("access") == "blocked":
            raise NotStreamable(f"{name} is not streamable")
        streams = self.get_json(f"/tracks/{_ref(track)}/streams", not_found=NotStreamable)
        url = (streams.get("http_mp3_128_url") or streams.get("preview_mp3_128_url")
               if isinstance(streams, dict) else None)
        if not url:
            raise NotStreamable(f"{name}: no progressive mp3 stream offered (HLS playlists "
                                f"are not used)")
        return url

    def download(self, track: dict,
                 fetch: Callable[[str, dict], tuple[bytes, str]]) -> tuple[bytes, str]:
        """The audio of a track: :meth:`stream_url`, fetched with the token.

        Parameters
        ----------
        track : dict
        fetch : callable
            ``fetch(url, headers) -> (bytes, final_url)``, raising an exception
            with ``status == 401`` when the first hop refuses the token (the
            service's guarded :func:`krotos.service.fetch.fetch_audio`).

        Returns
        -------
        (bytes, str)
        """
        url = self.stream_url(track)
        headers = self.auth_headers() if self._on_api_host(url) else {}
        try:
            return fetch(url, headers)
        except Exception as exc:
            if getattr(exc, "status", None) != 401 or not headers:
                raise
        return fetch(url, self.auth_headers(renew=True))


def _ref(obj):
    """How the API addresses a user or track: its URN when known, else its id."""
    if isinstance(obj, dict):
        return obj.get("urn") or obj["id"]
    return obj


def _oauth_error(response):
    try:
        body = response.json()
    except ValueError:
        return "no JSON error"
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("error") or body)[:200]
    return str(body)[:200]


def _strip(url):
    """``url`` without its query (which may hold secrets), for messages."""
    parts = urllib.parse.urlsplit(str(url))
    return urllib.parse.urlunsplit(parts._replace(query="", fragment=""))
