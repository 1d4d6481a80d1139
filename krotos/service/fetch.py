"""Download audio from URLs users give, without letting them reach internal hosts.

A service that fetches arbitrary URLs can be turned against the network it
runs in (server-side request forgery): ``http://127.0.0.1:6379/``,
``http://169.254.169.254/`` (cloud metadata), ``http://10.0.0.5/admin``. So
every URL, and every redirect target, is checked before it is requested:

* only ``http`` and ``https``;
* the host is resolved, and every address it resolves to must be globally
  routable: loopback, link-local, private, shared (CGNAT), multicast,
  reserved and unspecified addresses are refused, unless the allow-list names
  the host, the address, or a network holding it;
* after connecting, the address actually connected to is checked again
  before a byte of the body is read, so a DNS answer that changed between the
  check and the connection (DNS rebinding) does not get a body through.
"""

import ipaddress
import socket
import urllib.parse

import requests

from krotos.sources.sniff import describe, sniff

#: Stable error codes.
URL_NOT_ALLOWED = "url_not_allowed"
INVALID_URL = "invalid_url"
FETCH_FAILED = "url_fetch_failed"
NOT_AUDIO = "not_audio"
TOO_LARGE = "too_large"


class FetchError(Exception):
    """A download that failed or was refused; ``code`` is stable."""

    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.status = status


class UrlPolicy:
    """Which URLs may be fetched.

    Parameters
    ----------
    allow : iterable of str
        Host names (exact, case-insensitive), IP addresses or CIDR networks
        that may be reached although they are not public.
    """

    def __init__(self, allow=()):
        self.hosts, self.networks = set(), []
        for entry in allow:
            entry = str(entry).strip().lower()
            if not entry:
                continue
            try:
                network = ipaddress.ip_network(entry.strip("[]"), strict=False)
            except ValueError:
                self.hosts.add(entry)
                continue
            mapped = network.version == 6 and network.network_address.ipv4_mapped
            if mapped and network.prefixlen >= 96:
                # Addresses are compared in their plain IPv4 form (see _plain).
                network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
            self.networks.append(network)

    def _allowed_address(self, address):
        return any(address in network for network in self.networks)

    def check(self, url):
        """Raise :class:`FetchError` unless ``url`` may be fetched.

        Returns
        -------
        set of ipaddress objects
            The addresses the host resolved to (all acceptable).
        """
        try:
            parts = urllib.parse.urlsplit(str(url))
            port = parts.port
        except ValueError as exc:
            raise FetchError(INVALID_URL, f"{url!r} is not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https"):
            raise FetchError(INVALID_URL, f"{_short(url)}: only http and https URLs are "
                                          f"accepted")
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchError(INVALID_URL, f"{_short(url)}: the URL has no host")
        if parts.username or parts.password:
            raise FetchError(INVALID_URL, f"{_short(url)}: credentials in URLs are refused")
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError(FETCH_FAILED, f"{_short(url)}: cannot resolve host {host!r} "
                                           f"({exc})") from None
        addresses = {_plain(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos}
        if host in self.hosts:
            return addresses
        for address in addresses:
            if not _public(address) and not self._allowed_address(address):
                raise FetchError(URL_NOT_ALLOWED, f"{_short(url)}: host {host} resolves to "
                                                  f"{address}, a {_kind(address)} address; "
                                                  f"refused (not in the allow-list)")
        return addresses

    def check_peer(self, url, peer):
        """Refuse a connection whose actual peer address is not acceptable."""
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
        if peer is None or host in self.hosts:
            return
        address = _plain(ipaddress.ip_address(peer.split("%")[0]))
        if not _public(address) and not self._allowed_address(address):
            raise FetchError(URL_NOT_ALLOWED, f"{_short(url)}: connected to {address}, a "
                                              f"{_kind(address)} address; refused")


def _plain(address):
    """IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) as the IPv4 address they are."""
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _public(address):
    return address.is_global and not address.is_multicast


def _kind(address):
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"


def _short(url, limit=200):
    """A URL for messages: no query string (may hold credentials), bounded length."""
    try:
        parts = urllib.parse.urlsplit(str(url))
        text = urllib.parse.urlunsplit(parts._replace(query="", fragment=""))
    except ValueError:
        text = str(url)
    return text if len(text) <= limit else text[:limit] + "..."


def _peer_address(response):
    """The address the response came from, if urllib3 still knows it."""
    raw = response.raw
    candidates = (
        lambda: raw.connection.sock,
        # urllib3 2 hands the socket over to http.client's response object.
        lambda: raw._fp.fp.raw._sock,
    )
    for get in candidates:
        try:
            sock = get()
            if sock is not None:
                return sock.getpeername()[0]
        except Exception:  # internals differ between versions: the check is best effort
            continue
    return None


def fetch_audio(url, policy, *, max_bytes, timeout=30.0, max_redirects=5, headers=None,
                session=None):
    """Download an audio file from ``url``, checking every hop against ``policy``.

    Parameters
    ----------
    url : str
    policy : UrlPolicy
    max_bytes : int
        Larger bodies are refused (announced or actual size).
    timeout : float
        Connect and read timeout, seconds.
    max_redirects : int
    headers : dict, optional
        Sent with the first request only (credentials never follow redirects).
    session : requests.Session, optional

    Returns
    -------
    (bytes, str)
        The body and the final URL.

    Raises
    ------
    FetchError
        ``url_not_allowed``, ``invalid_url``, ``url_fetch_failed`` (network
        error, HTTP error status, too many redirects), ``too_large`` or
        ``not_audio`` (an HTML page, JSON, an empty body ...).
    """
    own = session is None
    session = session or requests.Session()
    try:
        for hop in range(int(max_redirects) + 1):
            policy.check(url)
            try:
                response = session.get(url, stream=True, allow_redirects=False,
                                       timeout=timeout, headers=headers if hop == 0 else None)
            except requests.RequestException as exc:
                raise FetchError(FETCH_FAILED, f"{_short(url)}: {type(exc).__name__}: "
                                               f"{exc}") from None
            with response:
                policy.check_peer(url, _peer_address(response))
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    url = urllib.parse.urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise FetchError(FETCH_FAILED, f"{_short(url)}: HTTP "
                                                   f"{response.status_code}",
                                     response.status_code)
                body = _read_limited(response, url, max_bytes)
            head = body[:64]
            if not body or (sniff(head) is None and looks_like_text(head)):
                raise FetchError(NOT_AUDIO, f"{_short(url)}: not audio ({describe(head)})")
            return body, url
        raise FetchError(FETCH_FAILED, f"{_short(url)}: more than {max_redirects} redirects")
    finally:
        if own:
            session.close()


def _read_limited(response, url, max_bytes):
    announced = response.headers.get("Content-Length")
    if announced and announced.isdigit() and int(announced) > max_bytes:
        raise FetchError(TOO_LARGE, f"{_short(url)}: {int(announced)} bytes announced, the "
                                    f"limit is {max_bytes}")
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(TOO_LARGE, f"{_short(url)}: more than {max_bytes} bytes")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise FetchError(FETCH_FAILED, f"{_short(url)}: transfer broken off "
                                       f"({type(exc).__name__})") from None
    return b"".join(chunks)


def looks_like_text(head):
    """Whether the first bytes of a body are text (an HTML page, JSON, an error message).

    Audio containers begin with binary magic numbers; a body that decodes as
    printable UTF-8 is a page, not a sound.
    """
    if not head:
        return True
    for cut in range(4):  # the sample may end inside a multi-byte character
        try:
            text = head[:len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text.lstrip("\ufeff"))
