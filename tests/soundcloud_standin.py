"""A stand-in for the SoundCloud API on 127.0.0.1, serving real audio bytes.

It answers with the JSON shapes of the real API: ``/resolve`` (302 to
``/users/<id>``), ``/users/<id>/likes/tracks`` pages with ``collection`` and
``next_href``, ``/tracks/<id>/streams`` and ``/tracks/<id>/stream`` (302 to the
media), and it can be scripted to answer 429 (with ``Retry-After``) or 500.
Plain web pages for the audio-URL tests live here too (``/page.html``,
``/redirect-private``).
"""

import io
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import soundfile as sf

REAL_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real" / "audio"
CLIENT_ID = "test-client-id"


def audio_files():
    """``{name: bytes}``: the real mp3/ogg fixtures, or generated clips when absent."""
    names = ["TRWJAZW128F42760DD_test.mp3", "Kevin_MacLeod_-_Vibe_Ace.ogg",
             "Karissa_Hobbs_-_Lets_Go_Fishin.ogg",
             "joram-moments_of_clarity-08-solipsism-59-88.mp3"]
    if all((REAL_AUDIO / n).is_file() for n in names):
        return {n: (REAL_AUDIO / n).read_bytes() for n in names}
    out, rng = {}, np.random.default_rng(1)
    for i, name in enumerate(names):
        t = np.arange(22050 * 12) / 22050
        x = 0.3 * np.sin(2 * np.pi * (150 + 200 * i) * t) + 0.02 * rng.standard_normal(len(t))
        buf = io.BytesIO()
        sf.write(buf, x.astype(np.float32), 22050, format="OGG" if name.endswith(".ogg")
                 else "MP3")
        out[name] = buf.getvalue()
    return out


class StandIn:
    """The server; ``base`` is its URL, ``log`` the paths requested, ``script`` the
    scripted answers: ``{path: [status, ...]}`` popped one per request."""

    def __init__(self, private_port=None):
        self.audio = audio_files()
        names = list(self.audio)
        self.log, self.script = [], {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        # A loopback address other than the allow-listed 127.0.0.1.
        self.private = f"http://127.0.0.2:{self.server.server_port}"
        self.tracks = {
            101: self._track(101, "Blues preview", "bluesman", names[0]),
            102: self._track(102, "Vibe Ace", "kevin", names[1]),
            103: dict(self._track(103, "Lets Go Fishin", "karissa", names[2]), stream_url=None),
            104: self._track(104, "Solipsism", "joram", names[3]),
            105: dict(self._track(105, "Blocked", "label", names[0]), streamable=False),
            106: dict(self._track(106, "Internal", "mallory", names[0]),
                      stream_url=f"{self.base}/redirect-private"),
            107: dict(self._track(107, "Gone", "ghost", "missing.mp3")),
        }
        self.users = {
            "alice": (1, [101, 102, 103]),
            "bob": (2, [102, 104, 105]),
            "carol": (3, []),
            "dave": (4, [104]),
            "erin": (5, [101]),
            "mallory": (6, [106, 107]),
        }
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _track(self, tid, title, artist, media):
        return {"kind": "track", "id": tid, "title": title, "user": {"username": artist},
                "permalink_url": f"https://soundcloud.com/{artist}/{tid}", "streamable": True,
                "access": "playable", "stream_url": f"{self.base}/tracks/{tid}/stream",
                "_media": media}

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def requests_to(self, prefix):
        with self._lock:
            return [p for p in self.log if p.startswith(prefix)]

    def _handler(standin):  # noqa: N805 (the closure's "self" is the stand-in)
        class Handler(BaseHTTPRequestHandler):
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

            def do_GET(self):  # noqa: N802
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                path = parts.path
                with standin._lock:
                    standin.log.append(self.path)
                    scripted = standin.script.get(path)
                    status = scripted.pop(0) if scripted else None
                if status is not None:
                    return self._send(status, {"error": f"scripted {status}"},
                                      headers=[("Retry-After", "0")] if status == 429 else ())
                api = path.startswith(("/resolve", "/users/", "/tracks/"))
                if api and query.get("client_id") != CLIENT_ID:
                    return self._send(401, {"error": "invalid client_id"})
                segments = [s for s in path.split("/") if s]
                if path == "/resolve":
                    permalink = urllib.parse.urlsplit(query.get("url", "")).path.strip("/")
                    if permalink not in standin.users:
                        return self._send(404, {"errors": [{"error_message": "404 - Not Found"}]})
                    uid = standin.users[permalink][0]
                    return self._send(302, b"", headers=[
                        ("Location", f"{standin.base}/users/{uid}?client_id={CLIENT_ID}")])
                if segments[:1] == ["users"] and len(segments) >= 2:
                    user = next((u for u, (i, _) in standin.users.items()
                                 if str(i) == segments[1]), None)
                    if user is None:
                        return self._send(404, {"errors": [{"error_message": "404 - Not Found"}]})
                    uid, likes = standin.users[user]
                    if len(segments) == 2:
                        return self._send(200, {"kind": "user", "id": uid, "username": user,
                                                "permalink": user,
                                                "permalink_url": f"https://soundcloud.com/{user}"})
                    if segments[2:] == ["likes", "tracks"]:
                        limit = int(query.get("limit", 50))
                        offset = int(query.get("offset", 0))
                        page = [{k: v for k, v in standin.tracks[t].items()
                                 if not k.startswith("_") and v is not None}
                                for t in likes[offset:offset + limit]]
                        more = offset + limit < len(likes)
                        next_href = (f"{standin.base}/users/{uid}/likes/tracks?limit={limit}"
                                     f"&linked_partitioning=true&offset={offset + limit}"
                                     if more else None)
                        return self._send(200, {"collection": page, "next_href": next_href})
                if segments[:1] == ["tracks"] and len(segments) == 3:
                    track = standin.tracks.get(int(segments[1]))
                    if track is None:
                        return self._send(404, {"error": "no such track"})
                    media = f"{standin.base}/media/{track['_media']}"
                    if segments[2] == "streams":
                        return self._send(200, {"http_mp3_128_url": media,
                                                "hls_mp3_128_url": media + ".m3u8"})
                    if segments[2] == "stream":
                        return self._send(302, b"", headers=[("Location", media)])
                if segments[:1] == ["media"] and len(segments) == 2:
                    data = standin.audio.get(urllib.parse.unquote(segments[1]))
                    if data is None:
                        return self._send(404, b"<html>not found</html>", "text/html")
                    kind = "audio/ogg" if segments[1].endswith(".ogg") else "audio/mpeg"
                    return self._send(200, data, kind)
                if path == "/page.html":
                    return self._send(200, b"<!doctype html><html><body>hello</body></html>",
                                      "text/html")
                if path == "/redirect-private":
                    name = urllib.parse.quote(next(iter(standin.audio)))
                    return self._send(302, b"", headers=[
                        ("Location", f"{standin.private}/media/{name}")])
                if path == "/redirect-ok":
                    name = urllib.parse.quote(next(iter(standin.audio)))
                    return self._send(302, b"", headers=[("Location", f"/media/{name}")])
                return self._send(404, {"error": "not found"})

        return Handler
