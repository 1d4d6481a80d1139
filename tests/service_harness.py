"""The service's real parts for tests: redis-server, `krotos worker` processes, the
Flask app served over HTTP, the SoundCloud stand-in."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

import tiny_model
from soundcloud_standin import CLIENT_ID, CLIENT_SECRET, StandIn, loopback_resolves

REPO = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server on a loopback port, which a test may stop and start again."""

    def __init__(self, folder):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.port, self.folder, self.proc = free_port(), folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        import redis

        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.proc.kill()
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@contextlib.contextmanager
def serving(app):
    """Serve ``app`` on a free loopback port with the handler ``krotos serve`` uses."""
    from werkzeug.serving import make_server

    from krotos.service.app import JsonErrorRequestHandler

    server = make_server("127.0.0.1", 0, app, threaded=True,
                         request_handler=JsonErrorRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def make_standin():
    if not loopback_resolves():
        pytest.skip("'localhost' does not resolve to 127.0.0.1 first here (the HTTPS "
                    "stand-in's certificate names localhost)")
    return StandIn()


def worker_settings(folder, **extra):
    """A luigi.cfg with a [service] section, as a user would write it."""
    values = {"soundcloud_page_size": 2, "soundcloud_retries": 2, "soundcloud_backoff": 0.01,
              "soundcloud_max_wait": 0.2, "fetch_timeout": 10, "max_likes": 4,
              "worker_heartbeat": 1}
    values.update(extra)
    path = Path(folder) / "service.cfg"
    path.write_text("[service]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
    return path


def start_worker(redis_url, queue, standin, folder, max_upload_bytes, **settings):
    """A real `krotos worker` process; settings from luigi.cfg [service], the
    environment and flags, as a user would give them."""
    model = tiny_model.build()
    cfg = worker_settings(folder, max_upload_bytes=max_upload_bytes, **settings)
    env = dict(os.environ, PYTHONPATH=str(REPO), LUIGI_CONFIG_PATH=str(cfg),
               TF_CPP_MIN_LOG_LEVEL="2", KROTOS_SOUNDCLOUD_CLIENT_ID=CLIENT_ID,
               KROTOS_SOUNDCLOUD_CLIENT_SECRET=CLIENT_SECRET,
               REQUESTS_CA_BUNDLE=standin.ca_file)
    log = Path(folder) / f"worker-{time.monotonic_ns()}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "krotos.cli", "worker", "--redis-url", redis_url,
             "--queue", queue, "--model", model["model_dir"], "--allow", "127.0.0.1",
             "--soundcloud-api-url", standin.api, "--soundcloud-token-url",
             standin.token_url, "--threads", "2"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    proc.log = log
    return proc


def wait_healthy(api, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while requests.get(f"{api}/healthz", timeout=5).status_code != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the worker did not come up:\n{proc.log.read_text()[-3000:]}")
        time.sleep(0.2)


def stop_worker(proc):
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def wait_job(api, job_id, timeout=60, headers=None, path="/v1/jobs/"):
    deadline = time.monotonic() + timeout
    while True:
        body = requests.get(f"{api}{path}{job_id}", headers=headers, timeout=5).json()
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
