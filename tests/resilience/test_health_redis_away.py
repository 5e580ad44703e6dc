"""/health answers within its timeout whatever Redis does (a paused Redis
accepts connections and never answers: no check may wait on it past
HEALTH_CHECK_TIMEOUT_SECONDS), and HEAD /health answers like GET. Against
the real ASGI server (daphne) whose Redis (cache, broker, bus) is private."""

import http.client
import json
import time

from tests.resilience.conftest import SERVER_HEALTH_CHECK_TIMEOUT_SECONDS

# The checks' grace (apps.observability.selectors) and the request's own work
# around them on a busy machine; shorter than any socket timeout of the stack
# (REDIS_SOCKET_TIMEOUT_SECONDS, 3 s) a check could otherwise wait out.
MARGIN_SECONDS = 1.5


def request(port: int, method: str, path: str, **kwargs) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, **kwargs)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_health_answers_503_within_its_timeout_when_redis_is_paused(server_on_private_redis, redis_server):
    port = server_on_private_redis["port"]
    status, _, body = request(port, "GET", "/health")
    assert json.loads(body)["checks"]["redis"]["status"] == "ok", body

    redis_server.pause()
    started = time.monotonic()
    status, _, body = request(port, "GET", "/health")
    elapsed = time.monotonic() - started

    report = json.loads(body)
    assert status == 503
    assert {"redis", "worker", "messaging"} <= set(report["failed"])
    assert report["checks"]["database"]["status"] == "ok"
    assert elapsed < SERVER_HEALTH_CHECK_TIMEOUT_SECONDS + MARGIN_SECONDS, report

    # HEAD runs the same checks: the same status, no body.
    head_status, _, head_body = request(port, "HEAD", "/health")
    assert (head_status, head_body) == (503, b"")

    redis_server.resume()
    _, _, body = request(port, "GET", "/health")
    assert json.loads(body)["checks"]["redis"]["status"] == "ok", body


def test_head_health_answers_like_get_without_a_body(server_on_private_redis):
    port = server_on_private_redis["port"]
    get_status, get_headers, get_body = request(port, "GET", "/health")
    head_status, head_headers, head_body = request(port, "HEAD", "/health")
    assert get_status in (200, 503) and get_body.startswith(b"{")
    assert head_status == get_status
    assert head_body == b""
    assert head_headers["Content-Type"] == get_headers["Content-Type"]
