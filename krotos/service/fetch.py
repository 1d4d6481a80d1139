"""Download audio from URLs users give, without letting them reach internal hosts.

A service that fetches arbitrary URLs can be turned against the network it
runs in (server-side request forgery): ``http://127.0.0.1:6379/``,
``http://169.254.169.254/`` (cloud metadata), ``http://10.0.0.5/admin``. The
guard here is closed by construction:

* only ``http`` and ``https``, no credentials in the URL, no proxies and no
  ``.netrc`` (the session ignores the environment);
* each hop (the URL, then every redirect target, followed here one by one)
  resolves its host **once**; every address it resolves to must be globally
  routable (loopback, link-local, private, shared, multicast, reserved and
  unspecified addresses are refused, unless the allow-list names the host,
  the address or a network holding it). IPv6 forms that embed an IPv4
  address (mapped ``::ffff:a.b.c.d``, compatible ``::a.b.c.d``, NAT64
  ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo) are judged by the IPv4
  address they carry; the local-use NAT64 prefix ``64:ff9b:1::/48`` is refused;
* the connection is made to that vetted address itself (:class:`PinnedAdapter`:
  the pool's host is the address, while the ``Host`` header, TLS SNI and the
  certificate check keep the name), so no second DNS answer can redirect it;
* once connected, the socket's peer must be the pinned address; a peer that
  cannot be read is refused too;
* a download has a wall-clock deadline (connection, redirects and body
  together): a server trickling bytes cannot hold a worker past it.

``requests-hardened`` does the pinning for ``requests`` too, but it vets only
the first address a name resolves to, knows no allow-list finer than "all
loopback", and takes ``::7f00:1`` or ``64:ff9b::a9fe:a9fe`` for public
addresses; hence this adapter, built the same way.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.connection import allowed_gai_family

#: Stable error codes.
URL_NOT_ALLOWED = "url_not_allowed"
INVALID_URL = "invalid_url"
FETCH_FAILED = "url_fetch_failed"
NOT_AUDIO = "not_audio"
TOO_LARGE = "too_large"

#: Networks refused although Python may call their addresses global.
_REFUSED = tuple(ipaddress.ip_network(n) for n in (
    "64:ff9b:1::/48",   # local-use NAT64 (RFC 8215): where the IPv4 part sits varies
    "192.88.99.0/24",   # 6to4 relay anycast
    "100.64.0.0/10",    # shared address space (carrier-grade NAT)
    "192.0.0.0/24",     # IETF protocol assignments
    "5f00::/16",        # IPv6 segment routing
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


class FetchError(Exception):
    """A download that failed or was refused; ``code`` is stable."""

    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.status = status


def _embedded_ipv4(address):
    """The IPv4 address an IPv6 address carries, or None."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_TRANSLATED or (
            address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


#: An address a host name resolves to.
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def plain_addresses(address: IPAddress) -> list[IPAddress]:
    """The addresses that decide whether ``address`` may be reached.

    An IPv6 address embedding an IPv4 address is judged by that IPv4 address
    (the wrapper only says how to reach it); a Teredo address by itself and
    both IPv4 addresses it carries; any other address by itself.
    """
    if address.version == 6 and address.teredo is not None:
        return [address, *address.teredo]
    embedded = _embedded_ipv4(address)
    return [address] if embedded is None else [embedded]


def _public(address):
    return (address.is_global and not address.is_multicast
            and not any(address in network for network in _REFUSED
                        if network.version == address.version))


def _kind(address):
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"


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
                self.hosts.add(entry.rstrip("."))
                continue
            mapped = network.version == 6 and network.network_address.ipv4_mapped
            if mapped and network.prefixlen >= 96:
                # Addresses are compared in their IPv4 form (see plain_addresses).
                network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
            self.networks.append(network)

    def _allowed(self, address):
        return any(address in network for network in self.networks
                   if network.version == address.version)

    def vet_address(self, address: IPAddress, url: str, host: str = "") -> None:
        """Raise ``url_not_allowed`` unless ``address`` (an ip_address) may be reached."""
        if host and host in self.hosts:
            return
        if self._allowed(address):
            return
        for candidate in plain_addresses(address):
            if not _public(candidate) and not self._allowed(candidate):
                shown = f"{address}" if candidate == address else f"{address} (= {candidate})"
                raise FetchError(URL_NOT_ALLOWED, f"{short_url(url)}: host {host or address} "
                                                  f"resolves to {shown}, a {_kind(candidate)} "
                                                  f"address; refused (not in the allow-list)")

    def parse(self, url: str) -> tuple[str, str, int]:
        """``(scheme, host, port)`` of an acceptable URL (no resolution)."""
        try:
            parts = urllib.parse.urlsplit(str(url))
            port = parts.port
        except ValueError as exc:
            raise FetchError(INVALID_URL, f"{url!r} is not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https"):
            raise FetchError(INVALID_URL, f"{short_url(url)}: only http and https URLs are "
                                          f"accepted")
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchError(INVALID_URL, f"{short_url(url)}: the URL has no host")
        if parts.username or parts.password:
            raise FetchError(INVALID_URL, f"{short_url(url)}: credentials in URLs are refused")
        return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)

    def resolve(self, url: str) -> list[IPAddress]:
        """Resolve the URL's host once and vet every address it resolves to.

        Returns
        -------
        list of ipaddress objects
            The acceptable addresses, in the resolver's order (the first is
            the one a download connects to).

        Raises
        ------
        FetchError
            ``invalid_url``, ``url_not_allowed`` or ``url_fetch_failed`` (no
            such host).
        """
        _, host, port = self.parse(url)
        # "localhost." is "localhost": the final dot only says the name is absolute.
        name = host[:-1] if host.endswith(".") and not host.endswith("..") else host
        try:
            infos = socket.getaddrinfo(name, port, family=allowed_gai_family(),
                                       type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError(FETCH_FAILED, f"{short_url(url)}: cannot resolve host {host!r} "
                                           f"({exc})") from None
        addresses = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            if address not in addresses:
                addresses.append(address)
        for address in addresses:
            self.vet_address(address, url, name)
        if not addresses:
            raise FetchError(FETCH_FAILED, f"{short_url(url)}: host {host!r} has no address")
        return addresses

    def check(self, url: str) -> set[IPAddress]:
        """Raise :class:`FetchError` unless ``url`` may be fetched; returns its addresses."""
        return set(self.resolve(url))


def short_url(url: str, limit: int = 200) -> str:
    """A URL for messages: no query string (may hold credentials), bounded length."""
    try:
        parts = urllib.parse.urlsplit(str(url))
        text = urllib.parse.urlunsplit(parts._replace(query="", fragment=""))
    except ValueError:
        text = str(url)
    return text if len(text) <= limit else text[:limit] + "..."


class _PinnedConnectionMixin:
    """Checks, once connected, that the socket's peer is the address the pool pins."""

    adapter = None

    def connect(self):
        super().connect()
        adapter = self.adapter
        try:
            peer = ipaddress.ip_address(self.sock.getpeername()[0].split("%")[0])
            pinned = ipaddress.ip_address(self.host.strip("[]"))
        except (OSError, AttributeError, ValueError) as exc:
            self.close()
            raise FetchError(URL_NOT_ALLOWED, f"{self.host}: the connection's peer address "
                                              f"cannot be established ({exc}); refused") from None
        if peer != pinned:
            self.close()
            raise FetchError(URL_NOT_ALLOWED, f"{self.host}: connected to {peer}, not to the "
                                              f"vetted address {pinned}; refused")
        if adapter is not None:
            adapter.track(self.sock)


class PinnedAdapter(HTTPAdapter):
    """A transport adapter that connects only to addresses ``policy`` vetted.

    Each request resolves its host once (:meth:`UrlPolicy.resolve`) and the
    connection pool is keyed by, and connects to, the first vetted address;
    the ``Host`` header, TLS SNI and certificate verification use the name.
    :meth:`abort` shuts every socket it opened (the download deadline).
    """

    def __init__(self, policy, **kwargs):
        self.policy = policy
        self._sockets = weakref.WeakSet()
        self._lock = threading.Lock()
        self.aborted = False
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        adapter = weakref.proxy(self)
        conn = type("PinnedHTTPConnection", (_PinnedConnectionMixin, HTTPConnection),
                    {"adapter": adapter})
        sconn = type("PinnedHTTPSConnection", (_PinnedConnectionMixin, HTTPSConnection),
                     {"adapter": adapter})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("PinnedHTTPConnectionPool", (HTTPConnectionPool,),
                         {"ConnectionCls": conn}),
            "https": type("PinnedHTTPSConnectionPool", (HTTPSConnectionPool,),
                          {"ConnectionCls": sconn}),
        }

    def build_connection_pool_key_attributes(
            self, request: requests.PreparedRequest, verify: bool | str,
            cert: str | tuple[str, str] | None = None) -> tuple[dict, dict]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert)
        address = self.policy.resolve(request.url)[0]
        name = host_params["host"]
        host_header = f"[{name}]" if ":" in name else name
        if host_params.get("port") is not None:
            host_header += f":{host_params['port']}"
        request.headers["Host"] = host_header
        if host_params["scheme"] == "https":
            # The certificate is checked against the name, and SNI names it.
            pool_kwargs["assert_hostname"] = name
            pool_kwargs["server_hostname"] = name
        host_params["host"] = str(address) if address.version == 4 else f"[{address}]"
        return host_params, pool_kwargs

    def get_connection(self, url: str,  # pragma: no cover (requests < 2.32)
                       proxies: dict | None = None) -> None:
        raise NotImplementedError("PinnedAdapter needs requests >= 2.32")

    def track(self, sock: socket.socket) -> None:
        """Shut ``sock`` with the others on :meth:`abort` (at once if already aborted)."""
        with self._lock:
            if self.aborted:
                _shut(sock)
            self._sockets.add(sock)

    def abort(self) -> None:
        """Shut every socket this adapter opened (reads in progress fail at once)."""
        with self._lock:
            self.aborted = True
            for sock in list(self._sockets):
                _shut(sock)


def _shut(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def guarded_session(policy: UrlPolicy) -> tuple[requests.Session, PinnedAdapter]:
    """A :class:`requests.Session` whose every connection goes through :class:`PinnedAdapter`.

    The session ignores the environment (no proxy, which would resolve names
    itself, and no ``.netrc`` credentials sent to hosts users choose); the CA
    bundle that ``REQUESTS_CA_BUNDLE`` names is still used.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or True
    adapter = PinnedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter


def fetch_audio(url: str, policy: UrlPolicy, *, max_bytes: int, timeout: float = 30.0,
                max_redirects: int = 5, headers: dict | None = None,
                check_body: Callable[[bytes, str], None] | None = None) -> tuple[bytes, str]:
    """Download an audio file from ``url``, checking every hop against ``policy``.

    Parameters
    ----------
    url : str
    policy : UrlPolicy
    max_bytes : int
        Larger bodies are refused (announced or actual size).
    timeout : float
        Wall-clock deadline of the whole download (connection, redirects and
        body), seconds; also the longest wait for any single read.
    max_redirects : int
    headers : dict, optional
        Sent with the first request only (credentials never follow redirects).
    check_body : callable, optional
        ``check_body(body, url)`` raises a :class:`FetchError` for a body that
        is not acceptable audio (default :func:`check_audio_body`).

    Returns
    -------
    (bytes, str)
        The body and the final URL.

    Raises
    ------
    FetchError
        ``url_not_allowed``, ``invalid_url``, ``url_fetch_failed`` (network
        error, HTTP error status, too many redirects, deadline passed),
        ``too_large`` or ``not_audio`` (a page, a playlist, unknown bytes).
    """
    check_body = check_body or check_audio_body
    session, adapter = guarded_session(policy)
    deadline = time.monotonic() + float(timeout)
    watchdog = threading.Timer(float(timeout), adapter.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        for hop in range(int(max_redirects) + 1):
            policy.parse(url)
            remaining = max(0.01, deadline - time.monotonic())
            try:
                response = session.get(url, stream=True, allow_redirects=False,
                                       timeout=(min(10.0, remaining), remaining),
                                       headers=headers if hop == 0 else None)
            except requests.RequestException as exc:
                raise _broken(url, exc, deadline, timeout) from None
            with response:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    url = urllib.parse.urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise FetchError(FETCH_FAILED, f"{short_url(url)}: HTTP "
                                                   f"{response.status_code}",
                                     response.status_code)
                body = _read_limited(response, url, max_bytes, deadline, timeout)
            check_body(body, url)
            return body, url
        raise FetchError(FETCH_FAILED, f"{short_url(url)}: more than {max_redirects} redirects")
    finally:
        watchdog.cancel()
        session.close()


def _broken(url, exc, deadline, timeout):
    if time.monotonic() >= deadline:
        return FetchError(FETCH_FAILED, f"{short_url(url)}: the download took longer than its "
                                        f"{timeout:g} s deadline")
    return FetchError(FETCH_FAILED, f"{short_url(url)}: {type(exc).__name__}: {exc}")


def _read_limited(response, url, max_bytes, deadline, timeout):
    announced = response.headers.get("Content-Length")
    if announced and announced.isdigit() and int(announced) > max_bytes:
        raise FetchError(TOO_LARGE, f"{short_url(url)}: {int(announced)} bytes announced, the "
                                    f"limit is {max_bytes}")
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(TOO_LARGE, f"{short_url(url)}: more than {max_bytes} bytes")
            if time.monotonic() >= deadline:
                raise requests.exceptions.Timeout("deadline")
            chunks.append(chunk)
    except requests.RequestException as exc:
        error = _broken(url, exc, deadline, timeout)
        if error.args[0].endswith("deadline"):
            raise error from None
        raise FetchError(FETCH_FAILED, f"{short_url(url)}: transfer broken off "
                                       f"({type(exc).__name__})") from None
    if time.monotonic() >= deadline:
        raise _broken(url, None, deadline, timeout)
    return b"".join(chunks)


def check_audio_body(body: bytes, url: str) -> None:
    """Refuse a downloaded body that is not audio the service decodes."""
    from krotos.inference import AudioError, audio_container

    try:
        audio_container(body, short_url(url))
    except AudioError as exc:
        raise FetchError(NOT_AUDIO, str(exc)) from None
