"""Runs against a real PostgreSQL source: full and incremental loads, the
watermark advancing only with committed rows, faults (a column dropped, the
source gone mid-stream, malformed records), one run at a time, dry runs."""

import pytest
from django.db import connection
from psycopg import sql

from apps.core.advisory_locks import advisory_lock_try
from apps.ingestion.models import IngestionJob, IngestionRun
from apps.ingestion.runner import job_lock_key, job_run
from apps.ingestion.services.jobs import job_create
from apps.ingestion.services.runs import job_dry_run, job_run_request
from apps.ingestion.tests.helpers import connection_make, job_body, policies_table, policy_entity
from apps.ontology.models import DataLoad

pytestmark = pytest.mark.django_db

URL = "/api/v1/sources/jobs/"


@pytest.fixture
def client_id(user):
    return user.memberships.get().client_id


@pytest.fixture
def entity(client_id):
    return policy_entity(client_id)


@pytest.fixture
def source(pg_source, client_id):
    connection_make(client_id, pg_source)
    return pg_source


def _job(client_id, user, **changes):
    body = job_body(**changes)
    fields = {key: value for key, value in body.items()}
    return job_create(client_id=client_id, user=user, fields=fields)


def _run(client_id, user, code="policies") -> IngestionRun:
    requested = job_run_request(client_id=client_id, code=code, user=user)
    return job_run(client_id=client_id, code=code, run_id=requested.id)


def _stored(entity) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT policy, effective::text, status, premium::text FROM {} ORDER BY effective").format(
                sql.Identifier("analytics_data", entity.table_name)
            )
        )
        return cursor.fetchall()


def _watermark(client_id) -> str:
    return IngestionJob.objects.get(client_id=client_id, code="policies").watermark


def test_a_full_then_an_incremental_run_loads_each_row_once(source, entity, client_id, user):
    policies_table(source, 7)
    _job(client_id, user)
    first = _run(client_id, user)
    assert first.status == "succeeded", first.error
    assert (first.rows_read, first.rows_written, first.rows_rejected) == (7, 7, 0)
    assert first.watermark_before == "" and first.watermark_after == "2026-01-07" == _watermark(client_id)
    assert _stored(entity)[0] == ("P1", "2026-01-01", "A", "10.50")
    policies_table(source, 2, start=8)
    second = _run(client_id, user)
    assert (second.status, second.rows_read, second.rows_written) == ("succeeded", 2, 2)
    assert second.watermark_before == "2026-01-07" and _watermark(client_id) == "2026-01-09"
    assert [row[0] for row in _stored(entity)] == [f"P{i}" for i in range(1, 10)]
    assert DataLoad.objects.filter(entity_id=entity.pk, source="ingestion").count() == 2
    nothing_new = _run(client_id, user)
    assert (nothing_new.status, nothing_new.rows_read, nothing_new.rows_written) == ("succeeded", 0, 0)
    assert _watermark(client_id) == "2026-01-09"


def test_a_column_dropped_since_the_job_was_made_fails_naming_it(source, entity, client_id, user):
    policies_table(source, 4)
    _job(client_id, user)
    source["execute"]('ALTER TABLE "POLICIES" DROP COLUMN "STAT_CD"')
    run = _run(client_id, user)
    assert run.status == "failed" and "STAT_CD" in run.error
    assert "Traceback" not in run.error and source["credentials"]["password"] not in run.error
    assert _stored(entity) == [] and _watermark(client_id) == ""


def test_a_column_retyped_since_discovery_fails_naming_it(source, entity, client_id, user):
    from apps.connectors.services.connections import connection_discover

    policies_table(source, 4)
    connection_discover(client_id=client_id, code="policy_db")
    _job(client_id, user)
    source["execute"]('ALTER TABLE "POLICIES" ALTER COLUMN "EFF_DT" TYPE text')
    run = _run(client_id, user)
    assert run.status == "failed" and "'EFF_DT' (date -> string)" in run.error, run.error
    assert _stored(entity) == [] and _watermark(client_id) == ""
    source["execute"]('ALTER TABLE "POLICIES" ALTER COLUMN "EFF_DT" TYPE date USING "EFF_DT"::date')
    assert _run(client_id, user).status == "succeeded"


def test_the_source_going_away_mid_extraction_loads_nothing(source, entity, client_id, user):
    policies_table(source, 10)
    # The source's own backend ends itself on the 7th row: the first batches
    # have been read and copied, the connection drops in the middle.
    query = """SELECT * FROM "POLICIES" WHERE CASE WHEN "POL_ID" = 'P7'
               THEN pg_terminate_backend(pg_backend_pid()) ELSE true END"""
    # Read in watermark order straight from an index (no sort first), so the
    # rows stream and the watermark has moved on when the source goes.
    source["execute"]('CREATE INDEX ON "POLICIES" ("EFF_DT")')
    source["execute"](f'ALTER DATABASE "{source["database"]}" SET enable_sort = off')
    _job(client_id, user, object="", query=query, batch_size=2)
    run = _run(client_id, user)
    assert run.status == "failed", run.rows_written
    assert "failed or was lost" in run.error and "nothing was loaded" in run.error, run.error
    assert "Traceback" not in run.error
    assert run.rows_read >= 2 and run.rows_written == 0
    assert _stored(entity) == [] and not DataLoad.objects.filter(entity_id=entity.pk).exists()
    assert _watermark(client_id) == ""


def test_malformed_records_are_rejected_and_reported(source, entity, client_id, user):
    policies_table(source, 3)
    source["execute"]("""INSERT INTO "POLICIES" VALUES (NULL, DATE '2026-01-04', 'A', 1)""")
    source["execute"]("""INSERT INTO "POLICIES" VALUES ('P5', NULL, 'A', 1)""")
    _job(client_id, user, incremental=None)
    run = _run(client_id, user)
    assert run.status == "succeeded"
    assert (run.rows_read, run.rows_written, run.rows_rejected) == (5, 3, 2)
    assert sorted(r["row"] for r in run.rejections) == [3, 4]
    assert {next(iter(r["errors"])) for r in run.rejections} == {"policy", "effective"}


def test_a_run_while_one_is_active_is_refused(source, entity, client_id, auth_client):
    policies_table(source, 2)
    auth_client.post(URL, job_body(), format="json")
    first = auth_client.post(URL + "policies/run")
    assert first.status_code == 202 and first.json()["status"] == "queued"
    second = auth_client.post(URL + "policies/run")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "job_running"
    assert second.json()["error"]["details"]["run"] == first.json()["id"]


def test_a_run_left_running_by_a_dead_worker_is_failed_by_the_next_request(source, entity, client_id, user):
    policies_table(source, 2)
    job = _job(client_id, user)
    lost = IngestionRun.objects.create(client_id=client_id, job_id=job.id, status="running")
    run = _run(client_id, user)
    lost.refresh_from_db()
    assert lost.status == "failed" and "worker stopped" in lost.error
    assert run.status == "succeeded" and run.rows_written == 2


def test_a_second_runner_leaves_a_job_another_holds(source, entity, client_id, user):
    policies_table(source, 2)
    job = _job(client_id, user)
    requested = job_run_request(client_id=client_id, code="policies", user=user)
    from django.db import connections

    other = connections.create_connection("default")
    try:
        with advisory_lock_try(job_lock_key(job.id), db=other) as held:
            assert held
            assert job_run(client_id=client_id, code="policies", run_id=requested.id) is None
    finally:
        other.close()
    assert IngestionRun.objects.get(pk=requested.id).status == "queued"


def test_the_api_runs_and_lists_runs_newest_first(source, entity, client_id, auth_client, eager_celery,
                                                  django_capture_on_commit_callbacks):  # fmt: skip
    policies_table(source, 3)
    auth_client.post(URL, job_body(), format="json")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert auth_client.post(URL + "policies/run/").status_code == 202
    runs = auth_client.get(URL + "policies/runs/").json()
    assert runs["count"] == 2
    assert [r["rows_written"] for r in runs["results"]] == [0, 3]
    one = auth_client.get(URL + f"policies/runs/{runs['results'][1]['id']}/").json()
    assert one["status"] == "succeeded" and one["watermark_after"] == "2026-01-03"
    job = auth_client.get(URL + "policies/").json()
    assert job["watermark"] == "2026-01-03" and job["last_run"]["id"] == runs["results"][0]["id"]
    assert auth_client.get(URL + "policies/runs/999999/").status_code == 404


def test_a_dry_run_writes_nothing_and_answers_per_row(source, entity, client_id, auth_client):
    policies_table(source, 4)
    source["execute"]("""INSERT INTO "POLICIES" VALUES ('P9', NULL, 'A', 1)""")
    auth_client.post(URL, job_body(incremental=None), format="json")
    response = auth_client.post(URL + "policies/run?dry_run=5")
    assert response.status_code == 200, response.content
    dry = response.json()
    assert (dry["rows_read"], dry["rows_valid"], dry["rows_rejected"]) == (5, 4, 1)
    first = dry["rows"][0]
    assert first["status"] == "valid" and first["source"]["POL_ID"] == "P1"
    assert first["stored"] == {"effective": "2026-01-01", "policy": "P1", "status": "A", "premium": "10.50"}
    assert dry["rows"][4]["status"] == "rejected" and "effective" in dry["rows"][4]["errors"]
    assert _stored(entity) == [] and not DataLoad.objects.filter(entity_id=entity.pk).exists()
    assert _watermark(client_id) == ""
    assert IngestionRun.objects.get(job__code="policies").trigger == "dry_run"
    assert auth_client.post(URL + "policies/run?dry_run=0").status_code == 400
    assert auth_client.post(URL + "policies/run?dry_run=lots").status_code == 400


def test_the_dry_run_service_limits_rows(source, entity, client_id, user):
    policies_table(source, 6)
    _job(client_id, user, draft=True)  # a draft whose mapping is complete may be tried
    dry = job_dry_run(client_id=client_id, code="policies", limit=2)
    assert [row.source["POL_ID"] for row in dry.rows] == ["P1", "P2"]


def test_a_mariadb_source_runs_incrementally(mariadb_source, entity, client_id, user):
    connection_make(client_id, mariadb_source, code="maria")
    mariadb_source["execute"](
        "CREATE TABLE POLICIES (POL_ID varchar(10), EFF_DT date, STAT_CD char(1), PREM decimal(12,2))"
    )
    mariadb_source["execute"]("INSERT INTO POLICIES VALUES ('M1','2026-03-01','A',1.25), ('M2','2026-03-02','T',2.5)")
    _job(client_id, user, connection="maria")
    first = _run(client_id, user)
    assert (first.status, first.rows_written, first.watermark_after) == ("succeeded", 2, "2026-03-02"), first.error
    mariadb_source["execute"]("INSERT INTO POLICIES VALUES ('M3','2026-03-03','A',3)")
    second = _run(client_id, user)
    assert (second.rows_read, second.rows_written) == (1, 1)
    assert [row[0] for row in _stored(entity)] == ["M1", "M2", "M3"]


def test_progress_channels_are_the_clients_jobs_for_source_managers(source, entity, client_id, user):
    from apps.core.access import Permission
    from apps.core.errors import AppError
    from apps.core.realtime import ChannelRequest, channel_authorize

    _job(client_id, user)

    def ask(channel, permissions=frozenset({Permission.MANAGE_SOURCES}), client=client_id):
        channel_authorize(ChannelRequest(client_id=client, user_id=user.pk, role="analyst", channel=channel,
                                         permissions=permissions))  # fmt: skip

    ask("ingestion.policies")
    with pytest.raises(AppError) as refused:
        ask("ingestion.policies", permissions=frozenset({Permission.VIEW_METRICS}))
    assert refused.value.code == "channel_forbidden"
    with pytest.raises(AppError) as unknown:
        ask("ingestion.nope")
    assert unknown.value.code == "unknown_channel"
    with pytest.raises(AppError):
        ask("ingestion.policies", client=client_id + 100_000)


@pytest.mark.parametrize(
    ("interval", "reads"),
    [(0, [0, 2, 4, 5, 5]),  # every batch
     (3600, [0, 2, 5])],  # the start, the first batch, the end: no more often than the interval
)  # fmt: skip
def test_progress_is_published_per_batch_at_most_every_interval(
    source, entity, client_id, user, monkeypatch, interval, reads
):
    import asyncio

    from apps.ingestion import runner

    monkeypatch.setattr(runner, "PROGRESS_INTERVAL_SECONDS", interval)

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from apps.core.realtime import realtime_group

    policies_table(source, 5)
    _job(client_id, user, batch_size=2)
    layer = get_channel_layer()
    name = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime_group(client_id=client_id, channel="ingestion.policies"), name)
    run = _run(client_id, user)

    async def drain():
        events = []
        while not events or events[-1]["status"] not in ("succeeded", "failed"):
            message = await asyncio.wait_for(layer.receive(name), timeout=10)
            events.append(message["event"])
        return events

    events = async_to_sync(drain)()
    assert [e["rows_read"] for e in events] == reads
    assert events[-1] == {"run": run.pk, "status": "succeeded", "rows_read": 5, "rows_written": 5, "rows_rejected": 0}


def test_beat_makes_a_schedule_run_unless_disabled_or_active(source, entity, client_id, user):
    from apps.ingestion.tasks import run_job_task

    policies_table(source, 2)
    _job(client_id, user, schedule="0 2 * * *")
    assert run_job_task(client_id, "policies")["status"] == "succeeded"
    assert IngestionRun.objects.get(job__code="policies").trigger == "schedule"
    queued = job_run_request(client_id=client_id, code="policies", user=user)
    assert run_job_task(client_id, "policies") == {"job": "policies", "status": "skipped"}
    assert IngestionRun.objects.filter(job__code="policies").count() == 2
    job_run(client_id=client_id, code="policies", run_id=queued.id)
    IngestionJob.objects.filter(code="policies").update(is_enabled=False)
    assert run_job_task(client_id, "policies")["status"] == "skipped"


def test_the_sweep_fails_runs_whose_worker_died(source, entity, client_id, user):
    from apps.ingestion.services.runs import runs_sweep

    job = _job(client_id, user)
    lost = IngestionRun.objects.create(client_id=client_id, job_id=job.id, status="running")
    assert runs_sweep() == 1
    lost.refresh_from_db()
    assert lost.status == "failed" and lost.error == "The worker stopped during the run; nothing was loaded."


@pytest.mark.parametrize(
    "value",
    [12, -3, __import__("decimal").Decimal("12.50"), __import__("datetime").date(2026, 1, 7),
     __import__("datetime").datetime(2026, 1, 7, 10, 30, 0, 123456, tzinfo=__import__("datetime").UTC),
     __import__("datetime").datetime(2026, 1, 7, 10, 30), "A-17"],
)  # fmt: skip
def test_a_watermark_reads_back_as_its_type(value):
    from apps.ingestion.runner import watermark_text, watermark_value

    text = watermark_text(value)
    assert watermark_value(text) == value and type(watermark_value(text)) is type(value)
    assert watermark_text(watermark_value(text)) == text


def test_a_timestamp_watermark_moves_incrementally(source, entity, client_id, user):
    source["execute"]('CREATE TABLE "EVENTS" ("POL_ID" text, "EFF_DT" date, "AT" timestamptz)')
    source["execute"]("""INSERT INTO "EVENTS" VALUES ('E1', '2026-01-01', '2026-01-01 10:00:00.5+00'),
                                                    ('E2', '2026-01-01', '2026-01-01 11:00:00+00')""")
    mapping = {"fields": {"policy": {"source": "POL_ID"}, "effective": {"source": "EFF_DT"}}}
    _job(client_id, user, object="EVENTS", mapping=mapping, incremental={"column": "AT"})
    assert _run(client_id, user).rows_written == 2
    assert _watermark(client_id) == "2026-01-01T11:00:00+00:00"
    source["execute"]("""INSERT INTO "EVENTS" VALUES ('E3', '2026-01-02', '2026-01-01 11:00:00.001+00')""")
    assert (_run(client_id, user).rows_written, _watermark(client_id)) == (1, "2026-01-01T11:00:00.001000+00:00")


def test_a_null_watermark_read_last_does_not_hold_the_watermark_back(source, entity, client_id, user):
    """SQL sorts NULLs last: the watermark is the highest value read, so the
    next run does not read (and load) the same rows again."""
    source["execute"]('CREATE TABLE "EVENTS" ("POL_ID" text, "EFF_DT" date, "AT" timestamptz)')
    source["execute"]("""INSERT INTO "EVENTS" VALUES ('E1', '2026-01-01', '2026-01-01 10:00:00+00'),
                                                    ('E2', '2026-01-01', NULL)""")
    mapping = {"fields": {"policy": {"source": "POL_ID"}, "effective": {"source": "EFF_DT"}}}
    _job(client_id, user, object="EVENTS", mapping=mapping, incremental={"column": "AT"})
    assert _run(client_id, user).rows_written == 2
    assert _watermark(client_id) == "2026-01-01T10:00:00+00:00"
    again = _run(client_id, user)
    assert (again.status, again.rows_read, again.rows_written) == ("succeeded", 0, 0)


def test_a_job_is_not_deleted_while_it_runs(source, entity, client_id, auth_client):
    auth_client.post(URL, job_body(), format="json")
    run = auth_client.post(URL + "policies/run").json()
    refused = auth_client.delete(URL + "policies/")
    assert refused.status_code == 409 and refused.json()["error"]["details"]["run"] == run["id"]
    IngestionRun.objects.filter(pk=run["id"]).update(status="succeeded")
    assert auth_client.delete(URL + "policies/").status_code == 204


def test_a_run_that_cannot_be_queued_does_not_hold_its_job(source, entity, client_id, user, monkeypatch,
                                                          django_capture_on_commit_callbacks):  # fmt: skip
    from apps.ingestion.tasks import run_job_task

    _job(client_id, user)

    def broker_away(*args, **kwargs):
        raise ConnectionError("broker away")

    monkeypatch.setattr(run_job_task, "delay", broker_away)
    with pytest.raises(ConnectionError), django_capture_on_commit_callbacks(execute=True):
        job_run_request(client_id=client_id, code="policies", user=user)
    run = IngestionRun.objects.get(job__code="policies")
    assert run.status == "failed" and "could not be queued" in run.error
