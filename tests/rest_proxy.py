"""A loopback HTTP proxy in front of an ``mlflow server`` that misbehaves on purpose: it answers
some requests itself (429 rate limits, a 401, a proxy's HTML login page) or drops the
connection, and forwards the rest unchanged (after ``delay`` seconds: a server far away)."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Behaviour:
    """What the proxy does: every ``every``-th request gets ``answer`` (or a dropped connection,
    ``drop``); ``always`` answers every request so. Counts what it did."""

    every: int = 0
    answer: int = 429
    drop: bool = False
    always: int | None = None
    html: bool = False
    delay: float = 0.0
    seen: int = 0
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def misbehaving_proxy(target: str, behaviour: Behaviour) -> Iterator[str]:
    """Serve the proxy on a free loopback port for the block; yields its URL."""
    upstream = urlsplit(target)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with behaviour.lock:
                behaviour.seen += 1
                hit = behaviour.always is not None or (
                    behaviour.every and behaviour.seen % behaviour.every == 0
                )
                behaviour.answered += bool(hit)
            if hit and behaviour.drop:
                self.close_connection = True
                self.connection.close()
                return
            if hit:
                status = behaviour.always or behaviour.answer
                text = (
                    b"<html><body>Please log in</body></html>"
                    if behaviour.html
                    else b'{"error": "slow down"}'
                )
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if behaviour.html else "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
                return
            if behaviour.delay:
                time.sleep(behaviour.delay)
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
