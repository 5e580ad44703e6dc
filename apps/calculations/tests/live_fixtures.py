"""Fixtures of the live KPI tests (imported by the test modules):

- `eager_celery`: Celery tasks run in the calling thread (the recalculation a
  bus handler queues, the alert a threshold queues), so one test drives the
  whole path: load -> consumer -> task -> history, bus, WebSocket -> alert;
- `SlackReceiver` / `slack`: a local HTTP server speaking Slack's incoming
  webhook protocol (POST a JSON object with a non-empty "text": 200 "ok";
  otherwise 400 "invalid_payload" or "no_text"), which can be told to fail;
- `worse_rows`: the snapshot of a day on which only part of yesterday's
  active policies is still active (Lifecycle 1, "a worse period").
"""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.calculations.tests.scenarios import snapshot
from celery_app import app as celery_app


@pytest.fixture
def eager_celery(settings):
    """Celery tasks run in the test's process, and loads queue their recalculation."""
    settings.AE_LIVE_RECALCULATE = True
    saved = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@dataclass(frozen=True)
class SlackMessage:
    path: str
    content_type: str
    body: dict


class SlackReceiver:
    """Answers like hooks.slack.com/services/...: 200 "ok" for a JSON object with
    a non-empty "text"; 400 "invalid_payload" for a body that is not JSON,
    400 "no_text" without text. `fail_with` (a list of statuses) answers the
    next requests with those first (with `Retry-After: <retry_after>` when
    set). `headers` keeps each request's headers."""

    def __init__(self) -> None:
        self.messages: list[SlackMessage] = []
        self.answers: list[int] = []
        self.fail_with: list[int] = []
        self.retry_after: int | None = None
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T000/B000/XXXXSECRET"

    def start(self) -> "SlackReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    forced = receiver.fail_with.pop(0) if receiver.fail_with else None
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
                    if forced is not None:
                        status, reply = forced, b"receiver says no"
                    elif not isinstance(body, dict):
                        status, reply = 400, b"invalid_payload"
                    elif not isinstance(body.get("text"), str) or not body["text"].strip():
                        status, reply = 400, b"no_text"
                    else:
                        status, reply = 200, b"ok"
                        receiver.messages.append(SlackMessage(self.path, self.headers.get("Content-Type", ""), body))
                    receiver.answers.append(status)
                    receiver.headers.append(dict(self.headers.items()))
                self.send_response(status)
                if forced is not None and receiver.retry_after is not None:
                    self.send_header("Retry-After", str(receiver.retry_after))
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format, *args):  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[SlackMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} Slack messages, got {len(self.messages)}")


@pytest.fixture
def slack():
    receiver = SlackReceiver().start()
    yield receiver
    receiver.stop()


def worse_rows(*, previous_active: list[str], day: str, kept: float, lob_of) -> list[dict]:
    """`day`'s snapshot: the first `kept` share of yesterday's active policies
    (per line of business) still Active, the rest Terminated; no new ones."""
    rows = []
    by_lob: dict[str, list[str]] = {}
    for policy in previous_active:
        by_lob.setdefault(lob_of(policy), []).append(policy)
    for lob, policies in by_lob.items():
        keep = round(len(policies) * kept)
        rows += [snapshot(day, p, "Active" if i < keep else "Terminated", lob) for i, p in enumerate(policies)]
    return rows


def active_on(rows: list[dict], day: str) -> list[str]:
    return sorted(r["policy_id"] for r in rows if r["snapshot_date"] == day and r["status"] == "Active")


def lob_of(policy: str) -> str:
    return "Health" if policy.startswith("H") else "Motor"
