"""The router's metadata (catalog, rollups with watermarks and stale ranges)
is kept per process under a version in Redis: a request in the common case
reads it with one Redis GET and no database query, and the request after a
refresh, a late load (stale range) or a definition change, in this process
or another, answers from the new metadata, never a stale route."""

from datetime import timedelta

import pytest
from celery.result import AsyncResult
from django.db import connections
from django.test.utils import CaptureQueriesContext

from apps.calculations import routing_state as routing_state_module
from apps.calculations.orchestrator import CalculationOrchestrator
from apps.calculations.rollups.services import rollup_refresh
from apps.calculations.routing_state import routing_state
from apps.calculations.tests.scenarios import created, rows_load
from apps.calculations.tests.test_rollups import (
    DAY,
    HOUR,
    admin_api,
    reading,
    readings_define,
    readings_rows,
    sum_rollup,
)
from apps.calculations.types import AccessContext, Granularity, MetricQuery

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

QUERY = MetricQuery(metric="total", start=DAY, end=DAY + 6 * HOUR, granularity=Granularity.HOUR)


@pytest.fixture
def total():
    api, client_id = admin_api()
    readings_define(api)
    rows_load(api, "readings", readings_rows())
    metric = {"code": "total", "name": "Total", "formula": "SUM(value)", "entity": "readings"}
    created(api.post("/api/v1/ontology/metrics/", metric, format="json"))
    return api, client_id


def answer(client_id: int) -> tuple[str, float]:
    """(route, sum over the buckets) of a fresh request, as the API makes one."""
    result = CalculationOrchestrator(context=AccessContext(client_id)).calculate(QUERY, use_cache=False, persist=False)
    return result.route, round(sum(point.value for point in result.series), 6)


def version(client_id: int) -> str:
    return routing_state(client_id=client_id).version


def test_the_next_request_sees_each_refresh_stale_range_and_definition_change(total):
    api, client_id = total
    rollup = sum_rollup(client_id, "hour")
    route, before = answer(client_id)
    assert route == "raw"  # not refreshed yet: nothing materialized
    seen = version(client_id)

    rollup_refresh(rollup=rollup, now=DAY + 7 * HOUR)
    assert version(client_id) != seen
    seen = version(client_id)
    assert answer(client_id) == ("rollup", before)

    # A late row below the watermark: its hour is stale until the next refresh.
    rows_load(api, "readings", [reading(DAY + 2 * HOUR + timedelta(minutes=5), 999, value="1000.00")])
    assert version(client_id) != seen
    seen = version(client_id)
    route, after = answer(client_id)
    assert after == round(before + 1000, 6) and route != "rollup"

    # The definition changes: the next request computes the new formula.
    changed = api.patch("/api/v1/ontology/metrics/total/", {"formula": "SUM(value) * 2"}, format="json")
    assert changed.status_code == 200, changed.content
    assert version(client_id) != seen
    assert answer(client_id)[1] == round(after * 2, 6)


def test_a_repeated_request_reads_no_metadata_from_the_database(total):
    _, client_id = total
    rollup_refresh(rollup=sum_rollup(client_id, "hour"), now=DAY + 7 * HOUR)
    first = answer(client_id)
    with (
        CaptureQueriesContext(connections["default"]) as metadata,
        CaptureQueriesContext(connections["readonly"]) as run,
    ):
        assert answer(client_id) == first
    assert [q["sql"] for q in metadata.captured_queries] == []
    assert len(run.captured_queries) == 1  # the statement alone: no transaction or timeout round trips


def test_a_refresh_in_another_process_is_seen_by_the_next_request(total, celery_worker_process):
    api, client_id = total
    rollup = sum_rollup(client_id, "hour")
    route, before = answer(client_id)  # this process now keeps the metadata with no watermark
    assert route == "raw"

    queued = api.post(f"/api/v1/calculations/rollups/{rollup.pk}/refresh/")
    assert queued.status_code == 202, queued.content
    AsyncResult(queued.json()["task_id"]).get(timeout=60)  # the worker refreshed and committed

    assert answer(client_id) == ("rollup", before)


def test_without_redis_the_metadata_is_read_from_the_database(total, settings, monkeypatch):
    _, client_id = total
    monkeypatch.setattr(routing_state_module, "_redis_away_until", 0.0)  # and back to it after the test
    rollup = sum_rollup(client_id, "hour")
    assert answer(client_id)[0] == "raw"
    seen = version(client_id)
    live_url = settings.REDIS_URL
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    rollup_refresh(rollup=rollup, now=DAY + 7 * HOUR)  # its version bump cannot reach Redis: owed
    assert routing_state(client_id=client_id).version is None
    assert answer(client_id)[0] == "rollup"

    settings.REDIS_URL = live_url
    # Redis just failed: for REDIS_AWAY_SECONDS it is not asked (a paused one would cost each request its timeout).
    assert routing_state(client_id=client_id).version is None
    routing_state_module._redis_away_until = 0.0  # that while has passed
    assert version(client_id) not in (None, seen)  # the owed bump was made before the version was read
    assert answer(client_id)[0] == "rollup"


@pytest.mark.django_db(databases=["default", "readonly"])  # one transaction, never committed
def test_a_definition_changed_in_this_transaction_is_compiled_anew_before_it_commits():
    api, client_id = admin_api()
    readings_define(api)
    metric = {"code": "total", "name": "Total", "formula": "SUM(value)", "entity": "readings"}
    created(api.post("/api/v1/ontology/metrics/", metric, format="json"))
    before = CalculationOrchestrator(context=AccessContext(client_id)).compile(QUERY).sql

    changed = api.patch("/api/v1/ontology/metrics/total/", {"formula": "SUM(value) * 2"}, format="json")
    assert changed.status_code == 200, changed.content
    after = CalculationOrchestrator(context=AccessContext(client_id)).compile(QUERY).sql
    assert 'SUM("e"."value") *' in after and 'SUM("e"."value") *' not in before
