"""A stand-in for SoundCloud on 127.0.0.1, serving real audio bytes.

Two servers share one handler:

* ``api`` (HTTPS, a test CA's certificate for ``localhost``; ``ca_file`` holds
  the CA): the OAuth 2.1 token endpoint (``POST /oauth/token``,
  client-credentials grant with HTTP Basic credentials, tokens that expire
  after ``token_lifetime`` seconds) and the API: ``/resolve``,
  ``/users/<urn>/likes/tracks`` pages with ``collection`` and ``next_href``,
  ``/tracks/<urn>/streams`` and the stream URLs it names (302 to the media).
  Every API request needs ``Authorization: OAuth <live token>``, else 401.
* ``base`` (HTTP): the media (the "CDN"), plain pages for the audio-URL
  tests (``/page.html``, ``/redirect-private``, ``/redirect-ok``,
  ``/trickle/<name>``).

A third server, ``forbidden`` on 127.0.0.2 (same port as ``base`` when the
system allows), stands for an internal host: it only logs what reaches it.
Any path can be scripted to answer statuses: ``script[path] = [503, 503]``.
"""

import base64
import io
import json
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import soundfile as sf

REAL_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real" / "audio"
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"
NAMES = ["TRWJAZW128F42760DD_test.mp3", "Kevin_MacLeod_-_Vibe_Ace.ogg",
         "Karissa_Hobbs_-_Lets_Go_Fishin.ogg", "joram-moments_of_clarity-08-solipsism-59-88.mp3"]
XSS_NAME = '<script>document.title="pwned"</script>'
XSS_TITLE = '<img src=x onerror="document.title=\'pwned\'">'


def audio_files():
    """``{name: bytes}``: the real mp3/ogg fixtures, or generated clips when absent."""
    if all((REAL_AUDIO / n).is_file() for n in NAMES):
        return {n: (REAL_AUDIO / n).read_bytes() for n in NAMES}
    out, rng = {}, np.random.default_rng(1)
    for i, name in enumerate(NAMES):
        t = np.arange(22050 * 12) / 22050
        x = 0.3 * np.sin(2 * np.pi * (150 + 200 * i) * t) + 0.02 * rng.standard_normal(len(t))
        buf = io.BytesIO()
        sf.write(buf, x.astype(np.float32), 22050, format="OGG" if name.endswith(".ogg")
                 else "MP3")
        out[name] = buf.getvalue()
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients hanging up early (refused downloads, deadlines) are expected


class StandIn:
    """The servers; ``log`` lists ``(server, path, headers)`` of every request."""

    def __init__(self, token_lifetime=3600, many_likes=120):
        import trustme

        self.audio = audio_files()
        self.log, self.forbidden_log, self.script, self.sni = [], [], {}, []
        self.tokens, self.token_grants = {}, 0
        self.token_lifetime = token_lifetime
        self.trickle_rate = 200  # bytes per second of /trickle/<name>
        self._lock = threading.Lock()
        self._folder = tempfile.TemporaryDirectory(prefix="krotos-standin-")

        ca = trustme.CA()
        cert = ca.issue_cert("localhost")
        self.ca_file = str(Path(self._folder.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        context.sni_callback = lambda sock, name, ctx: self.sni.append(name)

        self.server = _Server(("127.0.0.1", 0), self._handler("base"))
        port = self.server.server_port
        self.base = f"http://127.0.0.1:{port}"
        self.api_server = _Server(("127.0.0.1", 0), self._handler("api"))
        self.api_server.socket = context.wrap_socket(self.api_server.socket, server_side=True)
        self.api = f"https://localhost:{self.api_server.server_port}"
        self.token_url = f"{self.api}/oauth/token"
        try:  # the internal host: same port as base, so DNS tricks can aim at it
            self.forbidden_server = _Server(("127.0.0.2", port), self._handler("forbidden"))
        except OSError:
            self.forbidden_server = _Server(("127.0.0.2", 0), self._handler("forbidden"))
        self.forbidden = f"http://127.0.0.2:{self.forbidden_server.server_port}"

        names = list(self.audio)
        self.tracks = {
            101: self._track(101, "Blues preview", "bluesman", names[0]),
            102: self._track(102, "Vibe Ace", "kevin", names[1]),
            103: self._track(103, "Lets Go Fishin", "karissa", names[2]),
            104: self._track(104, "Solipsism", "joram", names[3]),
            105: dict(self._track(105, "Blocked", "label", names[0]), streamable=False),
            106: dict(self._track(106, "Internal", "mallory", names[0]), _media="PRIVATE"),
            107: self._track(107, "Gone", "ghost", "missing.mp3"),
            108: dict(self._track(108, "HLS only", "modern", names[0]), _hls_only=True),
            109: self._track(109, XSS_TITLE, "mallory", names[1]),
        }
        self.users = {
            "alice": (1, [101, 102, 103]),
            "bob": (2, [102, 104, 105]),
            "carol": (3, []),
            "dave": (4, [104]),
            "erin": (5, [101]),
            "mallory": (6, [106, 107]),
            "xss": (7, [109, 104]),
            "many": (8, []),
            "hls": (9, [108, 101]),
        }
        for i in range(many_likes):
            tid = 1000 + i
            self.tracks[tid] = self._track(tid, f"Like {i}", "crowd", names[i % 2])
            self.users["many"][1].append(tid)
        self.usernames = {"xss": XSS_NAME}
        self._threads = []
        for server in (self.server, self.api_server, self.forbidden_server):
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _track(self, tid, title, artist, media):
        return {"kind": "track", "id": tid, "urn": f"soundcloud:tracks:{tid}", "title": title,
                "user": {"username": artist}, "streamable": True, "access": "playable",
                "permalink_url": f"https://soundcloud.com/{artist}/{tid}", "_media": media}

    def close(self):
        for server in (self.server, self.api_server, self.forbidden_server):
            server.shutdown()
            server.server_close()
        self._folder.cleanup()

    def revoke_tokens(self):
        """Invalidate every token handed out (the next API call gets 401)."""
        with self._lock:
            self.tokens.clear()

    def requests_to(self, prefix, server=None):
        with self._lock:
            return [p for s, p, _ in self.log if p.startswith(prefix)
                    and (server is None or s == server)]

    def _handler(standin, server_name):  # noqa: N805 (the closure's "self" is the stand-in)
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", content_type="application/json", headers=()):
                if isinstance(body, (dict, list)):
                    body = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _record(self):
                entry = (server_name, self.path, dict(self.headers))
                with standin._lock:
                    if server_name == "forbidden":
                        standin.forbidden_log.append(entry)
                    standin.log.append(entry)
                    scripted = standin.script.get(urllib.parse.urlsplit(self.path).path)
                    return scripted.pop(0) if scripted else None

            def do_POST(self):  # noqa: N802
                status = self._record()
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if status is not None:
                    return self._send(status, {"error": f"scripted {status}"})
                if server_name != "api" or self.path != "/oauth/token":
                    return self._send(404, {"error": "not found"})
                expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    return self._send(401, {"error": "invalid_client",
                                            "error_description": "bad client credentials"})
                if form.get("grant_type") != "client_credentials":
                    return self._send(400, {"error": "unsupported_grant_type"})
                token = uuid.uuid4().hex
                with standin._lock:
                    standin.tokens[token] = time.monotonic() + standin.token_lifetime
                    standin.token_grants += 1
                return self._send(200, {"access_token": token, "token_type": "bearer",
                                        "expires_in": standin.token_lifetime,
                                        "refresh_token": uuid.uuid4().hex, "scope": ""})

            def _authorized(self):
                given = self.headers.get("Authorization", "")
                scheme, _, token = given.partition(" ")
                with standin._lock:
                    expires = standin.tokens.get(token)
                return scheme == "OAuth" and expires is not None and time.monotonic() < expires

            def do_GET(self):  # noqa: N802
                status = self._record()
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                path = parts.path
                if server_name == "forbidden":
                    return self._send(200, b"internal secrets", "text/plain")
                if status is not None:
                    return self._send(status, {"error": f"scripted {status}"},
                                      headers=[("Retry-After", "0")] if status == 429 else ())
                segments = [urllib.parse.unquote(s) for s in path.split("/") if s]
                if server_name == "api" and segments[:1] in (["resolve"], ["users"], ["tracks"]):
                    if not self._authorized():
                        return self._send(401, {"error": "invalid or expired token"})
                    return self._api(segments, query)
                if segments[:1] == ["media"] and len(segments) == 2:
                    data = standin.audio.get(segments[1])
                    if data is None:
                        return self._send(404, b"<html>not found</html>", "text/html")
                    kind = "audio/ogg" if segments[1].endswith(".ogg") else "audio/mpeg"
                    return self._send(200, data, kind)
                if segments[:1] == ["trickle"] and len(segments) == 2:
                    return self._trickle(standin.audio[segments[1]])
                if path == "/page.html":
                    return self._send(200, b"<!doctype html><html><body>hello</body></html>",
                                      "text/html")
                if path == "/playlist.m3u8":
                    return self._send(200, f"#EXTM3U\n#EXTINF:10,\n{standin.forbidden}/a.ts\n"
                                      .encode(), "application/vnd.apple.mpegurl")
                if path == "/redirect-private":
                    return self._send(302, b"", headers=[
                        ("Location", f"{standin.forbidden}/latest/meta-data")])
                if path == "/redirect-ok":
                    name = urllib.parse.quote(NAMES[0])
                    return self._send(302, b"", headers=[("Location", f"/media/{name}")])
                return self._send(404, {"error": "not found"})

            def _trickle(self, data):
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                step = max(1, standin.trickle_rate // 10)
                try:
                    for i in range(0, len(data), step):
                        self.wfile.write(data[i:i + step])
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass

            def _api(self, segments, query):
                not_found = {"errors": [{"error_message": "404 - Not Found"}]}
                if segments == ["resolve"]:
                    permalink = urllib.parse.urlsplit(query.get("url", "")).path.strip("/")
                    if permalink not in standin.users:
                        return self._send(404, not_found)
                    uid = standin.users[permalink][0]
                    return self._send(302, b"", headers=[
                        ("Location", f"{standin.api}/users/soundcloud:users:{uid}")])
                if segments[0] == "users" and len(segments) >= 2:
                    uid = segments[1].rsplit(":", 1)[-1]
                    user = next((u for u, (i, _) in standin.users.items() if str(i) == uid), None)
                    if user is None:
                        return self._send(404, not_found)
                    uid, likes = standin.users[user]
                    if len(segments) == 2:
                        return self._send(200, {
                            "kind": "user", "id": uid, "urn": f"soundcloud:users:{uid}",
                            "username": standin.usernames.get(user, user), "permalink": user,
                            "permalink_url": f"https://soundcloud.com/{user}"})
                    if segments[2:] == ["likes", "tracks"]:
                        limit = int(query.get("limit", 50))
                        offset = int(query.get("offset", 0))
                        page = [{k: v for k, v in standin.tracks[t].items()
                                 if not k.startswith("_")}
                                for t in likes[offset:offset + limit]]
                        more = offset + limit < len(likes)
                        next_href = (f"{standin.api}/users/soundcloud:users:{uid}/likes/tracks"
                                     f"?limit={limit}&linked_partitioning=true"
                                     f"&offset={offset + limit}" if more else None)
                        return self._send(200, {"collection": page, "next_href": next_href})
                if segments[0] == "tracks" and len(segments) >= 3:
                    track = standin.tracks.get(int(segments[1].rsplit(":", 1)[-1]))
                    if track is None:
                        return self._send(404, not_found)
                    stream = f"{standin.api}/tracks/{track['urn']}/streams"
                    if segments[2:] == ["streams"]:
                        body = {"hls_mp3_128_url": stream + "/hls_mp3",
                                "hls_aac_160_url": stream + "/hls_aac"}
                        if not track.get("_hls_only"):
                            body["http_mp3_128_url"] = stream + "/http_mp3"
                            body["preview_mp3_128_url"] = stream + "/preview_mp3"
                        return self._send(200, body)
                    if segments[2:3] == ["streams"] and len(segments) == 4:
                        if segments[3].startswith("hls"):
                            return self._send(302, b"", headers=[
                                ("Location", f"{standin.base}/playlist.m3u8")])
                        if track["_media"] == "PRIVATE":
                            return self._send(302, b"", headers=[
                                ("Location", f"{standin.forbidden}/media/x.mp3")])
                        media = urllib.parse.quote(track["_media"])
                        return self._send(302, b"", headers=[
                            ("Location", f"{standin.base}/media/{media}")])
                return self._send(404, not_found)

        return Handler


def loopback_resolves(name="localhost"):
    """Whether ``name`` resolves to 127.0.0.1 first (the HTTPS stand-in's certificate name)."""
    try:
        return socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)[0][4][0] == "127.0.0.1"
    except OSError:
        return False
