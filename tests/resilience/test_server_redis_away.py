"""The real ASGI server (daphne), all of whose Redis (cache and throttle,
Channels, broker, bus) is a private one we pause (it accepts connections and
never answers) or kill:

- /health answers on its checks' own timeout (HEALTH_CHECK_TIMEOUT_SECONDS),
  not the stack's Redis socket timeouts, and HEAD /health
  answers like GET;
- no API request or page answers 500: each is served (throttling failed
  open) or answers 503 with Retry-After (and the error shape for the API),
  and all are served again once Redis is back, without a restart."""

import http.client
import json

import pytest

from tests.resilience.conftest import SERVER_HEALTH_CHECK_TIMEOUT_SECONDS

# Far beyond the health checks' own timeout and any wait of the request
# itself; far below the socket timeouts of the `patient_server`.
CLIENT_TIMEOUT_SECONDS = 60
STACK_SOCKET_TIMEOUT_SECONDS = 600


def request(port: int, method: str, path: str, **kwargs) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_SECONDS)
    try:
        connection.request(method, path, **kwargs)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture
def patient_server(django_db_setup, redis_server, tmp_path):
    """A daphne on the private Redis whose Redis sockets (cache, Channels,
    broker, bus) wait 600 s for an answer: a /health that waited for any of
    them, rather than for its checks' own timeout, would outlast the client's
    60 s by far. No stopwatch: the client's timeout is the bound."""
    from apps.core.tests.servers import daphne_serving

    slow = str(STACK_SOCKET_TIMEOUT_SECONDS)
    try:
        with daphne_serving(
            tmp_path / "daphne.log",
            TEST_REDIS_URL=redis_server.server.url,
            HEALTH_CHECK_TIMEOUT_SECONDS=str(SERVER_HEALTH_CHECK_TIMEOUT_SECONDS),
            REDIS_SOCKET_TIMEOUT_SECONDS=slow,
            MESSAGING_SOCKET_TIMEOUT_SECONDS=slow,
        ) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc))


def test_health_answers_503_within_its_timeout_when_redis_is_paused(patient_server, redis_server):
    port = patient_server["port"]
    status, _, body = request(port, "GET", "/health")
    assert json.loads(body)["checks"]["redis"]["status"] == "ok", body

    redis_server.pause()
    status, _, body = request(port, "GET", "/health")  # raises TimeoutError after 60 s

    report = json.loads(body)
    assert status == 503
    assert {"redis", "worker", "messaging"} <= set(report["failed"])
    assert report["checks"]["database"]["status"] == "ok"

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


@pytest.fixture
def member(transactional_db):
    from apps.core.tests.factories import MembershipFactory

    return MembershipFactory(is_default=True).user


def _token(port: int, username: str) -> str:
    status, _, body = request(
        port,
        "POST",
        "/api/v1/auth/token/",
        body=json.dumps({"username": username, "password": "pass-word-123"}),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200, body
    return json.loads(body)["access"]


def _assert_served_or_retry_later(status: int, headers: dict, body: bytes, *, api: bool) -> None:
    assert status != 500, body[:500]
    if status == 503:
        assert int(headers["Retry-After"]) > 0
        if api:
            error = json.loads(body)["error"]
            assert error["code"] == "redis_unavailable" and error["message"] and error["details"] == {}
    else:
        assert status < 500, body[:500]


@pytest.mark.parametrize("outage", ["paused", "killed"])
def test_no_request_answers_500_while_redis_is_away(server_on_private_redis, redis_server, member, outage):
    port = server_on_private_redis["port"]
    bearer = {"Authorization": f"Bearer {_token(port, member.username)}"}
    assert request(port, "GET", "/api/v1/me/", headers=bearer)[0] == 200

    redis_server.pause() if outage == "paused" else redis_server.server.kill()
    for path, headers, api in [
        ("/api/v1/me/", bearer, True),
        ("/api/v1/ontology/entities/", bearer, True),
        ("/accounts/login/", {}, False),
        ("/", {}, False),
    ]:
        _assert_served_or_retry_later(*request(port, "GET", path, headers=headers), api=api)
    status, headers, body = request(
        port,
        "POST",
        "/api/v1/auth/token/",
        body=json.dumps({"username": member.username, "password": "wrong"}),
        headers={"Content-Type": "application/json"},
    )
    _assert_served_or_retry_later(status, headers, body, api=True)

    # Redis is back: the same server serves again, no restart.
    redis_server.resume()
    if outage == "killed":
        redis_server.server.start()
    assert request(port, "GET", "/api/v1/me/", headers=bearer)[0] == 200
