"""The 7digital client against a real HTTP server on 127.0.0.1.

The server checks each request's OAuth 1.0 signature with oauthlib and
serves real mp3 bytes (the real 7digital preview from the shared fixtures,
or an mp3 written by soundfile when they are absent), or misbehaves on
purpose: 404, 429 with Retry-After, 500, slow answers, truncated bodies, HTML
error pages, empty bodies, 401.
"""

import collections
import http.server
import io
import os
import threading
import time
import types
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from oauthlib.oauth1.rfc5849 import signature as oauth_signature

from krotos.shards import status as st
from krotos.sources.fetch import fetch_shard, open_source, read_previews_json
from krotos.sources.sevendigital import AuthError, SevenDigitalClient, credentials

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"
REAL_MP3 = REAL / "audio" / "TRWJAZW128F42760DD_test.mp3"
KEY, SECRET = "test-key", "test-secret"


def generated_mp3_bytes(seconds=3.0, sr=22050):
    t = np.arange(int(seconds * sr)) / sr
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t),
                       0.3 * np.sin(2 * np.pi * 660 * t)], axis=1)
    buf = io.BytesIO()
    sf.write(buf, stereo, sr, format="MP3")
    return buf.getvalue()


@pytest.fixture(scope="module", params=["real", "generated"])
def mp3_bytes(request):
    if request.param == "real":
        if not REAL_MP3.exists():
            pytest.skip(f"real 7digital preview fixture absent ({REAL_MP3})")
        return REAL_MP3.read_bytes()
    return generated_mp3_bytes()


class Behaviour:
    """What the server saw. Ids choose the answer: 404 -> 404; 429 -> 429 with
    Retry-After: 1 once; 500 -> always 500; 501 -> 500 once; 600 -> 0.6 s late;
    700 -> truncated; 701 -> truncated once; 800 -> HTML page; 801 -> HTML as
    audio/mpeg; 802 -> empty 200; anything else -> the mp3."""

    def __init__(self, mp3):
        self.mp3 = mp3
        self.hits = collections.Counter()
        self.log = []  # (id, time, client port, nonce, signature valid)
        self.lock = threading.Lock()


def make_handler(behaviour):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

        def log_message(self, *args):
            pass

        def _send(self, code, body=b"", ctype="audio/mpeg", headers=(), length=None):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            track = url.path.rstrip("/").rsplit("/", 1)[-1]
            query = dict(urllib.parse.parse_qsl(url.query))
            request = types.SimpleNamespace(
                params=oauth_signature.collect_parameters(uri_query=url.query),
                uri=f"http://127.0.0.1:{self.server.server_port}{url.path}",
                http_method="GET", signature=query.get("oauth_signature"))
            valid = (query.get("oauth_consumer_key") == KEY
                     and oauth_signature.verify_hmac_sha1(request, SECRET))
            with behaviour.lock:
                behaviour.hits[track] += 1
                n = behaviour.hits[track]
                behaviour.log.append((track, time.monotonic(), self.client_address[1],
                                      query.get("oauth_nonce"), valid,
                                      query.get("country")))
            mp3 = behaviour.mp3
            if not valid:
                return self._send(401, b"bad signature", "text/plain")
            if track == "404":
                return self._send(404, b"<html>not found</html>", "text/html")
            if track == "429":  # rate limited once, asks for 1 s
                if n == 1:
                    return self._send(429, b"slow down", "text/plain",
                                      headers=[("Retry-After", "1")])
                return self._send(200, mp3)
            if track == "501":
                return self._send(500, b"oops", "text/plain") if n == 1 else self._send(200, mp3)
            if track == "500":
                return self._send(500, b"oops", "text/plain")
            if track == "600":
                time.sleep(0.6)
                return self._send(200, mp3)
            if track == "700":  # announces the full length, sends half, hangs up
                self.close_connection = True
                return self._send(200, mp3[:len(mp3) // 2], length=len(mp3))
            if track == "701":
                if n == 1:
                    self.close_connection = True
                    return self._send(200, mp3[:len(mp3) // 2], length=len(mp3))
                return self._send(200, mp3)
            if track == "800":
                return self._send(200, b"<!DOCTYPE html><html><body>Service unavailable"
                                       b"</body></html>", "text/html; charset=utf-8")
            if track == "801":
                return self._send(200, b"<html><body>error</body></html>", "audio/mpeg")
            if track == "802":
                return self._send(200, b"")
            return self._send(200, mp3)

    return Handler


@pytest.fixture(scope="module")
def running_server(mp3_bytes):
    behaviour = Behaviour(mp3_bytes)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(behaviour))
    httpd.daemon_threads = True
    httpd.block_on_close = False
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    behaviour.base_url = f"http://127.0.0.1:{httpd.server_port}/clip/"
    yield behaviour
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(running_server):
    """The module's server with a clean record for this test."""
    with running_server.lock:
        running_server.hits.clear()
        running_server.log.clear()
    return running_server


def client_for(server, **kw):
    options = dict(base_url=server.base_url, country="GB", timeout=(1.0, 0.2),
                   retries=2, backoff=0.01, max_wait=5.0, rate_limit=0)
    options.update(kw)
    return SevenDigitalClient(KEY, SECRET, **options)


def test_downloads_real_mp3_signed_with_oauth(server, tmp_path):
    with client_for(server) as client:
        result = client.fetch(1234, tmp_path / "1234.mp3")
    assert result["status"] == st.OK, result
    assert (tmp_path / "1234.mp3").read_bytes() == server.mp3
    info = sf.info(str(tmp_path / "1234.mp3"))
    assert info.channels == 2 and info.frames > 0
    track, _, _, nonce, valid, country = server.log[0]
    assert (track, valid, country) == ("1234", True, "GB") and nonce


def test_wrong_secret_is_an_auth_error_not_a_track_failure(server, tmp_path):
    client = SevenDigitalClient(KEY, "wrong", base_url=server.base_url, retries=0)
    with pytest.raises(AuthError, match="401"):
        client.fetch(1, tmp_path / "1.mp3")
    assert not list(tmp_path.iterdir())


def test_404_is_missing_preview_without_retry(server, tmp_path):
    result = client_for(server).fetch(404, tmp_path / "404.mp3")
    assert result["status"] == st.MISSING_PREVIEW
    assert "404" in result["reason"]
    assert server.hits["404"] == 1
    assert not list(tmp_path.iterdir())


def test_429_waits_for_retry_after_then_succeeds(server, tmp_path):
    result = client_for(server).fetch(429, tmp_path / "429.mp3")
    assert result["status"] == st.OK
    times = [t for track, t, *_ in server.log if track == "429"]
    assert len(times) == 2
    # backoff is 0.01 s, so only the header can explain a wait of ~1 s
    assert times[1] - times[0] >= 0.9


def test_500_is_retried_with_a_fresh_oauth_nonce(server, tmp_path):
    result = client_for(server).fetch(501, tmp_path / "501.mp3")
    assert result["status"] == st.OK
    nonces = [nonce for track, _, _, nonce, valid, _ in server.log
              if track == "501" and valid]
    assert len(nonces) == 2 and nonces[0] != nonces[1]


def test_persistent_500_fails_after_all_retries(server, tmp_path):
    result = client_for(server, retries=2).fetch(500, tmp_path / "500.mp3")
    assert result["status"] == st.FETCH_FAILED
    assert "HTTP 500" in result["reason"] and "3 attempt" in result["reason"]
    assert server.hits["500"] == 3
    assert not list(tmp_path.iterdir())


def test_slow_server_times_out(server, tmp_path):
    result = client_for(server, retries=1).fetch(600, tmp_path / "slow.mp3")
    assert result["status"] == st.FETCH_FAILED
    assert "Timeout" in result["reason"] or "timed out" in result["reason"]
    assert not list(tmp_path.iterdir())


def test_slow_server_is_fine_with_a_longer_timeout(server, tmp_path):
    client = client_for(server, timeout=(1.0, 5.0))
    assert client.fetch(600, tmp_path / "slow.mp3")["status"] == st.OK


def test_truncated_body_is_never_saved(server, tmp_path):
    result = client_for(server, retries=1).fetch(700, tmp_path / "t.mp3")
    assert result["status"] == st.FETCH_FAILED
    assert "broken off" in result["reason"] or "truncated" in result["reason"]
    assert server.hits["700"] == 2
    assert not list(tmp_path.iterdir())


def test_truncated_body_is_retried(server, tmp_path):
    result = client_for(server).fetch(701, tmp_path / "t.mp3")
    assert result["status"] == st.OK
    assert (tmp_path / "t.mp3").read_bytes() == server.mp3


@pytest.mark.parametrize("track, words", [(800, "text/html"),  # HTML error page
                                          (801, "HTML"),  # HTML labelled audio/mpeg
                                          (802, "empty")])
def test_non_audio_bodies_are_rejected(server, tmp_path, track, words):
    result = client_for(server).fetch(track, tmp_path / f"{track}.mp3")
    assert result["status"] == st.FETCH_FAILED
    assert words in result["reason"]
    assert not list(tmp_path.iterdir())


def test_valid_file_on_disk_is_not_fetched_again(server, tmp_path):
    client = client_for(server)
    assert client.fetch(77, tmp_path / "77.mp3")["status"] == st.OK
    again = client.fetch(77, tmp_path / "77.mp3")
    assert again == {"path": str(tmp_path / "77.mp3"), "status": st.OK,
                     "reason": "already on disk"}
    assert server.hits["77"] == 1


def test_invalid_file_on_disk_is_replaced(server, tmp_path):
    (tmp_path / "78.mp3").write_bytes(b"<html>error page saved by an old run</html>")
    assert client_for(server).fetch(78, tmp_path / "78.mp3")["status"] == st.OK
    assert server.hits["78"] == 1
    assert (tmp_path / "78.mp3").read_bytes() == server.mp3


def test_session_reuses_one_connection(server, tmp_path):
    client = client_for(server)
    for i in range(3):
        assert client.fetch(100 + i, tmp_path / f"{i}.mp3")["status"] == st.OK
    ports = {port for _, _, port, *_ in server.log}
    assert len(ports) == 1


def test_rate_limit_spaces_requests(server, tmp_path):
    client = client_for(server, rate_limit=10.0)
    for i in range(4):
        client.fetch(200 + i, tmp_path / f"{i}.mp3")
    times = [t for _, t, *_ in server.log]
    assert min(np.diff(times)) >= 0.09


def test_fetch_shard_collects_downloads_and_statuses(server, tmp_path):
    Track = collections.namedtuple("Track", "track_id track_7digitalid")
    tracks = [Track("TRA", 11), Track("TRB", 404), Track("TRC", None), Track("TRD", 12),
              Track("TRE", 11)]  # two tracks, one 7digital id
    source = open_source("7digital", download_dir=str(tmp_path / "work"),
                         consumer_key=KEY, consumer_secret=SECRET,
                         base_url=server.base_url, retries=0, rate_limit=0)
    out = tmp_path / "out"
    out.mkdir()
    seen = []
    records = fetch_shard(tracks, source, str(out), progress=lambda f, m: seen.append(f))
    assert [r["status"] for r in records] == [st.OK, st.MISSING_PREVIEW,
                                              st.MISSING_PREVIEW, st.OK, st.OK]
    assert seen[-1] == 1.0 and len(seen) == 5
    assert server.hits["11"] == 1
    back = read_previews_json(out / "previews.json")
    assert back[0]["path"] == str(out / "previews" / "11.mp3")
    assert (out / "previews" / "11.mp3").read_bytes() == server.mp3
    assert "no track_7digitalid" in back[2]["reason"]
    assert back[4]["path"] == back[0]["path"]
    assert sorted(os.listdir(out / "previews")) == ["11.mp3", "12.mp3"]


def test_credentials_from_environment(monkeypatch):
    monkeypatch.setenv("KROTOS_7DIGITAL_KEY", "k")
    monkeypatch.setenv("KROTOS_7DIGITAL_SECRET", "s")
    assert credentials() == ("k", "s")
    assert credentials("a", "b") == ("a", "b")
    monkeypatch.delenv("KROTOS_7DIGITAL_SECRET")
    with pytest.raises(ValueError, match="KROTOS_7DIGITAL_SECRET"):
        credentials()
