"""A small client of the SoundCloud HTTP API: users, their liked tracks, stream URLs.

Endpoints used (``api_url``, default ``https://api.soundcloud.com``):

``GET /resolve?url=https://soundcloud.com/<permalink>``
    the user object (``{"kind": "user", "id", "username", "permalink", ...}``);
    404 when nobody has that profile.
``GET /users/<id>/likes/tracks?limit=N&linked_partitioning=true``
    one page ``{"collection": [track, ...], "next_href": url or null}``;
    ``next_href`` is followed until it is null (or enough tracks are in).
``GET /tracks/<id>/streams``
    ``{"http_mp3_128_url": url, "preview_mp3_128_url": url, ...}``, used when
    the track object has no ``stream_url``.

Authentication: the application's ``client_id`` as a query parameter and,
when given, an OAuth access token (``Authorization: OAuth <token>``); both are
sent to the API host only, never to the CDN that stream URLs redirect to, and
a ``next_href`` that leaves the API host is refused.

Rate limits and server trouble (429, 500, 502, 503, 504, dropped connections)
are retried by urllib3's ``Retry`` in the connection pool (GET requests are
idempotent and carry no signature, so the pool may replay them), waiting what
``Retry-After`` asks, capped at ``max_retry_wait``, else exponential backoff.
"""

import re
import urllib.parse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DEFAULT_API_URL = "https://api.soundcloud.com"
PROFILE_HOSTS = frozenset({"soundcloud.com", "www.soundcloud.com", "m.soundcloud.com"})
RETRY_STATUSES = (429, 500, 502, 503, 504)
_PERMALINK = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


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
    code = "soundcloud_auth"


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


def profile_url(user):
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
        return f"https://soundcloud.com/{text}"
    candidate = text if "://" in text else "https://" + text
    parts = urllib.parse.urlsplit(candidate)
    segments = [s for s in parts.path.split("/") if s]
    if (parts.scheme not in ("http", "https") or (parts.hostname or "") not in PROFILE_HOSTS
            or not segments or not _PERMALINK.match(segments[0])):
        raise ValueError(f"{text!r} is neither a SoundCloud username nor a "
                         f"https://soundcloud.com/<user> profile URL")
    return f"https://soundcloud.com/{segments[0]}"


class SoundCloudClient:
    """Read users, likes and stream URLs from the SoundCloud API.

    Parameters
    ----------
    client_id : str
        The application's client id (sent as ``client_id=``); may be empty
        when an access token is given.
    api_url : str
        API base URL (a stand-in server in tests).
    access_token : str, optional
        OAuth token, sent as ``Authorization: OAuth <token>`` to the API host.
    timeout : float or (float, float)
        Connect and read timeouts, seconds.
    retries : int
        Further attempts on 429/5xx and connection errors.
    backoff : float
        Backoff factor of the retries (``backoff * 2**(n-1)`` seconds).
    max_retry_wait : float
        Cap on a ``Retry-After`` wait and on the backoff.
    page_size : int
        Likes per page requested.
    session : requests.Session, optional
    """

    def __init__(self, client_id="", api_url=DEFAULT_API_URL, access_token=None,
                 timeout=(5.0, 30.0), retries=3, backoff=0.5, max_retry_wait=30.0,
                 page_size=50, session=None):
        if not client_id and not access_token:
            raise ValueError("the SoundCloud client needs a client id or an access token "
                             "(set [service] soundcloud_client_id or "
                             "$KROTOS_SOUNDCLOUD_CLIENT_ID)")
        self.client_id = client_id
        self.api_url = api_url.rstrip("/")
        self._api_netloc = urllib.parse.urlsplit(self.api_url).netloc
        self.access_token = access_token
        self.timeout = timeout
        self.page_size = int(page_size)
        if session is None:
            session = requests.Session()
            retry = _CappedRetry(
                total=int(retries), connect=int(retries), read=int(retries),
                status=int(retries), status_forcelist=RETRY_STATUSES,
                allowed_methods=frozenset({"GET"}), backoff_factor=float(backoff),
                backoff_max=float(max_retry_wait), respect_retry_after_header=True,
                raise_on_status=False, max_retry_after=max_retry_wait)
            adapter = HTTPAdapter(max_retries=retry, pool_maxsize=4)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = "krotos requests"
            session.headers["Accept"] = "application/json"
        self.session = session

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- requests --------------------------------------------------------

    def _auth(self, url):
        """Query parameters and headers that authenticate ``url`` (API host only)."""
        if urllib.parse.urlsplit(url).netloc != self._api_netloc:
            return {}, {}
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        params = {"client_id": self.client_id} if self.client_id and "client_id" not in query \
            else {}
        headers = {"Authorization": f"OAuth {self.access_token}"} if self.access_token else {}
        return params, headers

    def get_json(self, url, params=None, not_found=None):
        """GET an API URL and decode its JSON, mapping failures to :class:`SoundCloudError`.

        ``not_found``: the exception to raise on 404 (default :class:`SoundCloudError`).
        """
        if not url.startswith(("http://", "https://")):
            url = self.api_url + url
        if urllib.parse.urlsplit(url).netloc != self._api_netloc:
            raise SoundCloudError(f"refusing to follow {url}: not on the API host "
                                  f"{self._api_netloc}")
        auth_params, headers = self._auth(url)
        try:
            response = self.session.get(url, params=dict(params or {}, **auth_params),
                                        headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unavailable(f"SoundCloud API unreachable ({_strip(url)}): "
                              f"{type(exc).__name__}: {exc}") from None
        where = _strip(response.url or url)
        status = response.status_code
        if status == 404 and not_found is not None:
            raise not_found(f"not found: {where}", status)
        if status == 429:
            raise RateLimited(f"SoundCloud rate limit still exceeded after retries "
                              f"({where}, HTTP 429)", status)
        if status in (401, 403):
            raise AuthError(f"SoundCloud refused the credentials ({where}, HTTP {status}); "
                            f"check the client id / access token", status)
        if status >= 500:
            raise Unavailable(f"SoundCloud API error {status} after retries ({where})", status)
        if status != 200:
            raise SoundCloudError(f"SoundCloud answered HTTP {status} ({where})", status)
        try:
            return response.json()
        except ValueError:
            raise SoundCloudError(f"SoundCloud answered non-JSON ({where})", status) from None

    # -- API -------------------------------------------------------------

    def resolve_user(self, user):
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
            raise UserNotFound(f"SoundCloud user {user!r} does not exist ({url})", 404) from None
        if not isinstance(found, dict) or found.get("kind") != "user" or "id" not in found:
            raise UserNotFound(f"{url} is not a SoundCloud user "
                               f"(it is a {found.get('kind') if isinstance(found, dict) else '?'})")
        return found

    def liked_tracks(self, user_id, limit=None):
        """The tracks a user liked, most recent first, following ``next_href``.

        Parameters
        ----------
        user_id : int or str
        limit : int, optional
            Stop once this many tracks are in.

        Returns
        -------
        list of dict
            Track objects (playlists and other kinds are left out).
        """
        tracks, seen_pages = [], set()
        url = f"/users/{user_id}/likes/tracks"
        params = {"limit": self.page_size, "linked_partitioning": "true"}
        while url:
            page = self.get_json(url, params, not_found=UserNotFound)
            params = None  # next_href carries its own query
            if isinstance(page, list):  # an API answering without linked partitioning
                items, next_href = page, None
            elif isinstance(page, dict):
                items, next_href = page.get("collection") or [], page.get("next_href")
            else:
                raise SoundCloudError(f"unexpected likes page for user {user_id}: "
                                      f"{type(page).__name__}")
            for item in items:
                track = item.get("track") if isinstance(item, dict) and "track" in item else item
                if isinstance(track, dict) and track.get("kind", "track") == "track" \
                        and "id" in track:
                    tracks.append(track)
            if limit is not None and len(tracks) >= limit:
                return tracks[:int(limit)]
            if next_href in seen_pages:
                raise SoundCloudError(f"the likes of user {user_id} loop back to a page "
                                      f"already read ({_strip(next_href)})")
            seen_pages.add(next_href)
            url = next_href
        return tracks

    def stream_url(self, track):
        """A URL of the track's audio, authenticated for the API host.

        The URL may redirect (to SoundCloud's CDN): the caller follows the
        redirects itself, checking each target.

        Raises
        ------
        NotStreamable
            The track cannot be streamed (``streamable`` false, ``access``
            blocked, or no stream URL offered).
        """
        name = f"track {track.get('id')} ({track.get('title', '?')})"
        if track.get("streamable") is False or track.get("access") == "blocked":
            raise NotStreamable(f"{name} is not streamable")
        url = track.get("stream_url")
        if not url:
            streams = self.get_json(f"/tracks/{track['id']}/streams", not_found=NotStreamable)
            url = (streams.get("http_mp3_128_url") or streams.get("preview_mp3_128_url")
                   if isinstance(streams, dict) else None)
            if not url:
                raise NotStreamable(f"{name}: no progressive mp3 stream offered")
        params, _ = self._auth(url)
        if params:
            url = _add_query(url, params)
        return url

    def stream_headers(self, url):
        """Headers to send with the first request of a stream URL (API host only)."""
        return self._auth(url)[1]


def _add_query(url, params):
    parts = urllib.parse.urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urllib.parse.urlencode(params)
    return urllib.parse.urlunsplit(parts._replace(query=query))


def _strip(url):
    """``url`` without its query (which may hold the client id), for messages."""
    parts = urllib.parse.urlsplit(str(url))
    return urllib.parse.urlunsplit(parts._replace(query="", fragment=""))
