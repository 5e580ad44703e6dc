"""Overload answers 503 with an error code and Retry-After, never a 500, and
the work that can wait its turn is served (docs/benchmarks.md, concurrency).

The 500s of bench/concurrency.py (100 distinct cold requests, 2 cores) were
psycopg's ConnectionTimeout: PostgreSQL, running a statement per request,
did not finish new connections' handshakes within the connect timeout. A
database that accepts the TCP connection and never answers is that failure
on demand: `silent_database` (apps/core/tests/servers.py) points an alias at
one for a block."""

import threading

import pytest
from django.db import ProgrammingError, connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.calculations.runner import calculation_slot, sql_run
from apps.calculations.tests.scenarios import sales_define, sales_load
from apps.core.errors import AppError, ServiceUnavailable
from apps.core.tests.assertions import assert_error
from apps.core.tests.servers import silent_database

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

MONTHS = {"start": "2026-03-01", "end": "2026-05-01", "granularity": "month"}
HANG = 60  # "does not hang": far beyond any wait these tests cause


@pytest.fixture
def sales(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    sales_define(api_client)
    sales_load(api_client)
    return api_client


def unavailable(response, code: str) -> dict:
    error = assert_error(response, 503, code, mentions=("retry",))
    assert response.headers["Retry-After"].isdigit(), response.headers
    assert int(response.headers["Retry-After"]) > 0
    return error


# --- the cause: a connection the database does not finish in time ------------------


def test_a_calculation_database_that_cannot_connect_in_time_is_a_503_with_retry_after(sales):
    with silent_database("readonly"):
        error = unavailable(sales.get("/api/v1/metrics/revenue", MONTHS), "database_unavailable")
    assert "127.0.0.1" not in error["message"]  # the client is told what to do, not where our database is

    # Once the database answers again, the same request is served: nothing was cached from the failure.
    response = sales.get("/api/v1/metrics/revenue", MONTHS)
    assert response.status_code == 200, response.content
    assert response.json()["series"]


def test_the_runner_raises_the_connection_failure_as_a_503_app_error(db):
    with silent_database("readonly"), pytest.raises(ServiceUnavailable) as raised:
        sql_run("SELECT 1", {}, using="readonly")
    assert (raised.value.status_code, raised.value.code) == (503, "database_unavailable")
    assert raised.value.retry_after and raised.value.retry_after > 0


def test_an_authentication_that_cannot_reach_the_database_is_a_503_not_a_500(analyst):
    """The request's first connection (the JWT's user) times out the same way
    under overload; that is outside the calculation engine, so the API's
    exception handler maps it."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(analyst.user)}")
    with silent_database("default"):
        unavailable(client.get("/api/v1/metrics/revenue", MONTHS), "database_unavailable")


def test_a_statement_error_is_still_not_mistaken_for_overload(db):
    """Only "not now" errors become 503s: bad SQL stays a bug (a 500 to fix)."""
    with pytest.raises(ProgrammingError):
        sql_run("SELEC 1", {}, using="readonly")


# --- the fix: statements take turns; a queue that does not move is a 503 ------------


def test_requests_beyond_the_concurrent_statements_wait_their_turn_and_are_served(sales, analyst, settings):
    """With the one statement slot held, distinct requests queue instead of
    failing, and all are answered once it is released."""
    settings.AE_CALC_MAX_CONCURRENT = 1
    settings.AE_CALC_SLOT_WAIT_SECONDS = HANG
    outcomes: list = []

    def one(end: str) -> None:
        client = APIClient()
        client.force_authenticate(analyst.user)
        try:
            outcomes.append(client.get("/api/v1/metrics/revenue", {**MONTHS, "end": end}).status_code)
        finally:
            connections.close_all()

    ends = ["2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04"]  # a cache key each
    with calculation_slot():
        threads = [threading.Thread(target=one, args=(end,)) for end in ends]
        for thread in threads:
            thread.start()
    for thread in threads:
        thread.join(HANG)
    assert outcomes == [200] * len(ends)


def test_a_full_queue_is_a_503_calculations_busy_with_retry_after(sales, settings):
    settings.AE_CALC_MAX_CONCURRENT = 1
    settings.AE_CALC_SLOT_WAIT_SECONDS = 0
    with calculation_slot():
        error = unavailable(sales.get("/api/v1/metrics/revenue", MONTHS), "calculations_busy")
    assert error["details"] == {"max_concurrent": 1}
    assert sales.get("/api/v1/metrics/revenue", MONTHS).status_code == 200


def test_a_slot_is_given_back_when_the_statement_fails(settings, db):
    settings.AE_CALC_MAX_CONCURRENT = 1
    settings.AE_CALC_SLOT_WAIT_SECONDS = 0
    for _ in range(3):
        with pytest.raises(AppError):
            sql_run("SELECT 1 / 0", {}, using="readonly")  # a 422: division by zero
    assert sql_run("SELECT 1", {}, using="readonly") == [(1,)]
