"""With Redis away (killed, or paused: it accepts connections and never
answers) no API request or page answers 500: each is served (throttling
failed open) or answers 503 with Retry-After, and an API 503 has the error
shape. The mapping itself is checked on every kind of Redis failure."""

import pytest
import redis
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerOperationalError
from rest_framework.test import APIRequestFactory

from apps.core.api.exceptions import exception_handler
from apps.core.errors import redis_unavailable
from apps.core.middleware import ServiceUnavailableMiddleware
from apps.core.tests.assertions import assert_error

pytestmark = pytest.mark.django_db


def assert_served_or_retry_later(response, *, api: bool) -> None:
    assert response.status_code != 500, response.content[:500]
    if response.status_code == 503:
        assert int(response["Retry-After"]) > 0
        if api:
            error = assert_error(response, 503, "redis_unavailable")
            assert error["details"] == {}
            assert "127.0.0.1" not in error["message"]
    else:  # served: what the request itself deserves (a 404 stays a 404)
        assert response.status_code < 500, response.content[:500]


def _requests(auth_client, client, user):
    client.force_login(user)
    return [
        ("api", auth_client.get("/api/v1/me/")),
        ("api", auth_client.get("/api/v1/no-such-endpoint/")),
        ("api", client.post("/api/v1/auth/token/", {"username": "nobody", "password": "wrong"})),
        ("page", client.get(reverse("web:home"))),
        ("page", client.get(reverse("login"))),
    ]


def test_with_redis_killed_nothing_answers_500(cache_on_private_redis, auth_client, client, user):
    cache_on_private_redis.server.kill()
    answered = _requests(auth_client, client, user)
    for kind, response in answered:
        assert_served_or_retry_later(response, api=kind == "api")
    # The throttle counts in Redis: until it fails open, the API says "retry".
    assert answered[0][1].status_code in (200, 503)


def test_with_redis_paused_requests_answer_within_the_timeouts(cache_on_private_redis, auth_client, client, user):
    cache_on_private_redis.pause()
    for kind, response in _requests(auth_client, client, user):
        assert_served_or_retry_later(response, api=kind == "api")

    # Redis answers again: so does the API, without a restart.
    cache_on_private_redis.resume()
    assert auth_client.get("/api/v1/me/").status_code == 200


@pytest.mark.parametrize(
    "error",
    [
        redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        redis.TimeoutError("Timeout reading from socket"),
        redis.BusyLoadingError("Redis is loading the dataset in memory"),
        BrokerOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    ],
    ids=["refused", "timeout", "loading", "broker"],
)
def test_every_redis_failure_is_a_503_to_retry_in_the_api_and_the_pages(error):
    # Wrapped as a caller would (a throttle, a service): the cause still counts.
    try:
        try:
            raise error
        except Exception as inner:
            raise RuntimeError("counting the request failed") from inner
    except RuntimeError as wrapped:
        outer = wrapped

    for exc in (error, outer):
        response = exception_handler(exc, {})
        assert response.status_code == 503
        assert response.data["error"]["code"] == "redis_unavailable"
        assert int(response["Retry-After"]) > 0

        page = ServiceUnavailableMiddleware(lambda request: None).process_exception(APIRequestFactory().get("/"), exc)
        assert page.status_code == 503 and int(page["Retry-After"]) > 0
        assert b"Try again in" in page.content


def test_other_errors_keep_their_meaning():
    assert redis_unavailable(redis.ResponseError("WRONGTYPE Operation against a key")) is None
    assert redis_unavailable(ValueError("not redis")) is None
