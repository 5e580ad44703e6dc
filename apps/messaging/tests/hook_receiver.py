"""A real webhook receiver for tests: `http.server` in a thread on 127.0.0.1,
on a random port. It records every request, answers with the status the test
sets, and checks each signature the way docs/webhooks.md tells a receiver to
(independently of our own helper), when it knows the secret."""

import hashlib
import hmac
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None  # None when the receiver has no secret


def signature_ok(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """The receiver-side check of docs/webhooks.md, written without our code."""
    timestamp = headers.get("x-ae-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    offered = [part.strip() for part in headers.get("x-ae-signature", "").split(",")]
    return any(hmac.compare_digest(part, f"v1={expected}") for part in offered)


class Receiver:
    def __init__(self, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context  # HTTPS when given
        self.requests: list[ReceivedRequest] = []
        self.status = 200
        self.secret: str | None = None
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/ae?source=test"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok = signature_ok(receiver.secret, headers, body) if receiver.secret else None
                with receiver._lock:
                    receiver.requests.append(ReceivedRequest(self.path, headers, body, ok))
                    status = receiver.status
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                reply = b"ok" if status < 300 else b"receiver says no"
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format, *args):  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: nothing listens on the port any more (connection refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[ReceivedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)} within {timeout} s")
