"""The web service with its real parts: redis-server, an rq worker process
(``krotos worker``), the Flask app over HTTP, and a SoundCloud stand-in server."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tiny_model  # noqa: E402
from soundcloud_standin import CLIENT_ID, StandIn  # noqa: E402

from krotos.service.app import create_app  # noqa: E402
from krotos.service.config import ServiceConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 1_000_000
MP3 = "TRWJAZW128F42760DD_test.mp3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    import redis

    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def standin():
    server = StandIn()
    yield server
    server.close()


@contextlib.contextmanager
def serving(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def queue_name():
    return f"krotos-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def config(redis_url, queue_name):
    return ServiceConfig(redis_url=redis_url, queue=queue_name, allow=("127.0.0.1",),
                         max_upload_bytes=MAX_BYTES)


@pytest.fixture(scope="module")
def api(config):
    with serving(create_app(config)) as base:
        yield base


@pytest.fixture(scope="module")
def worker(redis_url, queue_name, standin, api, tmp_path_factory):
    """A real `krotos worker` process; settings from a luigi.cfg [service] section
    and flags, as a user would give them."""
    model = tiny_model.build()
    cfg = tmp_path_factory.mktemp("cfg") / "service.cfg"
    cfg.write_text("[service]\nsoundcloud_page_size = 2\nsoundcloud_retries = 2\n"
                   "soundcloud_backoff = 0.01\nsoundcloud_max_wait = 0.2\n"
                   f"max_upload_bytes = {MAX_BYTES}\nfetch_timeout = 10\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), LUIGI_CONFIG_PATH=str(cfg),
               TF_CPP_MIN_LOG_LEVEL="2", KROTOS_SOUNDCLOUD_CLIENT_ID=CLIENT_ID)
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "krotos.cli", "worker", "--redis-url", redis_url,
             "--queue", queue_name, "--model", model["model_dir"], "--allow", "127.0.0.1",
             "--soundcloud-api-url", standin.base, "--threads", "2"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while requests.get(f"{api}/healthz", timeout=5).status_code != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the worker did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    yield proc
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_job(api, job_id, timeout=60, headers=None):
    deadline = time.monotonic() + timeout
    while True:
        body = requests.get(f"{api}/v1/jobs/{job_id}", headers=headers, timeout=5).json()
        if body["status"] in ("finished", "failed"):
            return body
        assert time.monotonic() < deadline, f"job {job_id} still {body['status']}"
        time.sleep(0.1)


def submit(api, path="/v1/tracks", **kwargs):
    response = requests.post(f"{api}{path}", timeout=10, **kwargs)
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["Location"] == body["status_url"] == f"/v1/jobs/{body['job_id']}"
    return body["job_id"]


def error_of(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()["error"]["code"]


# -- health and the happy path ---------------------------------------------------------


def test_healthz_reports_redis_and_the_workers_model(api, worker):
    body = requests.get(f"{api}/healthz").json()
    assert body["status"] == "ok" and body["redis"] is True
    models = [w["model"] for w in body["workers"] if w["model"]]
    assert models and models[0]["n_tags"] == len(tiny_model.VOCAB)
    assert models[0]["n_factors"] == tiny_model.N_FACTORS


def test_upload_is_embedded_then_served_from_the_cache(api, worker, standin):
    data = standin.audio[MP3]
    job = submit(api, files={"file": (MP3, data, "audio/mpeg")})
    first = wait_job(api, job)
    assert first["status"] == "finished", first
    result = first["result"]
    assert set(result["tags"]) == set(tiny_model.VOCAB)
    assert all(0.0 <= p <= 1.0 for p in result["tags"].values())
    assert len(result["vector"]) == tiny_model.N_FACTORS
    assert result["duration"] > 5 and result["cached"] is False
    # The same bytes again, as a raw body: not processed twice.
    again = wait_job(api, submit(api, data=data, headers={"Content-Type": "audio/mpeg"}))
    assert again["result"]["cached"] is True
    assert again["result"]["vector"] == result["vector"]
    assert again["result"]["sha256"] == result["sha256"]


def test_audio_url_is_fetched_and_shares_the_content_cache(api, worker, standin):
    # Same audio as the upload test, reached through a redirect on an allow-listed host.
    body = wait_job(api, submit(api, json={"url": f"{standin.base}/redirect-ok"}))
    assert body["status"] == "finished", body
    assert body["result"]["source"]["final_url"].endswith("/media/" + MP3)
    ogg = wait_job(api, submit(api, data={"url": f"{standin.base}/media/"
                                                  "Kevin_MacLeod_-_Vibe_Ace.ogg"}))
    assert ogg["status"] == "finished" and ogg["result"]["duration"] > 10


def test_compatibility_of_two_users(api, worker, standin):
    body = wait_job(api, submit(api, "/v1/compatibility",
                                json={"user_a": "alice", "user_b": "https://soundcloud.com/bob"}))
    assert body["status"] == "finished", body
    result = body["result"]
    assert 0.0 <= result["score"] <= 1.0
    assert result["score"] == pytest.approx((1 + result["cosine"]) / 2, abs=1e-5)
    alice, bob = result["users"]
    assert (alice["n_likes"], alice["n_tracks"]) == (3, 3)  # three likes over two pages
    assert (bob["n_likes"], bob["n_tracks"]) == (3, 2)
    assert [s["code"] for s in bob["skipped"]] == ["not_streamable"]
    assert result["common_tracks"] == [102]
    pairs = result["closest_pairs"]
    assert [p["similarity"] for p in pairs] == sorted((p["similarity"] for p in pairs),
                                                      reverse=True)
    same = [p for p in pairs if p["a"]["id"] == p["b"]["id"] == 102]
    assert same and same[0]["similarity"] == pytest.approx(1, abs=1e-5)
    assert pairs[0]["similarity"] == pytest.approx(1, abs=1e-5)
    assert {t["tag"] for t in result["shared_tags"]} <= set(tiny_model.VOCAB)
    assert result["shared_tags"] and "mean of the unit-normalized" in result["method"]
    assert body["progress"]["tracks_done"] == 6


def test_rate_limited_soundcloud_is_retried(api, worker, standin):
    standin.script["/users/4/likes/tracks"] = [429, 429]
    body = wait_job(api, submit(api, "/v1/compatibility",
                                json={"users": ["dave", "alice"]}))
    assert body["status"] == "finished", body
    assert standin.script["/users/4/likes/tracks"] == []


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("users, code", [
    (["nobody", "alice"], "soundcloud_user_not_found"),
    (["alice", "carol"], "soundcloud_no_likes"),
    (["mallory", "alice"], "no_usable_tracks"),
])
def test_compatibility_failures_have_stable_codes(api, worker, users, code):
    body = wait_job(api, submit(api, "/v1/compatibility", json={"users": users}))
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    if code == "no_usable_tracks":
        # The stream that redirects to 127.0.0.2 is refused; the one that 404s fails.
        assert sorted(s["code"] for s in body["error"]["details"]["skipped"]) == [
            "url_fetch_failed", "url_not_allowed"]


@pytest.mark.parametrize("status, code", [(500, "soundcloud_unavailable"),
                                          (429, "soundcloud_rate_limited")])
def test_soundcloud_errors_fail_the_job(api, worker, standin, status, code):
    standin.script["/users/5/likes/tracks"] = [status] * 10
    try:
        body = wait_job(api, submit(api, "/v1/compatibility", json={"users": ["erin", "bob"]}))
    finally:
        standin.script.pop("/users/5/likes/tracks", None)
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    assert str(status) in body["error"]["message"]


@pytest.mark.parametrize("payload", [{}, {"user_a": "alice"}, {"users": ["a", "b", "c"]},
                                     {"user_a": "alice", "user_b": "https://evil.example/x"}])
def test_compatibility_needs_two_valid_users(api, payload):
    assert error_of(requests.post(f"{api}/v1/compatibility", json=payload), 400) == "bad_request"


def test_undecodable_upload_fails_and_the_worker_goes_on(api, worker, standin):
    garbage = bytes(range(256)) * 40  # binary, but no audio
    body = wait_job(api, submit(api, files={"file": ("noise.mp3", garbage)}))
    assert body["status"] == "failed" and body["error"]["code"] == "undecodable", body
    assert "noise.mp3" in body["error"]["message"]
    ok = wait_job(api, submit(api, files={"file": ("again.ogg", standin.audio[
        "Karissa_Hobbs_-_Lets_Go_Fishin.ogg"])}))
    assert ok["status"] == "finished" and worker.poll() is None


def test_too_short_audio_fails_with_its_code(api, worker):
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(np.arange(2205) / 5.0).astype(np.float32), 22050, format="WAV")
    body = wait_job(api, submit(api, files={"file": ("short.wav", buf.getvalue())}))
    assert body["status"] == "failed" and body["error"]["code"] == "too_short", body


def test_text_upload_is_refused_as_not_audio(api):
    response = requests.post(f"{api}/v1/tracks", files={"file": ("a.mp3", b"<html>no</html>")})
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
                                        ("/redirect-private", "url_not_allowed")])
def test_bad_audio_urls_fail_the_job(api, worker, standin, path, code):
    body = wait_job(api, submit(api, json={"url": standin.base + path}))
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    if code == "url_fetch_failed":
        assert "404" in body["error"]["message"]


@pytest.mark.parametrize("url, code", [("http://127.0.0.2:9/a.mp3", "url_not_allowed"),
                                       ("http://10.0.0.1/a.mp3", "url_not_allowed"),
                                       ("file:///etc/passwd", "invalid_url")])
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


def test_api_token_is_required_when_configured(config, worker, standin):
    secured = ServiceConfig(redis_url=config.redis_url, queue=config.queue,
                            allow=config.allow, api_token="s3cret")
    with serving(create_app(secured)) as base:
        url = {"url": f"{standin.base}/media/{MP3}"}
        assert error_of(requests.post(f"{base}/v1/tracks", json=url), 401) == "unauthorized"
        wrong = {"Authorization": "Bearer nope"}
        assert error_of(requests.post(f"{base}/v1/tracks", json=url, headers=wrong),
                        401) == "unauthorized"
        good = {"Authorization": "Bearer s3cret"}
        job = submit(base, json=url, headers=good)
        assert error_of(requests.get(f"{base}/v1/jobs/{job}"), 401) == "unauthorized"
        assert wait_job(base, job, headers=good)["status"] == "finished"
        assert requests.get(f"{base}/healthz").status_code == 200  # no token needed


def test_redis_down_is_a_503_with_a_clear_message(standin):
    down = ServiceConfig(redis_url=f"redis://127.0.0.1:{free_port()}/0", queue="q")
    with serving(create_app(down)) as base:
        upload = requests.post(f"{base}/v1/tracks", files={"file": (MP3, standin.audio[MP3])})
        assert error_of(upload, 503) == "redis_unavailable"
        assert "Redis" in upload.json()["error"]["message"]
        assert error_of(requests.get(f"{base}/v1/jobs/abc"), 503) == "redis_unavailable"
        health = requests.get(f"{base}/healthz")
        assert health.status_code == 503 and health.json()["redis"] is False
