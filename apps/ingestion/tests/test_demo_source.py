"""The demo's data source (`sources_demo`, run by `demo_bootstrap` on every
`make run`): a policy administration database on the local MariaDB, a MySQL
connection that tests and discovers, a daily job onto policy_snapshot whose
run maps the source's codes; and a second bootstrap that changes nothing."""

from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection
from django_celery_beat.models import PeriodicTask
from psycopg import sql

from apps.connectors.models import ConnectionProfile
from apps.connectors.services.connections import connection_test
from apps.core.models import Client
from apps.ingestion.models import IngestionJob
from apps.ingestion.runner import job_run
from apps.ingestion.services.demo import source_rows
from apps.ingestion.services.runs import job_run_request

pytestmark = pytest.mark.django_db


def test_the_demo_source_is_made_once_and_its_job_loads_the_mapped_rows(demo_source_database, capsys, settings):
    settings.AE_ADMIN_PASSWORD = "demo-pass"
    call_command("demo_bootstrap", "--no-data")  # the demo client and user only
    call_command("sources_demo")
    out = capsys.readouterr().out
    assert f"demo source: MariaDB database '{demo_source_database}'" in out, out
    assert "made: entity, connection, job" in out and "rows written" in out and "discovery failed" not in out, out
    client_id = Client.objects.get(code="demo").pk

    tested = connection_test(client_id=client_id, code="policy_admin")
    assert tested.ok, tested
    profile = ConnectionProfile.objects.get(client_id=client_id, code="policy_admin")
    assert profile.kind == "mysql" and profile.last_discovered_at is not None
    job = IngestionJob.objects.get(client_id=client_id, code="policy_status")
    assert (job.schedule, job.incremental_column, job.source_object) == ("0 2 * * *", "EFF_DT", "POLICY_STATUS")
    assert PeriodicTask.objects.get(pk=job.periodic_task_id).enabled

    requested = job_run_request(client_id=client_id, code="policy_status", user=None)
    run = job_run(client_id=client_id, code="policy_status", run_id=requested.id)
    expected = source_rows(date.today())
    assert (run.status, run.rows_read, run.rows_written, run.rows_rejected) == (
        "succeeded", len(expected), len(expected), 0
    ), run.error  # fmt: skip
    table = sql.Identifier("analytics_data", f"c{client_id}_policy_snapshot")
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT DISTINCT status, lob FROM {} ORDER BY 1").format(table))
        assert cursor.fetchall() == [("Active", "Dental"), ("Terminated", "Dental")]  # " a " and "T" mapped
        cursor.execute(sql.SQL("SELECT min(premium)::text FROM {}").format(table))
        assert cursor.fetchone()[0] == "45.00"  # cents scaled

    # The next `make run`: nothing made again, the rows kept.
    call_command("demo_bootstrap", "--no-data")
    call_command("sources_demo")
    out = capsys.readouterr().out
    assert "rows already there" in out and "made: nothing new" in out, out
    assert ConnectionProfile.objects.filter(client_id=client_id).count() == 1
    assert IngestionJob.objects.filter(client_id=client_id).count() == 1
    assert connection_test(client_id=client_id, code="policy_admin").ok


def test_private_networks_are_allowed_for_make_run_only():
    """The demo's source is on this machine (loopback): `make run`/`make demo`
    allow private networks; the settings' default (production) does not."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    makefile = (root / "Makefile").read_text()
    assert "\nrun demo: export SOURCES_ALLOW_PRIVATE_NETWORKS ?= true\n" in makefile
    assert makefile.count("SOURCES_ALLOW_PRIVATE_NETWORKS") == 1
    sources = (root / "analytics_engine" / "settings" / "sources.py").read_text()
    assert 'env.bool("SOURCES_ALLOW_PRIVATE_NETWORKS", default=False)' in sources
