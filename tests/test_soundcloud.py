"""The SoundCloud client against a stand-in API server on 127.0.0.1 (real HTTP)."""

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soundcloud_standin import CLIENT_ID, StandIn  # noqa: E402

from krotos.service.fetch import FetchError, UrlPolicy, fetch_audio  # noqa: E402
from krotos.sources import soundcloud as sc  # noqa: E402


@pytest.fixture(scope="module")
def standin():
    server = StandIn()
    yield server
    server.close()


@pytest.fixture
def client(standin):
    standin.script.clear()
    with sc.SoundCloudClient(CLIENT_ID, api_url=standin.base, retries=2, backoff=0.01,
                             max_retry_wait=0.2, page_size=2, timeout=(2, 5)) as c:
        yield c


@pytest.mark.parametrize("given", [
    "alice", "https://soundcloud.com/alice", "soundcloud.com/alice/likes",
    "http://www.soundcloud.com/alice?ref=x", "m.soundcloud.com/alice/"])
def test_profile_url_accepts_usernames_and_profile_urls(given):
    assert sc.profile_url(given) == "https://soundcloud.com/alice"


@pytest.mark.parametrize("given", ["", "https://evil.example/alice", "ali ce",
                                   "https://soundcloud.com/", "ftp://soundcloud.com/alice"])
def test_profile_url_refuses_anything_else(given):
    with pytest.raises(ValueError):
        sc.profile_url(given)


def test_resolve_user_by_name_and_by_profile_url(client):
    assert client.resolve_user("alice")["id"] == 1
    assert client.resolve_user("https://soundcloud.com/bob")["username"] == "bob"


def test_unknown_user_is_user_not_found(client):
    with pytest.raises(sc.UserNotFound, match="'nobody' does not exist"):
        client.resolve_user("nobody")


def test_likes_follow_next_href_across_pages(client, standin):
    before = len(standin.requests_to("/users/1/likes/tracks"))
    tracks = client.liked_tracks(1)
    assert [t["id"] for t in tracks] == [101, 102, 103]
    pages = standin.requests_to("/users/1/likes/tracks")[before:]
    assert len(pages) == 2 and "offset=2" in pages[1] and f"client_id={CLIENT_ID}" in pages[1]
    assert [t["id"] for t in client.liked_tracks(1, limit=2)] == [101, 102]
    assert client.liked_tracks(3) == []


def test_429_is_retried_after_retry_after(client, standin):
    standin.script["/users/4/likes/tracks"] = [429, 429]
    assert [t["id"] for t in client.liked_tracks(4)] == [104]
    assert standin.script["/users/4/likes/tracks"] == []  # both scripted answers consumed


def test_persistent_429_and_500_become_clear_errors(client, standin):
    standin.script["/users/4/likes/tracks"] = [429] * 5
    with pytest.raises(sc.RateLimited, match="429"):
        client.liked_tracks(4)
    standin.script["/users/5/likes/tracks"] = [500] * 5
    started = time.monotonic()
    with pytest.raises(sc.Unavailable, match="500 after retries"):
        client.liked_tracks(5)
    assert time.monotonic() - started < 10  # the backoff is capped (sanity, not a benchmark)


def test_wrong_client_id_is_an_auth_error(standin):
    with sc.SoundCloudClient("wrong", api_url=standin.base, retries=0) as c:
        with pytest.raises(sc.AuthError, match="credentials"):
            c.resolve_user("alice")


def test_client_needs_credentials():
    with pytest.raises(ValueError, match="client id"):
        sc.SoundCloudClient("", api_url="http://127.0.0.1:1")


def test_next_href_leaving_the_api_host_is_refused(client):
    with pytest.raises(sc.SoundCloudError, match="not on the API host"):
        client.get_json("http://127.0.0.2:1/users/1/likes/tracks")


def test_stream_urls_from_the_track_or_the_streams_endpoint(client, standin):
    tracks = {t["id"]: t for t in client.liked_tracks(1) + client.liked_tracks(2)}
    url = client.stream_url(tracks[101])
    assert url.startswith(f"{standin.base}/tracks/101/stream?") and CLIENT_ID in url
    # No stream_url in the track object: asked of /tracks/<id>/streams.
    assert client.stream_url(tracks[103]).startswith(
        f"{standin.base}/media/Karissa_Hobbs_-_Lets_Go_Fishin.ogg")
    with pytest.raises(sc.NotStreamable):
        client.stream_url(tracks[105])
    # The stream redirects to the media; the audio arrives through the URL guard.
    body, final = fetch_audio(url, UrlPolicy(["127.0.0.1"]), max_bytes=10_000_000,
                              headers=client.stream_headers(url))
    assert final.startswith(f"{standin.base}/media/") and body == standin.audio[
        "TRWJAZW128F42760DD_test.mp3"]


def test_stream_redirect_to_a_private_address_is_refused(client, standin):
    track = dict(standin.tracks[106])
    url = client.stream_url(track)
    with pytest.raises(FetchError) as err:
        fetch_audio(url, UrlPolicy(["127.0.0.1"]), max_bytes=10_000_000)
    assert err.value.code == "url_not_allowed" and "127.0.0.2" in str(err.value)
    # Without an allow-list even the stand-in itself is out of reach.
    with pytest.raises(FetchError) as err:
        fetch_audio(f"{standin.base}/media/x.mp3", UrlPolicy(), max_bytes=100)
    assert err.value.code == "url_not_allowed" and "loopback" in str(err.value)


@pytest.mark.parametrize("url, code", [
    ("/media/missing.mp3", "url_fetch_failed"),
    ("/page.html", "not_audio"),
    ("/media/TRWJAZW128F42760DD_test.mp3", "too_large"),
])
def test_fetch_audio_errors(standin, url, code):
    with pytest.raises(FetchError) as err:
        fetch_audio(standin.base + url, UrlPolicy(["127.0.0.0/8"]), max_bytes=50_000)
    assert err.value.code == code


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "http:///x",
                                 "http://user:pw@example.com/a.mp3"])
def test_url_policy_refuses_odd_urls(url):
    with pytest.raises(FetchError) as err:
        UrlPolicy().check(url)
    assert err.value.code == "invalid_url"


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.0.1",
                                  "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "100.64.0.1"])
def test_url_policy_refuses_non_public_addresses(host):
    with pytest.raises(FetchError) as err:
        UrlPolicy().check(f"http://{host}/a.mp3")
    assert err.value.code == "url_not_allowed"
    UrlPolicy([host.strip("[]")]).check(f"http://{host}/a.mp3")  # allow-listed: accepted


def test_url_policy_allows_public_addresses_and_listed_hosts():
    assert UrlPolicy().check("http://93.184.215.14/a.mp3")
    assert UrlPolicy(["localhost"]).check("http://localhost:1/a.mp3")
    assert UrlPolicy(["10.0.0.0/8"]).check("http://10.9.8.7/a.mp3")


def test_connected_peer_is_checked_too(standin):
    """A host that resolved to a public address at check time but connects to a
    private one (DNS rebinding) is refused before its body is read."""
    import requests

    from krotos.service.fetch import _peer_address

    with requests.get(f"{standin.base}/page.html", stream=True) as response:
        peer = _peer_address(response)
    assert peer == "127.0.0.1"
    with pytest.raises(FetchError, match="connected to 127.0.0.1"):
        UrlPolicy().check_peer("http://public.example/a.mp3", peer)
    UrlPolicy(["127.0.0.1"]).check_peer("http://public.example/a.mp3", peer)
