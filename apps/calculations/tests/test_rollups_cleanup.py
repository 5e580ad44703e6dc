"""Rollups follow deletes: deleting a metric reshapes its entity's automatic
rollups (what no remaining metric needs is dropped, row and table; rollups a
person shaped stay), and deleting an entity drops every rollup of it with
its table, in the entity's own transaction."""

import threading

import pytest
from django.conf import settings
from django.db import connection, connections

from apps.calculations import tasks
from apps.calculations.models import Rollup, RollupInvalidation
from apps.calculations.rollups.auto import rollups_ensure_for_entity
from apps.calculations.rollups.ddl import rollup_table_name
from apps.calculations.rollups.locks import refresh_lock
from apps.calculations.rollups.services import (
    rollup_create,
    rollup_invalidate,
    rollup_refresh,
    rollups_delete_for_entity,
)
from apps.calculations.tests.scenarios import created, rows_load
from apps.calculations.tests.test_rollups import (
    DAY,
    HOUR,
    admin_api,
    metric,
    readings_define,
    readings_rows,
    shapes,
    sum_rollup,
)
from apps.core.tests.waiting import celery_idle_wait, wait_until
from apps.warehouse.selectors import table_exists

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

SUMS = {"attribute": "value", "states": ["sum", "count"]}
DISTINCT_READERS = {"attribute": "reading_id", "states": ["hll"]}
DIMS = ["sensor", "site_id", "status"]  # enum, many-to-one key, filtered on
EVENTS = {
    "code": "events",
    "name": "Events",
    "kind": "time_series",
    "time_attribute": "happened_at",
    "attributes": [
        {"code": "happened_at", "data_type": "timestamp", "nullable": False},
        {"code": "kind", "data_type": "string", "enum_values": ["x", "y"]},
        {"code": "amount", "data_type": "decimal"},
    ],
}


def tables(client_id: int, entity: str) -> dict[str, bool]:
    """grain -> whether the rollup table of that grain exists."""
    return {
        grain: table_exists(table=rollup_table_name(client_id=client_id, entity=entity, grain=grain))
        for grain in ("minute", "hour", "day")
    }


def metric_delete(api, code: str) -> None:
    response = api.delete(f"/api/v1/ontology/metrics/{code}/")
    assert response.status_code == 204, response.content


def readings_delete(api):
    response = api.delete("/api/v1/ontology/relationships/at_site/")
    assert response.status_code == 204, response.content
    return api.delete("/api/v1/ontology/entities/readings/?drop_data=true")


@pytest.mark.usefixtures("eager_tasks")
def test_deleting_a_metric_drops_the_automatic_rollups_no_remaining_metric_needs():
    api, client_id = admin_api()
    readings_define(api)
    metric(api, "total", "SUM(value)")
    metric(api, "readers", "COUNT_DISTINCT(reading_id) WHERE status = 'ok'")
    day = Rollup.objects.get(client_id=client_id, grain="day")
    response = api.patch(f"/api/v1/calculations/rollups/{day.pk}/", {"dimensions": ["sensor"]}, format="json")
    assert response.status_code == 200, response.content  # now a person's rollup: auto cleared
    assert tables(client_id, "readings") == {"minute": True, "hour": True, "day": True}

    # Only `readers` is left, and it needs a sketch: the minute rollup serves nothing any more.
    metric_delete(api, "total")
    assert shapes(client_id) == {
        "hour": (DIMS, [DISTINCT_READERS], True),
        "day": (["sensor"], [DISTINCT_READERS, SUMS], False),  # untouched
    }
    assert tables(client_id, "readings") == {"minute": False, "hour": True, "day": True}

    metric_delete(api, "readers")
    assert shapes(client_id) == {"day": (["sensor"], [DISTINCT_READERS, SUMS], False)}
    assert tables(client_id, "readings") == {"minute": False, "hour": False, "day": True}

    # Reshaping again changes nothing (a retried or duplicated task is harmless).
    assert tasks.rollups_ensure(client_id, "readings")["rollups"] == []
    assert shapes(client_id) == {"day": (["sensor"], [DISTINCT_READERS, SUMS], False)}


@pytest.fixture
def worker(celery_worker_process, settings):
    """The real worker runs the rollups_ensure tasks this process queues; it
    is idle again before the test's tables are flushed."""
    settings.AE_ROLLUPS_AUTO = True
    yield celery_worker_process
    celery_idle_wait(timeout=30)


def wait_for_shapes(client_id: int, expected: dict, timeout: float = 60.0) -> None:
    wait_until(
        lambda: shapes(client_id) == expected,
        what=f"rollups {expected}",
        timeout=timeout,
        logs=lambda: f"rollups still {shapes(client_id)}",
    )


def test_the_worker_drops_what_a_deleted_metric_needed(worker):
    api, client_id = admin_api()
    readings_define(api)
    metric(api, "total", "SUM(value)")
    metric(api, "readers", "COUNT_DISTINCT(reading_id) WHERE status = 'ok'")
    both = [DISTINCT_READERS, SUMS]
    wait_for_shapes(client_id, {"minute": (DIMS, [SUMS], True), "hour": (DIMS, both, True), "day": (DIMS, both, True)})

    metric_delete(api, "total")

    wait_for_shapes(client_id, {"hour": (DIMS, [DISTINCT_READERS], True), "day": (DIMS, [DISTINCT_READERS], True)})
    assert tables(client_id, "readings") == {"minute": False, "hour": True, "day": True}


@pytest.mark.usefixtures("eager_tasks")
def test_a_grain_no_metric_can_use_is_never_generated():
    api, client_id = admin_api()
    readings_define(api)
    metric(api, "readers", "COUNT_DISTINCT(reading_id) WHERE status = 'ok'")
    assert shapes(client_id) == {"hour": (DIMS, [DISTINCT_READERS], True), "day": (DIMS, [DISTINCT_READERS], True)}
    assert tables(client_id, "readings") == {"minute": False, "hour": True, "day": True}


def test_deleting_an_entity_drops_every_rollup_and_table_of_it_and_nothing_else():
    api, client_id = admin_api()
    readings_define(api)
    created(api.post("/api/v1/ontology/entities/", EVENTS, format="json"))
    rows_load(api, "readings", readings_rows())
    # Automatic rollups generated while a metric existed; it was deleted with generation off, so they remain.
    metric(api, "readers", "COUNT_DISTINCT(reading_id)")
    assert {r.grain for r in rollups_ensure_for_entity(client_id=client_id, entity="readings")} == {"hour", "day"}
    metric_delete(api, "readers")
    manual = sum_rollup(client_id, "minute")
    rollup_refresh(rollup=manual, now=DAY + 4 * HOUR)
    assert rollup_invalidate(client_id=client_id, entity="readings", time_min=DAY, time_max=DAY + HOUR) == 1
    other = rollup_create(
        client_id=client_id,
        entity="events",
        grain="hour",
        dimensions=["kind"],
        measures=[{"attribute": "amount", "states": ["sum", "count"]}],
    )
    assert tables(client_id, "readings") == {"minute": True, "hour": True, "day": True}

    response = readings_delete(api)

    assert response.status_code == 204, response.content
    assert not Rollup.objects.filter(entity_code="readings").exists()
    assert not RollupInvalidation.objects.exists()
    assert tables(client_id, "readings") == {"minute": False, "hour": False, "day": False}
    assert list(Rollup.objects.values_list("pk", flat=True)) == [other.pk]
    assert table_exists(table=other.table_name)


def test_the_entity_cleanup_run_again_is_harmless_and_drops_tables_left_behind():
    api, client_id = admin_api()
    readings_define(api)
    sum_rollup(client_id, "hour")
    assert readings_delete(api).status_code == 204
    assert rollups_delete_for_entity(client_id=client_id, entity="readings") == 0
    assert tables(client_id, "readings") == {"minute": False, "hour": False, "day": False}

    # A table an earlier entity delete left behind (before rollups went with their entity) goes too.
    orphan = rollup_table_name(client_id=client_id, entity="readings", grain="day")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {settings.ANALYTICS_SCHEMA}.{orphan} (bucket timestamptz)")
    assert rollups_delete_for_entity(client_id=client_id, entity="readings") == 0
    assert not table_exists(table=orphan)
    assert rollups_delete_for_entity(client_id=client_id, entity="readings") == 0


def test_an_entity_delete_during_a_refresh_of_its_rollup_is_refused_and_keeps_everything():
    api, client_id = admin_api()
    readings_define(api)
    rollup = sum_rollup(client_id, "hour")
    locked, release = threading.Event(), threading.Event()

    def refresh_running():
        try:
            with refresh_lock(rollup.pk) as held:
                assert held
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=refresh_running)
    holder.start()
    try:
        assert locked.wait(30)
        response = readings_delete(api)
    finally:
        release.set()
        holder.join()

    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "refresh_running"
    assert api.get("/api/v1/ontology/entities/readings/").status_code == 200
    assert Rollup.objects.filter(pk=rollup.pk).exists()
    assert table_exists(table=rollup.table_name)
    # Once the refresh is over the same delete goes through.
    assert api.delete("/api/v1/ontology/entities/readings/?drop_data=true").status_code == 204
    assert not Rollup.objects.exists() and not table_exists(table=rollup.table_name)
