"""The SoundCloud client (OAuth 2.1 client credentials) and the guarded downloader,
against stand-in servers on 127.0.0.1 (real HTTP and HTTPS)."""

import socket
import time

import pytest

from conftest import CLIENT_ID, CLIENT_SECRET, NAMES, StandIn, loopback_resolves

from krotos.service.fetch import FetchError, UrlPolicy, fetch_audio
from krotos.sources import soundcloud as sc

MP3 = NAMES[0]


@pytest.fixture(scope="module")
def standin():
    if not loopback_resolves():
        pytest.skip("'localhost' does not resolve to 127.0.0.1 first here (the HTTPS "
                    "stand-in's certificate names localhost)")
    server = StandIn()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def trust_the_standin(standin, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", standin.ca_file)
    standin.script.clear()
    sc.TOKENS.clear()


def make_client(standin, secret=CLIENT_SECRET, **kwargs):
    options = dict(api_url=standin.api, token_url=standin.token_url, retries=2, backoff=0.01,
                   max_retry_wait=0.2, page_size=2, timeout=(2, 5))
    options.update(kwargs)
    return sc.SoundCloudClient(CLIENT_ID, secret, **options)


@pytest.fixture
def client(standin):
    with make_client(standin) as c:
        yield c


@pytest.mark.parametrize("given", [
    "alice", "https://soundcloud.com/alice", "soundcloud.com/alice/likes",
    "http://www.soundcloud.com/Alice?ref=x", "m.soundcloud.com/alice/"])
def test_profile_url_accepts_usernames_and_profile_urls(given):
    assert sc.profile_url(given) == "https://soundcloud.com/alice"


@pytest.mark.parametrize("given", ["", "https://evil.example/alice", "ali ce",
                                   "https://soundcloud.com/", "ftp://soundcloud.com/alice"])
def test_profile_url_refuses_anything_else(given):
    with pytest.raises(ValueError):
        sc.profile_url(given)


# -- OAuth 2.1 client credentials ------------------------------------------------------


def test_the_token_is_fetched_once_and_sent_as_oauth_header(client, standin):
    grants = standin.token_grants
    assert client.resolve_user("alice")["id"] == 1
    assert client.resolve_user("https://soundcloud.com/bob")["username"] == "bob"
    assert standin.token_grants == grants + 1  # lazily, once, then cached
    _, path, headers = next(e for e in reversed(standin.log) if e[1].startswith("/users/"))
    assert headers["Authorization"].startswith("OAuth ") and "client_id" not in path
    # Another client in the same process shares the cached token.
    with make_client(standin) as other:
        other.resolve_user("dave")
    assert standin.token_grants == grants + 1


def test_an_expiring_token_is_replaced_before_it_expires(standin):
    standin.token_lifetime = 2
    try:
        with make_client(standin) as c:
            grants = standin.token_grants
            c.resolve_user("alice")
            first = c.token()["access_token"]
            time.sleep(1.9)  # inside the refresh margin (10% of 2 s)
            c.resolve_user("alice")
            assert c.token()["access_token"] != first
            assert standin.token_grants == grants + 2
    finally:
        standin.token_lifetime = 3600


def test_a_401_fetches_a_new_token_and_retries_once(client, standin):
    client.resolve_user("alice")
    grants = standin.token_grants
    standin.revoke_tokens()  # the cached token is now refused
    assert [t["id"] for t in client.liked_tracks({"urn": "soundcloud:users:1"})] == [
        101, 102, 103]
    assert standin.token_grants == grants + 1


def test_a_refused_fresh_token_is_an_auth_error(client, standin):
    standin.script["/resolve"] = [401, 401]
    with pytest.raises(sc.AuthError, match="soundcloud_client_secret") as err:
        client.resolve_user("alice")
    assert err.value.code == "soundcloud_auth_failed"


def test_a_bad_secret_says_which_setting_to_check(standin):
    with make_client(standin, secret="wrong") as c:
        with pytest.raises(sc.AuthError) as err:
            c.resolve_user("alice")
    assert err.value.code == "soundcloud_auth_failed" and err.value.status == 401
    message = str(err.value)
    assert "invalid_client" in message or "bad client credentials" in message
    assert "KROTOS_SOUNDCLOUD_CLIENT_SECRET" in message and "wrong" not in message


def test_the_token_endpoint_is_retried_with_backoff(client, standin):
    standin.script["/oauth/token"] = [503, 502]
    assert client.resolve_user("alice")["id"] == 1
    assert standin.script["/oauth/token"] == []


def test_a_token_endpoint_that_stays_down_is_a_clear_failure(standin):
    standin.script["/oauth/token"] = [503] * 5
    with make_client(standin) as c, pytest.raises(sc.Unavailable, match="503 after 2 retries"):
        c.resolve_user("alice")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"https://localhost:{s.getsockname()[1]}/oauth/token"
    with make_client(standin, token_url=dead) as c, \
            pytest.raises(sc.Unavailable, match="unreachable after 2 retries") as err:
        c.resolve_user("alice")
    assert "soundcloud_token_url" in str(err.value)


def test_client_needs_both_credentials():
    with pytest.raises(ValueError, match="KROTOS_SOUNDCLOUD_CLIENT_SECRET"):
        sc.SoundCloudClient(CLIENT_ID, "", api_url="https://127.0.0.1:1")


# -- the API ---------------------------------------------------------------------------


def test_unknown_user_is_user_not_found(client):
    with pytest.raises(sc.UserNotFound, match="'nobody' does not exist"):
        client.resolve_user("nobody")


def test_likes_follow_next_href_across_pages(client, standin):
    alice = client.resolve_user("alice")
    before = len(standin.requests_to("/users/soundcloud:users:1/likes/tracks"))
    tracks = client.liked_tracks(alice)
    assert [t["id"] for t in tracks] == [101, 102, 103]
    pages = standin.requests_to("/users/soundcloud:users:1/likes/tracks")[before:]
    assert len(pages) == 2 and "offset=2" in pages[1]
    assert [t["id"] for t in client.liked_tracks(alice, limit=2)] == [101, 102]
    assert client.liked_tracks(3) == []


def test_429_is_retried_after_retry_after(client, standin):
    standin.script["/users/4/likes/tracks"] = [429, 429]
    assert [t["id"] for t in client.liked_tracks(4)] == [104]
    assert standin.script["/users/4/likes/tracks"] == []


def test_persistent_429_and_500_become_clear_errors(client, standin):
    standin.script["/users/4/likes/tracks"] = [429] * 5
    with pytest.raises(sc.RateLimited, match="429"):
        client.liked_tracks(4)
    standin.script["/users/5/likes/tracks"] = [500] * 5
    with pytest.raises(sc.Unavailable, match="500 after retries"):
        client.liked_tracks(5)


def test_next_href_leaving_the_api_host_is_refused(client):
    with pytest.raises(sc.SoundCloudError, match="not on the API host"):
        client.get_json("https://127.0.0.2:1/users/1/likes/tracks")


def test_streams_are_the_progressive_mp3_of_the_streams_endpoint(client, standin):
    tracks = {t["id"]: t for t in client.liked_tracks(1) + client.liked_tracks(2)
              + client.liked_tracks(9)}
    url = client.stream_url(tracks[101])
    assert url == f"{standin.api}/tracks/soundcloud:tracks:101/streams/http_mp3"
    with pytest.raises(sc.NotStreamable, match="not streamable"):
        client.stream_url(tracks[105])
    with pytest.raises(sc.NotStreamable, match="HLS"):
        client.stream_url(tracks[108])
    # The stream needs the token, redirects to the CDN, and arrives through the guard.
    policy = UrlPolicy(["127.0.0.1"])

    def fetch(u, headers):
        return fetch_audio(u, policy, max_bytes=10_000_000, headers=headers)
    body, final = client.download(tracks[101], fetch)
    assert final == f"{standin.base}/media/{MP3}" and body == standin.audio[MP3]
    # The token went to the API host only, never to the CDN.
    media = [h for s, p, h in standin.log if p.startswith("/media/")]
    assert media and all("Authorization" not in h for h in media)
    # A revoked token: the stream's 401 fetches a new one.
    standin.revoke_tokens()
    assert client.download(tracks[101], fetch)[0] == standin.audio[MP3]


# -- the guarded downloader ------------------------------------------------------------


def test_stream_redirect_to_a_private_address_is_refused(client, standin):
    track = dict(standin.tracks[106])
    before = len(standin.forbidden_log)
    with pytest.raises(FetchError) as err:
        client.download(track, lambda u, h: fetch_audio(u, UrlPolicy(["127.0.0.1"]),
                                                        max_bytes=10_000_000, headers=h))
    assert err.value.code == "url_not_allowed" and "127.0.0.2" in str(err.value)
    assert len(standin.forbidden_log) == before
    # Without an allow-list even the stand-in itself is out of reach.
    with pytest.raises(FetchError) as err:
        fetch_audio(f"{standin.base}/media/x.mp3", UrlPolicy(), max_bytes=100)
    assert err.value.code == "url_not_allowed" and "loopback" in str(err.value)


@pytest.mark.parametrize("url, code", [
    ("/media/missing.mp3", "url_fetch_failed"),
    ("/page.html", "not_audio"),
    ("/playlist.m3u8", "not_audio"),
    (f"/media/{MP3}", "too_large"),
])
def test_fetch_audio_errors(standin, url, code):
    with pytest.raises(FetchError) as err:
        fetch_audio(standin.base + url, UrlPolicy(["127.0.0.0/8"]), max_bytes=50_000)
    assert err.value.code == code


def test_a_trickling_server_is_cut_at_the_deadline(standin):
    started = time.monotonic()
    with pytest.raises(FetchError, match="deadline") as err:
        fetch_audio(f"{standin.base}/trickle/{MP3}", UrlPolicy(["127.0.0.1"]),
                    max_bytes=10_000_000, timeout=1.5)
    assert err.value.code == "url_fetch_failed"
    assert time.monotonic() - started < 10  # sanity bound, not a benchmark


FORBIDDEN_FORMS = ["2130706433", "0x7f000001", "017700000001", "127.1", "0.0.0.0",
                   "[::1]", "[::ffff:127.0.0.1]", "localhost.", "localhost", "127.0.0.2",
                   "[::7f00:1]", "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::]", "[::a9fe:a9fe]",
                   "[::ffff:0:7f00:1]", "[64:ff9b:1::a00:1]", "10.1.2.3", "169.254.169.254",
                   "192.168.0.1", "100.64.0.1", "[fe80::1]", "[fc00::1]",
                   "[2001:0:4136:e378:8000:63bf:3fff:fdd2]"]


@pytest.mark.parametrize("host", FORBIDDEN_FORMS)
def test_every_spelling_of_an_internal_address_is_refused(standin, host):
    before = len(standin.forbidden_log)
    port = standin.forbidden.rsplit(":", 1)[1]
    with pytest.raises(FetchError) as err:
        fetch_audio(f"http://{host}:{port}/latest/meta-data", UrlPolicy(), max_bytes=1000)
    assert err.value.code == "url_not_allowed", err.value
    with pytest.raises(FetchError) as err:
        UrlPolicy().check(f"http://{host}/a.mp3")
    assert err.value.code == "url_not_allowed"
    assert len(standin.forbidden_log) == before


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "[::1]", "[::ffff:127.0.0.1]",
                                  "[::7f00:1]"])
def test_allow_listed_addresses_are_accepted(host):
    UrlPolicy(["127.0.0.1", "10.0.0.0/8", "::1"]).check(f"http://{host}/a.mp3")


def test_url_policy_allows_public_addresses_and_listed_hosts():
    assert UrlPolicy().check("http://93.184.215.14/a.mp3")
    assert UrlPolicy(["localhost"]).check("http://localhost:1/a.mp3")
    assert UrlPolicy(["localhost"]).check("http://localhost.:1/a.mp3")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "ftp://10.0.0.1/a",
                                 "http:///x", "http://user:pw@example.com/a.mp3"])
def test_odd_urls_are_refused_before_any_connection(url):
    with pytest.raises(FetchError) as err:
        fetch_audio(url, UrlPolicy(["127.0.0.0/8"]), max_bytes=100)
    assert err.value.code == "invalid_url"


@pytest.fixture
def fake_dns(monkeypatch):
    """Names that the system resolver does not know, answered by the test."""
    real = socket.getaddrinfo
    answers, calls = {}, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            calls.append(host)
            address = answers[host](len([c for c in calls if c == host]))
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, calls


def test_a_name_answering_a_private_address_is_refused(standin, fake_dns):
    answers, _ = fake_dns
    answers["internal.example"] = lambda n: "127.0.0.2"
    port = standin.forbidden.rsplit(":", 1)[1]
    before = len(standin.forbidden_log)
    with pytest.raises(FetchError) as err:
        fetch_audio(f"http://internal.example:{port}/x", UrlPolicy(), max_bytes=100)
    assert err.value.code == "url_not_allowed" and "127.0.0.2" in str(err.value)
    assert len(standin.forbidden_log) == before


def test_dns_rebinding_cannot_reach_the_second_answer(standin, fake_dns):
    """The name answers an allowed address first and a forbidden one afterwards:
    it is resolved once, and the connection goes to the vetted address."""
    if standin.forbidden.rsplit(":", 1)[1] != standin.base.rsplit(":", 1)[1]:
        pytest.skip("could not bind the internal host on the stand-in's port")
    answers, calls = fake_dns
    answers["rebind.example"] = lambda n: "127.0.0.1" if n == 1 else "127.0.0.2"
    port = standin.base.rsplit(":", 1)[1]
    before = len(standin.forbidden_log)
    body, _ = fetch_audio(f"http://rebind.example:{port}/media/{MP3}",
                          UrlPolicy(["127.0.0.1"]), max_bytes=10_000_000)
    assert body == standin.audio[MP3] and calls == ["rebind.example"]
    assert len(standin.forbidden_log) == before
    host = [h for s, p, h in standin.log if s == "base" and p == f"/media/{MP3}"][-1]["Host"]
    assert host == f"rebind.example:{port}"


def test_a_redirect_to_an_internal_host_sends_it_nothing(standin):
    before = len(standin.forbidden_log)
    with pytest.raises(FetchError) as err:
        fetch_audio(f"{standin.base}/redirect-private", UrlPolicy(["127.0.0.1"]),
                    max_bytes=10_000_000)
    assert err.value.code == "url_not_allowed"
    assert len(standin.forbidden_log) == before


def test_https_keeps_the_name_for_sni_and_the_certificate(standin):
    """The connection is pinned to 127.0.0.1, the TLS handshake still names localhost
    (the certificate has no IP address: verification by address would fail)."""
    standin.sni.clear()
    port = standin.api.rsplit(":", 1)[1]
    body, _ = fetch_audio(f"https://localhost:{port}/media/{MP3}", UrlPolicy(["localhost"]),
                          max_bytes=10_000_000)
    assert body == standin.audio[MP3] and standin.sni == ["localhost"]


def test_an_unreadable_peer_is_refused(monkeypatch, standin):
    from urllib3.connection import HTTPConnection

    def no_peer(self):
        raise OSError("peer unknown")
    monkeypatch.setattr(HTTPConnection, "connect", lambda self: setattr(
        self, "sock", type("S", (), {"getpeername": no_peer, "close": lambda s: None})()))
    with pytest.raises(FetchError, match="cannot be established") as err:
        fetch_audio(f"{standin.base}/media/{MP3}", UrlPolicy(["127.0.0.1"]), max_bytes=100)
    assert err.value.code == "url_not_allowed"
