"""The web service with its real parts: redis-server, rq worker processes
(``krotos worker``), the Flask app over HTTP, and the SoundCloud stand-in
(OAuth token endpoint and API over HTTPS, media over HTTP)."""

import io
import signal
import socket
import struct
import time
import uuid

import numpy as np
import pytest
import requests
import soundfile as sf

from conftest import (
    NAMES, XSS_NAME, XSS_TITLE, RedisServer, free_port, make_standin, serving, start_worker,
    stop_worker, submit, tiny_model, wait_healthy, wait_job)

from krotos.service.app import create_app
from krotos.service.config import ServiceConfig

MAX_BYTES = 1_000_000
MP3 = NAMES[0]
TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_url(redis_server):
    return redis_server.url


@pytest.fixture(scope="module")
def standin():
    server = make_standin()
    yield server
    server.close()


@pytest.fixture(scope="module")
def queue_name():
    return f"krotos-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def config(redis_url, queue_name):
    return ServiceConfig(redis_url=redis_url, queue=queue_name, allow=("127.0.0.1",),
                         max_upload_bytes=MAX_BYTES, rate_limit="1000 per minute",
                         max_likes=4)


@pytest.fixture(scope="module")
def api(config):
    with serving(create_app(config)) as base:
        yield base


@pytest.fixture(scope="module")
def worker(redis_url, queue_name, standin, api, tmp_path_factory):
    proc = start_worker(redis_url, queue_name, standin, tmp_path_factory.mktemp("worker"),
                        MAX_BYTES)
    wait_healthy(api, proc)
    yield proc
    stop_worker(proc)


def error_of(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()["error"]["code"]


def uploads_left(config):
    import redis

    return list(redis.Redis.from_url(config.redis_url).scan_iter(match="krotos:upload:*"))


def wav_bytes(samples, sr=22050):
    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, dtype=np.float32), sr, format="WAV")
    return buf.getvalue()


def bomb(sample_rate=1, data_bytes=4000):
    """The probe's decoding bomb: a tiny WAV whose header claims a 1 Hz rate."""
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    body = np.random.default_rng(0).integers(-8000, 8000, data_bytes // 2,
                                             dtype=np.int16).tobytes()
    return (b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE" + b"fmt " +
            struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(body)) + body)


# -- health and the happy path ---------------------------------------------------------


def test_healthz_says_ok_and_shows_details_only_with_the_token(api, config, worker):
    assert requests.get(f"{api}/healthz").json()["status"] == "ok"  # open service: details
    secured = ServiceConfig(redis_url=config.redis_url, queue=config.queue, api_token=TOKEN)
    with serving(create_app(secured)) as base:
        plain = requests.get(f"{base}/healthz")
        assert plain.status_code == 200 and plain.json() == {"status": "ok"}
        body = requests.get(f"{base}/healthz", headers=AUTH).json()
    assert body["status"] == "ok" and body["redis"] is True
    models = [w for w in body["workers"] if w.get("model_id")]
    assert models and models[0]["n_tags"] == len(tiny_model.VOCAB)
    assert models[0]["n_factors"] == tiny_model.N_FACTORS


def test_upload_is_embedded_then_served_from_the_cache(api, worker, standin, config):
    data = standin.audio[MP3]
    job = submit(api, files={"file": (MP3, data, "audio/mpeg")})
    first = wait_job(api, job)
    assert first["status"] == "finished", first
    result = first["result"]
    assert set(result["tags"]) == set(tiny_model.VOCAB)
    assert all(0.0 <= p <= 1.0 for p in result["tags"].values())
    assert len(result["vector"]) == tiny_model.N_FACTORS
    assert result["duration"] > 5 and result["cached"] is False and result["cut"] is False
    # The same bytes again, as a raw body: not processed twice.
    again = wait_job(api, submit(api, data=data, headers={"Content-Type": "audio/mpeg"}))
    assert again["result"]["cached"] is True
    assert again["result"]["vector"] == result["vector"]
    assert again["result"]["sha256"] == result["sha256"]
    assert uploads_left(config) == []


def test_audio_url_is_fetched_and_shares_the_content_cache(api, worker, standin):
    body = wait_job(api, submit(api, json={"url": f"{standin.base}/redirect-ok"}))
    assert body["status"] == "finished", body
    assert body["result"]["source"]["final_url"].endswith("/media/" + MP3)
    ogg = wait_job(api, submit(api, data={"url": f"{standin.base}/media/{NAMES[1]}"}))
    assert ogg["status"] == "finished" and ogg["result"]["duration"] > 10


def test_compatibility_of_two_users(api, worker, standin):
    body = wait_job(api, submit(api, "/v1/compatibility",
                                json={"user_a": "alice", "user_b": "https://soundcloud.com/bob"}))
    assert body["status"] == "finished", body
    result = body["result"]
    assert 0.0 <= result["score"] <= 1.0
    assert result["score"] == pytest.approx((1 + result["cosine"]) / 2, abs=1e-5)
    alice, bob = result["users"]
    assert (alice["n_likes"], alice["n_tracks"], alice["capped"]) == (3, 3, False)
    assert (bob["n_likes"], bob["n_tracks"]) == (3, 2)
    assert [s["code"] for s in bob["skipped"]] == ["not_streamable"]
    assert result["common_tracks"] == [102]
    pairs = result["closest_pairs"]
    assert [p["similarity"] for p in pairs] == sorted((p["similarity"] for p in pairs),
                                                      reverse=True)
    same = [p for p in pairs if p["a"]["id"] == p["b"]["id"] == 102]
    assert same and same[0]["similarity"] == pytest.approx(1, abs=1e-5)
    assert {t["tag"] for t in result["shared_tags"]} <= set(tiny_model.VOCAB)
    assert result["shared_tags"] and "mean of the unit-normalized" in result["method"]
    assert body["progress"]["tracks_done"] == 6
    # The token went to the API host only; the CDN never saw it.
    media = [h for s, p, h in standin.log if p.startswith("/media/")]
    assert media and all("Authorization" not in h for h in media)


def test_hundreds_of_likes_are_capped_and_the_cap_is_reported(api, worker):
    body = wait_job(api, submit(api, "/v1/compatibility", json={"users": ["many", "alice"]}))
    assert body["status"] == "finished", body
    many = body["result"]["users"][0]
    assert (many["n_likes"], many["likes_cap"], many["capped"]) == (4, 4, True)


def test_an_expired_token_is_replaced_and_the_job_goes_on(api, worker, standin):
    standin.revoke_tokens()
    grants = standin.token_grants
    body = wait_job(api, submit(api, "/v1/compatibility", json={"users": ["dave", "erin"]}))
    assert body["status"] == "finished", body
    assert standin.token_grants == grants + 1


def test_rate_limited_soundcloud_is_retried(api, worker, standin):
    standin.script["/users/soundcloud:users:4/likes/tracks"] = [429, 429]
    body = wait_job(api, submit(api, "/v1/compatibility", json={"users": ["dave", "alice"]}))
    assert body["status"] == "finished", body
    assert standin.script["/users/soundcloud:users:4/likes/tracks"] == []


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("users, code", [
    (["nobody", "alice"], "soundcloud_user_not_found"),
    (["alice", "carol"], "soundcloud_no_likes"),
    (["mallory", "alice"], "no_usable_tracks"),
])
def test_compatibility_failures_have_stable_codes(api, worker, standin, users, code):
    before = len(standin.forbidden_log)
    body = wait_job(api, submit(api, "/v1/compatibility", json={"users": users}))
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    if code == "no_usable_tracks":
        # The stream that redirects to the internal host is refused; the one that 404s fails.
        assert sorted(s["code"] for s in body["error"]["details"]["skipped"]) == [
            "url_fetch_failed", "url_not_allowed"]
        assert len(standin.forbidden_log) == before


@pytest.mark.parametrize("status, code", [(500, "soundcloud_unavailable"),
                                          (429, "soundcloud_rate_limited")])
def test_soundcloud_errors_fail_the_job(api, worker, standin, status, code):
    path = "/users/soundcloud:users:5/likes/tracks"
    standin.script[path] = [status] * 10
    try:
        body = wait_job(api, submit(api, "/v1/compatibility", json={"users": ["erin", "bob"]}))
    finally:
        standin.script.pop(path, None)
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    assert str(status) in body["error"]["message"]


@pytest.mark.parametrize("status, code, says", [
    (401, "soundcloud_auth_failed", "KROTOS_SOUNDCLOUD_CLIENT_SECRET"),
    (503, "soundcloud_unavailable", "soundcloud_token_url"),
])
def test_token_endpoint_refusals_fail_the_job_clearly(api, worker, standin, status, code, says):
    standin.revoke_tokens()
    standin.script["/oauth/token"] = [status] * 10
    try:
        body = wait_job(api, submit(api, "/v1/compatibility", json={"users": ["dave", "erin"]}))
    finally:
        standin.script.pop("/oauth/token", None)
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    assert says in body["error"]["message"]


@pytest.mark.parametrize("payload, code", [
    ({}, "bad_request"), ({"user_a": "alice"}, "bad_request"),
    ({"users": ["a", "b", "c"]}, "bad_request"),
    ({"user_a": "alice", "user_b": "https://evil.example/x"}, "bad_request"),
    ({"user_a": "alice", "user_b": "https://soundcloud.com/Alice/likes"}, "same_user"),
])
def test_compatibility_needs_two_different_valid_users(api, payload, code):
    assert error_of(requests.post(f"{api}/v1/compatibility", json=payload), 400) == code


def test_undecodable_upload_fails_and_the_worker_goes_on(api, worker, standin, config):
    garbage = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40
    body = wait_job(api, submit(api, files={"file": ("noise.mp3", garbage)}))
    assert body["status"] == "failed" and body["error"]["code"] == "undecodable", body
    assert body["error"]["message"].startswith("noise.mp3: ")
    assert "/tmp" not in body["error"]["message"]
    assert uploads_left(config) == []  # failed uploads do not linger
    ok = wait_job(api, submit(api, files={"file": ("again.ogg", standin.audio[NAMES[2]])}))
    assert ok["status"] == "finished" and worker.poll() is None


def test_a_decoding_bomb_fails_fast_and_can_be_sent_again(api, worker, config):
    for _ in range(2):  # a failed bomb is not cached: the same bytes are judged again
        body = wait_job(api, submit(api, files={"file": ("bomb.wav", bomb())}))
        assert body["status"] == "failed", body
        assert body["error"]["code"] == "unsupported_sample_rate", body
    assert uploads_left(config) == [] and worker.poll() is None


def test_too_short_audio_fails_with_its_code(api, worker):
    short = wav_bytes(0.3 * np.sin(np.arange(2205) / 5.0))
    body = wait_job(api, submit(api, files={"file": ("short.wav", short)}))
    assert body["status"] == "failed" and body["error"]["code"] == "too_short", body


@pytest.mark.parametrize("name, data", [
    ("a.mp3", b"<html>no</html>"), ("noise.bin", bytes(range(256)) * 40),
    ("list.m3u8", b"#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1:6379/\n"),
    ("tagged.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00#EXTM3U\n#EXTINF:1,\nhttp://10.0.0.1/a\n"),
])
def test_what_is_not_audio_is_refused_on_submission(api, name, data):
    response = requests.post(f"{api}/v1/tracks", files={"file": (name, data)})
    assert error_of(response, 415) == "not_audio"


def test_empty_upload_is_refused(api):
    response = requests.post(f"{api}/v1/tracks", files={"file": ("a.mp3", b"")})
    assert error_of(response, 400) == "empty_upload"


@pytest.mark.parametrize("as_form", [True, False])
def test_oversized_upload_is_refused(api, as_form):
    big = b"\xff\xfb" * (MAX_BYTES // 2 + 40_000)
    if as_form:
        response = requests.post(f"{api}/v1/tracks", files={"file": ("big.mp3", big)})
    else:
        response = requests.post(f"{api}/v1/tracks", data=big,
                                 headers={"Content-Type": "audio/mpeg"})
    assert error_of(response, 413) == "payload_too_large"


@pytest.mark.parametrize("path, code", [("/media/missing.mp3", "url_fetch_failed"),
                                        ("/page.html", "not_audio"),
                                        ("/playlist.m3u8", "not_audio"),
                                        ("/redirect-private", "url_not_allowed")])
def test_bad_audio_urls_fail_the_job(api, worker, standin, path, code):
    before = len(standin.forbidden_log)
    body = wait_job(api, submit(api, json={"url": standin.base + path}))
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    if code == "url_fetch_failed":
        assert "404" in body["error"]["message"]
    assert len(standin.forbidden_log) == before


def test_a_trickling_download_hits_its_deadline(config, standin, worker, tmp_path):
    """fetch_timeout bounds the whole download, not each read."""
    from krotos.service.fetch import FetchError, UrlPolicy, fetch_audio

    started = time.monotonic()
    with pytest.raises(FetchError, match="deadline"):
        fetch_audio(f"{standin.base}/trickle/{MP3}", UrlPolicy(config.allow),
                    max_bytes=MAX_BYTES, timeout=2)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("url, code", [
    ("http://127.0.0.2:9/a.mp3", "url_not_allowed"), ("http://10.0.0.1/a.mp3", "url_not_allowed"),
    ("http://167772161/a.mp3", "url_not_allowed"), ("http://[::a00:1]/a", "url_not_allowed"),
    ("http://[64:ff9b::a9fe:a9fe]/a", "url_not_allowed"),
    ("http://[2002:a9fe:a9fe::]/a", "url_not_allowed"),
    ("http://[::a9fe:a9fe]/a", "url_not_allowed"),
    ("file:///etc/passwd", "invalid_url"), ("gopher://127.0.0.1/", "invalid_url"),
    ("ftp://10.0.0.1/a.mp3", "invalid_url")])
def test_private_audio_urls_are_refused_on_submission(api, url, code):
    assert error_of(requests.post(f"{api}/v1/tracks", json={"url": url}), 400) == code


def test_without_allow_list_loopback_is_refused(config, standin):
    plain = ServiceConfig(redis_url=config.redis_url, queue=config.queue)
    with serving(create_app(plain)) as base:
        response = requests.post(f"{base}/v1/tracks", json={"url": f"{standin.base}/media/x"})
    assert error_of(response, 400) == "url_not_allowed"


def test_bad_requests_get_json_errors(api):
    assert error_of(requests.post(f"{api}/v1/tracks", data=b"x",
                                  headers={"Content-Type": "text/plain"}), 400) == "bad_request"
    assert error_of(requests.post(f"{api}/v1/tracks", json={"uri": "x"}), 400) == "bad_request"
    assert error_of(requests.get(f"{api}/v1/jobs/no-such-job"), 404) == "job_not_found"
    assert error_of(requests.get(f"{api}/v2/nothing"), 404) == "not_found"
    assert error_of(requests.get(f"{api}/v1/tracks"), 405) == "method_not_allowed"


def test_deeply_nested_json_is_a_400(api):
    nested = b"[" * 200_000 + b"]" * 200_000
    for path in ("/v1/tracks", "/v1/compatibility"):
        response = requests.post(f"{api}{path}", data=nested,
                                 headers={"Content-Type": "application/json"})
        assert error_of(response, 400) == "bad_request"


def test_oversized_headers_get_a_json_431(api):
    host, port = api.rsplit("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /v1/jobs/x HTTP/1.1\r\nHost: x\r\n" +
                  b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431") and b"application/json" in head
    assert b'"headers_too_large"' in body


def test_api_token_is_required_when_configured(config, worker, standin):
    secured = ServiceConfig(redis_url=config.redis_url, queue=config.queue,
                            allow=config.allow, api_token=TOKEN)
    with serving(create_app(secured)) as base:
        url = {"url": f"{standin.base}/media/{MP3}"}
        assert error_of(requests.post(f"{base}/v1/tracks", json=url), 401) == "unauthorized"
        wrong = {"Authorization": "Bearer nope"}
        assert error_of(requests.post(f"{base}/v1/tracks", json=url, headers=wrong),
                        401) == "unauthorized"
        job = submit(base, json=url, headers=AUTH)
        assert error_of(requests.get(f"{base}/v1/jobs/{job}"), 401) == "unauthorized"
        assert wait_job(base, job, headers=AUTH)["status"] == "finished"


def test_job_creation_is_rate_limited_per_client(config):
    limited = ServiceConfig(redis_url=config.redis_url, queue=f"{config.queue}-limits",
                            rate_limit="2 per minute")
    with serving(create_app(limited)) as base:
        payload = {"users": ["alice", "bob"]}
        for _ in range(2):
            assert requests.post(f"{base}/v1/compatibility", json=payload).status_code == 202
        response = requests.post(f"{base}/v1/compatibility", json=payload)
        assert error_of(response, 429) == "rate_limited"
        assert "2 per minute" in response.json()["error"]["message"]
        assert requests.get(f"{base}/healthz").status_code in (200, 503)  # reads are free


def test_redis_down_is_a_503_with_a_clear_message(standin):
    down = ServiceConfig(redis_url=f"redis://127.0.0.1:{free_port()}/0", queue="q")
    with serving(create_app(down)) as base:
        upload = requests.post(f"{base}/v1/tracks", files={"file": (MP3, standin.audio[MP3])})
        assert error_of(upload, 503) == "redis_unavailable"
        assert "Redis" in upload.json()["error"]["message"]
        assert error_of(requests.get(f"{base}/v1/jobs/abc"), 503) == "redis_unavailable"
        health = requests.get(f"{base}/healthz")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"


# -- the page, without a browser (tests/test_service_page.py drives one) -------------


def page_session(base):
    """A requests session holding the page's CSRF token."""
    import re

    s = requests.Session()
    html = s.get(f"{base}/").text
    return s, re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("form, says", [
    ({"user_a": "", "user_b": ""}, "Give two SoundCloud profiles"),
    ({"user_a": "alice", "user_b": ""}, "Give both SoundCloud profiles"),
    ({"user_a": "alice", "user_b": "https://evil.example/bob"}, "neither a SoundCloud"),
    ({"user_a": "alice", "user_b": "soundcloud.com/ALICE"}, "two different users"),
])
def test_page_form_errors_create_no_job(api, config, form, says):
    from rq import Queue

    import redis

    queue = Queue(config.queue, connection=redis.Redis.from_url(config.redis_url))
    before = queue.count
    s, csrf = page_session(api)
    response = s.post(f"{api}/", data=dict(form, csrf_token=csrf), allow_redirects=False)
    assert response.status_code == 400 and says in response.text
    assert queue.count == before


def test_page_needs_its_csrf_token(api):
    response = requests.post(f"{api}/", data={"user_a": "alice", "user_b": "bob"})
    assert response.status_code == 400 and "CSRF" in response.text


def test_page_sends_security_headers(api):
    response = requests.get(f"{api}/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "object-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_page_escapes_what_soundcloud_says(api, worker):
    s, csrf = page_session(api)
    response = s.post(f"{api}/", data={"user_a": "xss", "user_b": "alice", "csrf_token": csrf},
                      allow_redirects=False)
    assert response.status_code == 303
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert wait_job(api, job_id)["status"] == "finished"
    html = s.get(f"{api}/jobs/{job_id}").text
    assert XSS_NAME not in html and XSS_TITLE not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html


def test_page_compares_two_sets_of_files(api, worker, standin, config):
    s, csrf = page_session(api)
    files = [("files_a", (NAMES[0], standin.audio[NAMES[0]], "audio/mpeg")),
             ("files_a", ("notes.txt", b"just text", "text/plain")),
             ("files_b", (NAMES[2], standin.audio[NAMES[2]], "audio/ogg"))]
    response = s.post(f"{api}/", data={"csrf_token": csrf}, files=files[::2],
                      allow_redirects=False)
    assert response.status_code == 303, response.text
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    body = wait_job(api, job_id)
    assert body["status"] == "finished", body
    a, b = body["result"]["users"]
    assert (a["username"], a["n_tracks"], b["n_tracks"]) == ("Files A", 1, 1)
    assert uploads_left(config) == []
    # A file that is not audio is a form error, not a job.
    response = s.post(f"{api}/", data={"csrf_token": csrf}, files=files[:2] + files[2:])
    assert response.status_code == 400 and "notes.txt" in response.text


def test_page_asks_for_the_token_once_and_never_puts_it_in_a_url(config, worker):
    secured = ServiceConfig(redis_url=config.redis_url, queue=config.queue, api_token=TOKEN)
    with serving(create_app(secured)) as base:
        s = requests.Session()
        first = s.get(f"{base}/")
        assert first.url.startswith(f"{base}/login") and TOKEN not in first.url
        import re

        csrf = re.search(r'name="csrf_token" value="([^"]+)"', first.text).group(1)
        wrong = s.post(f"{base}/login?next=/", data={"token": "nope", "csrf_token": csrf})
        assert wrong.status_code == 401
        ok = s.post(f"{base}/login?next=/", data={"token": TOKEN, "csrf_token": csrf})
        assert ok.status_code == 200 and ok.url == f"{base}/" and "user_a" in ok.text
        assert TOKEN not in ok.url and all(TOKEN not in r.url for r in ok.history)
        assert TOKEN not in s.cookies.get("session", "")
        assert s.get(f"{base}/").url == f"{base}/"  # asked once
        assert requests.get(f"{base}/jobs/x/status").status_code == 401


# -- workers that die, Redis that restarts ---------------------------------------------


def test_healthz_follows_the_workers_and_redis(redis_server, standin, tmp_path):
    """Heartbeats with a TTL: a killed worker leaves /healthz within three beats;
    a worker that outlives a Redis restart is back at its next beat."""
    queue = f"krotos-health-{uuid.uuid4().hex[:6]}"
    cfg = ServiceConfig(redis_url=redis_server.url, queue=queue)
    with serving(create_app(cfg)) as base:
        proc = start_worker(redis_server.url, queue, standin, tmp_path, MAX_BYTES)
        try:
            wait_healthy(base, proc)
            redis_server.stop()
            assert requests.get(f"{base}/healthz").status_code == 503
            redis_server.start()
            deadline = time.monotonic() + 20
            while requests.get(f"{base}/healthz").status_code != 200:
                assert time.monotonic() < deadline, "worker not seen after the Redis restart"
                time.sleep(0.2)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            deadline = time.monotonic() + 20
            while requests.get(f"{base}/healthz").json()["status"] != "no_worker":
                assert time.monotonic() < deadline, "a dead worker still counts as live"
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                stop_worker(proc)


def test_a_job_whose_worker_is_killed_is_retried_then_failed(redis_server, standin, tmp_path):
    """kill -9 mid-job: the job is run again by another worker (job_retries = 1);
    when that one is killed too, the job ends failed, worker_lost, within seconds."""
    queue = f"krotos-kill-{uuid.uuid4().hex[:6]}"
    cfg = ServiceConfig(redis_url=redis_server.url, queue=queue, allow=("127.0.0.1",),
                        worker_heartbeat=1, job_retries=1)
    standin.trickle_rate = 200  # a download that takes minutes: the job is surely running
    with serving(create_app(cfg)) as base:
        job = submit(base, json={"url": f"{standin.base}/trickle/{MP3}"})
        for attempt in range(2):
            proc = start_worker(redis_server.url, queue, standin, tmp_path, MAX_BYTES,
                                fetch_timeout=600)
            try:
                deadline = time.monotonic() + 90
                while requests.get(f"{base}/v1/jobs/{job}").json()["status"] != "started":
                    assert time.monotonic() < deadline and proc.poll() is None, \
                        proc.log.read_text()[-2000:]
                    time.sleep(0.2)
                time.sleep(1)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            finally:
                if proc.poll() is None:
                    stop_worker(proc)
            killed = time.monotonic()
            expected = "queued" if attempt == 0 else "failed"
            while (body := requests.get(f"{base}/v1/jobs/{job}").json())["status"] != expected:
                assert time.monotonic() - killed < 15, body
                time.sleep(0.2)
        assert body["error"]["code"] == "worker_lost" and "retry" in body["error"]["message"]
