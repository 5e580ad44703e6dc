"""Every answer that means "try later" (a 409 for work in progress, any 429 or
503) carries Retry-After, in seconds; a 409 that waiting does not change (a
duplicate, a definition still in use) carries none. Each case provokes the
condition for real: a lock another session holds, a statement the database
stops, a dependency that does not answer."""

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from apps.calculations.rollups.services import rollup_create
from apps.calculations.runner import sql_run
from apps.calculations.tests.scenarios import created, rows_load
from apps.core.api.exceptions import exception_handler
from apps.core.errors import AppError
from apps.core.tests.factories import MembershipFactory
from apps.messaging.types import BusUnavailable
from apps.warehouse.migration_manager import AutomatedMigrationManager

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

READINGS = {
    "code": "readings",
    "name": "Readings",
    "kind": "time_series",
    "time_attribute": "measured_at",
    "attributes": [
        {"code": "measured_at", "data_type": "timestamp", "nullable": False},
        {"code": "sensor", "data_type": "string"},
        {"code": "value", "data_type": "decimal"},
    ],
}


def _admin() -> tuple[APIClient, int]:
    membership = MembershipFactory(role="admin", is_default=True)
    membership.user.is_staff = True
    membership.user.save(update_fields=["is_staff"])
    api = APIClient()
    api.force_authenticate(membership.user)
    return api, membership.client_id


def _readings(api: APIClient) -> None:
    created(api.post("/api/v1/ontology/entities/", READINGS, format="json"))
    rows_load(api, "readings", [{"measured_at": "2026-03-02T00:00:00+00:00", "sensor": "a", "value": "1.5"}])


@contextmanager
def _advisory_lock_held(key: str) -> Iterator[None]:
    """`key`'s session advisory lock, held by another session (thread) for the block."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
                locked.set()
                release.wait(30)
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(30)
        yield
    finally:
        release.set()
        holder.join()


def _handled(exc: Exception):
    """The API's answer to an error raised where no request was at hand."""
    return exception_handler(exc, {})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refresh_running(settings):
    api, client_id = _admin()
    _readings(api)
    rollup = rollup_create(
        client_id=client_id, entity="readings", grain="hour", dimensions=["sensor"],
        measures=[{"attribute": "value", "states": ["sum", "count"]}],
    )  # fmt: skip
    with _advisory_lock_held(f"calculations.rollup:{rollup.pk}"):  # a refresh of it is running
        return api.delete(f"/api/v1/calculations/rollups/{rollup.pk}/")


def migrations_busy(settings):
    api, _ = _admin()
    with _advisory_lock_held(AutomatedMigrationManager.LOCK_KEY):  # another process is migrating
        return api.post("/api/v1/database/migrations/apply/", {}, format="json")


def query_timeout(settings):
    settings.AE_CALC_STATEMENT_TIMEOUT_MS = 50
    with pytest.raises(AppError) as stopped:
        sql_run("SELECT pg_sleep(5)", {}, using="readonly")
    return _handled(stopped.value)


def bus_unavailable(settings):
    return _handled(BusUnavailable("The event bus (Redis) is unreachable."))


def an_unestimated_503(settings):
    return _handled(AppError("Not now.", code="not_now", status_code=503))


def an_unestimated_429(settings):
    return _handled(AppError("Too many.", code="too_many", status_code=429))


def health_down(settings):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    return APIClient().get("/health")


def system_health_down(settings):
    api, _ = _admin()
    # Redis away (a broker database nobody listens on would leave Celery's control mailbox bound to it).
    settings.REDIS_URL = settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = api.get("/api/v1/system/health")
    assert "redis" in response.json().get("failed", []), response.content  # the view's answer, naming it
    return response


TRY_LATER: list[tuple[Callable, int, str | None]] = [
    (refresh_running, 409, "refresh_running"),
    (migrations_busy, 409, "busy"),
    (query_timeout, 503, "query_timeout"),
    (bus_unavailable, 503, "bus_unavailable"),
    (an_unestimated_503, 503, "not_now"),
    (an_unestimated_429, 429, "too_many"),
    (health_down, 503, None),
    (system_health_down, 503, None),
]


@pytest.mark.parametrize(("provoke", "status", "code"), TRY_LATER, ids=[case[0].__name__ for case in TRY_LATER])
def test_a_try_later_answer_says_when_to_retry(provoke, status, code, settings):
    response = provoke(settings)
    assert response.status_code == status, getattr(response, "content", response.data)
    if code is not None:
        assert response.data["error"]["code"] == code
    assert response["Retry-After"].isdigit() and int(response["Retry-After"]) >= 1


def test_a_conflict_that_waiting_does_not_change_has_no_retry_after():
    api, _ = _admin()
    _readings(api)
    duplicate = api.post("/api/v1/ontology/entities/", READINGS, format="json")
    metric = {"code": "total", "name": "Total", "formula": "SUM(value)", "entity": "readings"}
    created(api.post("/api/v1/ontology/metrics/", metric, format="json"))
    in_use = api.delete("/api/v1/ontology/entities/readings/?drop_data=true")
    for answer, code in ((duplicate, "duplicate_code"), (in_use, "in_use")):
        assert answer.status_code == 409 and answer.json()["error"]["code"] == code, answer.content
        assert "Retry-After" not in answer
