"""API rate limits (apps.core.api.throttling, apps.core.rate_limits) on the
real Redis: exact counting under concurrency, per-user budgets inside a
client's, and an address that X-Forwarded-For cannot change."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import RequestFactory
from rest_framework.request import Request

from apps.core.api.throttling import AnonymousRateThrottle
from apps.core.models import Membership
from apps.core.rate_limits import rate_limits_reset
from apps.core.tests.factories import ClientFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    """Set the rates a test exercises, on counters that start at zero."""
    rate_limits_reset()

    def set_rates(**rates: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"client": "100000/minute", "user": "100000/minute", "anon": "100000/minute"}
            | rates,
        }

    yield set_rates
    rate_limits_reset()


def test_concurrent_requests_are_each_counted_once_and_no_more_than_the_limit_pass(rates):
    from django.contrib.auth.models import AnonymousUser

    rates(anon="100/hour")
    http = RequestFactory().get("/api/v1/auth/token/", REMOTE_ADDR="192.0.2.10")
    http.user = AnonymousUser()
    request = Request(http)
    request.user = AnonymousUser()

    def call(_):
        return AnonymousRateThrottle().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=32) as pool:
        allowed = list(pool.map(call, range(300)))
    assert allowed.count(True) == 100  # a lost update would let more through

    throttle = AnonymousRateThrottle()
    assert throttle.allow_request(request, None) is False
    assert throttle.wait() >= 1


def test_one_user_over_their_limit_does_not_lock_the_rest_of_the_client_out(rates, api_client):
    rates(user="5/minute", client="8/minute")
    client = ClientFactory(code="shared")
    viewer = MembershipFactory(client=client, role=Membership.Role.VIEWER, is_default=True).user
    admin = MembershipFactory(client=client, role=Membership.Role.ADMIN, is_default=True).user

    api_client.force_authenticate(viewer)
    looped = [api_client.get("/api/v1/me/") for _ in range(20)]
    assert [r.status_code for r in looped] == [200] * 5 + [429] * 15
    assert looped[-1].json()["error"]["code"] == "throttled"
    assert int(looped[-1]["Retry-After"]) >= 1

    # The viewer's 15 refused requests took nothing from the client's budget.
    api_client.force_authenticate(admin)
    assert [api_client.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_forwarded_for_values_do_not_make_new_callers(rates, api_client):
    rates(anon="10/minute")
    answers = [
        api_client.post(
            "/api/v1/auth/token/",
            {"username": "nobody", "password": "guess"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        ).status_code
        for n in range(75)
    ]
    assert answers == [401] * 10 + [429] * 65


def test_behind_trusted_proxies_the_address_they_saw_counts(rates, api_client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    rates(anon="3/minute")

    def token(forwarded: str) -> int:
        return api_client.post(
            "/api/v1/auth/token/", {"username": "nobody", "password": "guess"}, HTTP_X_FORWARDED_FOR=forwarded
        ).status_code

    # The client writes anything on the left; the proxy appends the address it saw.
    assert [token(f"198.51.100.{n}, 203.0.113.7") for n in range(4)] == [401, 401, 401, 429]
    assert token("203.0.113.7, 203.0.113.8") == 401  # another caller behind the same proxy
