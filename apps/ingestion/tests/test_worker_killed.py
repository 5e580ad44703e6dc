"""A worker killed (SIGKILL) in the middle of a run, while it holds the job's
lock and has copied part of the rows in its open transaction: nothing of that
run is stored; the next request marks it failed and runs again; every source
row ends up stored exactly once. A real `celery worker` process on a queue of
its own (so the suite's shared worker never takes this task)."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

from apps.core.tests.factories import MembershipFactory
from apps.core.tests.waiting import wait_until
from apps.ingestion.models import IngestionJob, IngestionRun
from apps.ingestion.services.jobs import job_create
from apps.ingestion.services.runs import _worker_alive, job_run_request, run_create
from apps.ingestion.tasks import run_job_task
from apps.ingestion.tests.helpers import connection_make, job_body, policies_table, policy_entity

ROOT = Path(__file__).resolve().parents[3]
SLEEPY = """SELECT * FROM "POLICIES" WHERE CASE WHEN "POL_ID" = 'P5'
            THEN (SELECT count(*) FROM pg_sleep((SELECT s FROM ctl))) = 1 ELSE true END"""


def _database_url() -> str:
    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + settings.DATABASES["default"]["NAME"], parts.query, ""))


@pytest.fixture
def worker(tmp_path):
    queue = f"ingestion_kill_{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "worker.log"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="analytics_engine.settings.test", DATABASE_URL=_database_url())
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "solo", "-Q", queue,
             "--hostname", f"kill-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip",
             "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process, queue, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _stored(entity) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT policy FROM {}").format(sql.Identifier("analytics_data", entity.table_name)))
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_loads_nothing_and_the_rerun_loads_every_row_once(
    pg_source, worker, eager_celery, django_capture_on_commit_callbacks
):
    process, queue, log_path = worker
    user = MembershipFactory(is_default=True).user
    client_id = user.memberships.get().client_id
    entity = policy_entity(client_id)
    connection_make(client_id, pg_source)
    policies_table(pg_source, 10)
    pg_source["execute"]("CREATE TABLE ctl (s float)")
    pg_source["execute"]("INSERT INTO ctl VALUES (120)")
    job_create(client_id=client_id, user=user,
               fields=job_body(object="", query=SLEEPY, incremental=None, batch_size=2))  # fmt: skip
    job = IngestionJob.objects.get(client_id=client_id, code="policies")
    run = run_create(job=job, user=user, trigger="manual")
    eager_celery_off = run_job_task.app.conf.task_always_eager
    run_job_task.app.conf.task_always_eager = False
    try:
        run_job_task.apply_async((client_id, "policies", run.pk), queue=queue)
    finally:
        run_job_task.app.conf.task_always_eager = eager_celery_off

    def logs() -> str:
        return log_path.read_text(errors="replace")

    def sleeping() -> bool:
        return bool(pg_source["execute"](
            "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND wait_event = 'PgSleep'", [pg_source["database"]]
        ))  # fmt: skip

    exited = lambda: f"the worker exited ({process.returncode})" if process.poll() is not None else None  # noqa: E731
    wait_until(lambda: IngestionRun.objects.get(pk=run.pk).status == "running", what="the run started", logs=logs,
               gone=exited, timeout=60)  # fmt: skip
    wait_until(sleeping, what="the run blocked on row 5, part way", logs=logs, gone=exited)
    assert _worker_alive(job), "the worker holds the job's lock"
    process.send_signal(signal.SIGKILL)
    process.wait()
    wait_until(lambda: not _worker_alive(job), what="the dead worker's session to end and free the lock")
    assert _stored(entity) == []  # the rows it had copied were never committed
    assert IngestionRun.objects.get(pk=run.pk).status == "running"

    pg_source["execute"]("UPDATE ctl SET s = 0")
    with django_capture_on_commit_callbacks(execute=True):
        again = job_run_request(client_id=client_id, code="policies", user=user)
    lost = IngestionRun.objects.get(pk=run.pk)
    assert lost.status == "failed" and "worker stopped" in lost.error
    rerun = IngestionRun.objects.get(pk=again.id)
    assert rerun.status == "succeeded", rerun.error
    stored = _stored(entity)
    assert sorted(stored) == sorted(f"P{i}" for i in range(1, 11))  # every row, once


@pytest.mark.django_db(transaction=True)
def test_a_requested_run_is_run_by_the_real_worker(pg_source, celery_worker_process):
    from rest_framework.test import APIClient

    user = MembershipFactory(is_default=True).user
    client_id = user.memberships.get().client_id
    entity = policy_entity(client_id)
    connection_make(client_id, pg_source)
    policies_table(pg_source, 4)
    api = APIClient()
    api.force_authenticate(user)
    assert api.post("/api/v1/sources/jobs/", job_body(), format="json").status_code == 201
    run = api.post("/api/v1/sources/jobs/policies/run").json()
    done = wait_until(
        lambda: IngestionRun.objects.filter(pk=run["id"], status__in=["succeeded", "failed"]).first(),
        what="the worker to finish the run",
        logs=lambda: celery_worker_process.read_text(errors="replace"),
    )
    assert (done.status, done.rows_written, done.watermark_after) == ("succeeded", 4, "2026-01-04"), done.error
    assert sorted(_stored(entity)) == ["P1", "P2", "P3", "P4"]
