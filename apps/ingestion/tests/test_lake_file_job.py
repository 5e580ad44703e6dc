"""A job end to end from a CSV file in the lakehouse (a file connection with
location "lake") into an entity: discovered, run, run again incrementally
after the file grew."""

import pytest
from django.db import connection
from psycopg import sql

from apps.connectors.models import ConnectionProfile
from apps.connectors.services.connections import connection_discover
from apps.core.lakehouse import lakehouse_from_settings
from apps.ingestion.runner import job_run
from apps.ingestion.services.jobs import job_create
from apps.ingestion.services.runs import job_run_request
from apps.ingestion.tests.helpers import job_body, policy_entity

pytestmark = pytest.mark.django_db


def _csv(days: int) -> bytes:
    rows = [f"P{n},2026-01-{n:02d},{'T' if n % 3 == 0 else 'A'},{n * 10.5:.2f}\n" for n in range(1, days + 1)]
    return ("POL_ID,EFF_DT,STAT_CD,PREM\n" + "".join(rows)).encode()


def test_a_lake_csv_file_is_loaded_into_an_entity_then_incrementally(user, settings, tmp_path):
    settings.LAKEHOUSE_TARGETS = {"default": {"BACKEND": "apps.core.lakehouse.local.LocalLakehouse",
                                              "ROOT": str(tmp_path)}}  # fmt: skip
    client_id = user.memberships.get().client_id
    entity = policy_entity(client_id)
    lake = lakehouse_from_settings()
    lake.write_data(f"sources/{client_id}/policies/daily.csv", _csv(5))
    ConnectionProfile.objects.create(client_id=client_id, code="policy_db", name="Policies", kind="file",
                                     settings={"location": "lake", "folder": "policies"})  # fmt: skip
    assert [o.name for o in connection_discover(client_id=client_id, code="policy_db")] == ["daily.csv"]
    job_create(client_id=client_id, user=user, fields=job_body(object="daily.csv"))

    def run():
        requested = job_run_request(client_id=client_id, code="policies", user=user)
        return job_run(client_id=client_id, code="policies", run_id=requested.id)

    first = run()
    assert first.status == "succeeded", first.error
    assert (first.rows_read, first.rows_written, first.rows_rejected) == (5, 5, 0)
    lake.write_data(f"sources/{client_id}/policies/daily.csv", _csv(7))
    second = run()
    assert (second.status, second.rows_read, second.rows_written) == ("succeeded", 2, 2), second.error
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT policy, effective::text, status, premium::text FROM {} ORDER BY effective").format(
                sql.Identifier("analytics_data", entity.table_name)
            )
        )
        stored = cursor.fetchall()
    assert [row[0] for row in stored] == [f"P{n}" for n in range(1, 8)]
    assert stored[2] == ("P3", "2026-01-03", "T", "31.50")
