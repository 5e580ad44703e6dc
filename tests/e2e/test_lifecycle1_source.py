"""Lifecycle 1 from a source (issue #18, "Done when"): a policy
administration database with its own names and codes is connected, tested,
discovered, mapped onto `policy_snapshot` (status codes `A`/`T` to the
entity's `Active`/`Terminated`), scheduled daily and run by the REAL
`celery beat` (django-celery-beat's DatabaseScheduler) and the REAL Celery
worker, each in its own process on the test database and Redis. The
retention KPI then reads 0.90 through the metrics API, and the next run,
after a new day arrived in the source, reads only that day.

Everything the test does to the platform goes through the API; it touches
the source database (its setup, a new day) and beat's own bookkeeping (the
periodic task's `last_run_at`, moved back two days so that today's daily
tick is already due) and nothing else. The daily time is in the current UTC
hour: django-celery-beat (2.7 and later) fetches only the crontab tasks whose
hour is within two hours of now, so a job "daily at 02:00" is not even looked
at by a beat started at 20:48 (it is, in production, from midnight on).

The portfolio is the spec's 1000 / 950 / 50 at a tenth of the size: 100
policies active on 2026-03-30; on 2026-03-31 10 of them are terminated and 5
new ones start, so Start 100, End 95, New 5 and retention
(End - New) / Start = 0.90."""

import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connections
from django_celery_beat.models import PeriodicTask
from psycopg import sql
from rest_framework.test import APIClient

from apps.core.tests.factories import MembershipFactory
from apps.core.tests.servers import database_url_of_tests
from apps.messaging.tests.bus_fixtures import ROOT

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.timeout(300),
    pytest.mark.django_db(transaction=True, databases=["default", "readonly"]),
]

OPENING, CLOSING, NEXT = date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1)

ENTITY = {
    "code": "policy_snapshot", "name": "Policy snapshot", "kind": "time_series", "time_attribute": "snapshot_date",
    "attributes": [
        {"code": "snapshot_date", "data_type": "date", "nullable": False},
        {"code": "policy_id", "data_type": "string", "nullable": False},
        {"code": "status", "data_type": "string", "enum_values": ["Active", "Terminated"]},
        {"code": "start_date", "data_type": "date"},
        {"code": "lob", "data_type": "string"},
    ],
}  # fmt: skip
METRICS = [
    ("start_count", "AT_START(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "count"),
    ("end_count", "AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "count"),
    ("new_count", "AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active' AND start_date >= PERIOD_START())",
     "count"),
    ("retention_rate", "(EndCount - NewCount) / StartCount", "ratio"),
]  # fmt: skip
MAPPING = {
    "fields": {
        "snapshot_date": {"source": "EFF_DT"},
        "policy_id": {"source": "POL_ID"},
        "status": {"source": "STAT_CD"},
        "start_date": {"source": "START_DT"},
        "lob": {"source": "LOB_CD"},
    },
    "value_maps": {"status": {"A": "Active", "T": "Terminated"}, "lob": {"HLT": "Health"}},
}


def source_rows() -> dict[date, list[tuple]]:
    """(POL_ID, STAT_CD, EFF_DT, START_DT, LOB_CD) per snapshot day."""
    old = [f"POL{i:04d}" for i in range(100)]
    opening = [(p, "A", OPENING, date(2025, 1, 1), "HLT") for p in old]
    closing = [(p, "T" if i < 10 else "A", CLOSING, date(2025, 1, 1), "HLT") for i, p in enumerate(old)]
    closing += [(f"NEW{i:03d}", "A", CLOSING, CLOSING, "HLT") for i in range(5)]
    # The next day: the 95 policies active on the closing day, all still active.
    following = [(p, "A", NEXT, start, lob) for p, code, _, start, lob in closing if code == "A"]
    return {OPENING: opening, CLOSING: closing, NEXT: following}


def source_insert(source: dict, rows: list[tuple]) -> None:
    for row in rows:
        source["execute"](
            'INSERT INTO "POLICY_STATUS" ("POL_ID", "STAT_CD", "EFF_DT", "START_DT", "LOB_CD")'
            " VALUES (%s, %s, %s, %s, %s)",
            row,
        )


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


@pytest.fixture
def beat(worker, tmp_path, stack_logs):
    """A real `celery beat` with django-celery-beat's DatabaseScheduler, on
    the test database and broker (as scripts/supervisord.conf runs it, with
    a short loop so that a due task is sent within a second or two)."""
    log_path = tmp_path / "beat.log"
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="analytics_engine.settings.test", DATABASE_URL=database_url_of_tests()
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_app", "beat", "--loglevel", "INFO",
             "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1",
             "--pidfile", ""],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    stack_logs["celery beat"] = log_path
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def entity_rows(client_id: int) -> tuple[int, int, dict[str, int]]:
    """(rows, distinct (day, policy) pairs, rows per day) of the entity's table."""
    table = sql.Identifier("analytics_data", f"c{client_id}_policy_snapshot")
    with connections["readonly"].cursor() as cursor:
        cursor.execute(sql.SQL("SELECT count(*), count(DISTINCT (snapshot_date, policy_id)) FROM {}").format(table))
        total, distinct = cursor.fetchone()
        cursor.execute(sql.SQL("SELECT snapshot_date::text, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(table))
        return total, distinct, dict(cursor.fetchall())


def test_a_policy_system_to_the_retention_kpi_by_the_real_beat_and_worker(
    pg_source, worker, request, wait_for, stack_tail
):
    admin = MembershipFactory(role="admin", is_default=True)
    api = APIClient()
    api.force_authenticate(admin.user)
    days = source_rows()

    # The policy administration system: its own table, column names and codes.
    pg_source["execute"](
        'CREATE TABLE "POLICY_STATUS" ("POL_ID" varchar(12) NOT NULL, "STAT_CD" char(1) NOT NULL,'
        ' "EFF_DT" date NOT NULL, "START_DT" date, "LOB_CD" varchar(3), PRIMARY KEY ("POL_ID", "EFF_DT"))'
    )
    source_insert(pg_source, days[OPENING] + days[CLOSING])

    # 1. Connect, test, discover.
    connection = ok(
        api.post(
            "/api/v1/sources/connections/",
            {"code": "policy_admin", "name": "Policy administration", "kind": "postgresql",
             "settings": pg_source["settings"], "credentials": pg_source["credentials"]},
            format="json",
        ),
        201,
    )  # fmt: skip
    assert connection["credentials_set"] is True and "credentials" not in connection
    tested = ok(api.post("/api/v1/sources/connections/policy_admin/test"))
    assert tested["ok"] is True and tested["stage"] == "query", tested
    objects = {o["name"]: o for o in ok(api.get("/api/v1/sources/connections/policy_admin/discover"))["objects"]}
    columns = {c["name"]: c["type"] for c in objects["POLICY_STATUS"]["columns"]}
    assert columns == {"POL_ID": "string", "STAT_CD": "string", "EFF_DT": "date", "START_DT": "date",
                       "LOB_CD": "string"}  # fmt: skip

    # 2. The ontology: policy_snapshot and the retention KPI.
    ok(api.post("/api/v1/ontology/entities/", ENTITY, format="json"), 201)
    for code, formula, unit in METRICS:
        metric = {"code": code, "name": code.replace("_", " ").capitalize(), "formula": formula,
                  "entity": "policy_snapshot", "unit": unit, "domain": "health"}  # fmt: skip
        ok(api.post("/api/v1/ontology/metrics/", metric, format="json"), 201)

    # 3. The job: mapped, incremental on EFF_DT, daily (at the top of the current UTC hour).
    hour = datetime.now(UTC).hour
    job = ok(
        api.post(
            "/api/v1/sources/jobs/",
            {"code": "policy_status", "name": "Policy status snapshots", "connection": "policy_admin",
             "object": "POLICY_STATUS", "entity": "policy_snapshot", "mapping": MAPPING,
             "schedule": f"0 {hour} * * *", "incremental": {"column": "EFF_DT"}, "batch_size": 40},
            format="json",
        ),
        201,
    )  # fmt: skip
    assert job["schedule_text"] == f"At {hour:02d}:00 (UTC)" and job["watermark"] == "" and job["last_run"] is None

    # 4. Beat runs it: its daily tick is made due now (the last one two days ago).
    task = PeriodicTask.objects.get(name=f"ingestion:{admin.client_id}:policy_status")
    assert task.task == "ingestion.run_job" and task.enabled
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=datetime.now(UTC) - timedelta(days=2))
    beat = request.getfixturevalue("beat")
    runs_url = "/api/v1/sources/jobs/policy_status/runs/"
    first = wait_for(
        lambda: (
            beat.poll() is None
            and (runs := api.get(runs_url).json()["results"])
            and runs[0]["status"] in ("succeeded", "failed")
            and runs[0]
        ),
        what="beat's scheduled run of policy_status to finish",
        timeout=120,
    )
    assert first["status"] == "succeeded" and first["trigger"] == "schedule", first
    assert (first["rows_read"], first["rows_written"], first["rows_rejected"]) == (205, 205, 0), first
    assert (first["watermark_before"], first["watermark_after"]) == ("", "2026-03-31"), first
    assert "ingestion.run_job" in worker.read_text(errors="replace")
    beat.send_signal(signal.SIGTERM)  # the second run is asked for by hand
    beat.wait(timeout=20)

    # 5. The retention KPI through the metrics API: (95 - 5) / 100.
    series = ok(api.get("/api/v1/metrics/retention_rate", {"start": CLOSING.isoformat(), "end": NEXT.isoformat()}))[
        "series"
    ]
    assert series == [{"bucket": "2026-03-31T00:00:00Z", "dims": {}, "value": 0.9}], series
    parts = {
        code: ok(api.get(f"/api/v1/metrics/{code}", {"start": "2026-03-31", "end": "2026-04-01"}))["series"][0]["value"]
        for code in ("start_count", "end_count", "new_count")
    }
    assert parts == {"start_count": 100, "end_count": 95, "new_count": 5}, parts

    # 6. A new day arrives in the source; the next run reads only that day.
    source_insert(pg_source, days[NEXT])
    queued = ok(api.post("/api/v1/sources/jobs/policy_status/run"), 202)
    second = wait_for(
        lambda: (r := api.get(f"{runs_url}{queued['id']}/").json())["status"] in ("succeeded", "failed") and r,
        what=f"run {queued['id']} of policy_status to finish",
        timeout=120,
    )
    assert second["status"] == "succeeded" and second["trigger"] == "manual", second
    assert (second["rows_read"], second["rows_written"]) == (len(days[NEXT]), 95), second
    assert (second["watermark_before"], second["watermark_after"]) == ("2026-03-31", "2026-04-01"), second
    assert ok(api.get("/api/v1/sources/jobs/policy_status/"))["watermark"] == "2026-04-01"
    total, distinct, per_day = entity_rows(admin.client_id)
    assert (total, distinct) == (300, 300), (total, distinct)  # nothing loaded twice
    assert per_day == {"2026-03-30": 100, "2026-03-31": 105, "2026-04-01": 95}
    # The new day's retention: the 95 all kept, none new.
    series = ok(api.get("/api/v1/metrics/retention_rate", {"start": "2026-04-01", "end": "2026-04-02"}))["series"]
    assert series == [{"bucket": "2026-04-01T00:00:00Z", "dims": {}, "value": 1.0}], series
