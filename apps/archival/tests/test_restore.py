"""Restore: archive the old chunks, drop them, restore a range back into the
hypertable (service, management command, admin action)."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.sites import site
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory
from psycopg import sql

from apps.archival.events import archival_event_handle
from apps.archival.models import ArchivalJob
from apps.archival.services import archive_restore
from apps.archival.tests.arch_fixtures import SCHEMA, arch_event
from apps.core.errors import Conflict
from apps.messaging.bus import envelope_build
from apps.warehouse.types import ARCHIVAL_EVENTS_TOPIC

pytestmark = pytest.mark.django_db(transaction=True)
COLUMNS = sql.SQL(", ").join(
    map(sql.Identifier, ["observed_at", "policy_code", "premium", "claims", "score", "active", "effective_on", "attrs"])
)


def snapshot(table: str, start: datetime, end: datetime) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT {} FROM {} WHERE observed_at >= %s AND observed_at < %s ORDER BY 1, 2").format(
                COLUMNS, sql.Identifier(SCHEMA, table)
            ),
            [start, end],
        )
        return cursor.fetchall()


def drop_old_chunks(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT drop_chunks(%s, older_than => %s::timestamptz)", [f"{SCHEMA}.{table}", "2021-01-01"])


@pytest.fixture
def archived(bus_prefix, arch_table, arch_lake):
    event = arch_event(arch_table)
    archival_event_handle(envelope_build(ARCHIVAL_EVENTS_TOPIC, event))
    assert ArchivalJob.objects.filter(status=ArchivalJob.Status.COMPLETED).count() == 3
    return arch_table


START, END = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 4, tzinfo=UTC)


def test_restore_brings_back_exactly_the_archived_rows_and_refuses_to_duplicate(archived):
    before = snapshot(archived, START, END)
    drop_old_chunks(archived)
    assert snapshot(archived, START, END) == []

    result = archive_restore(table_schema=SCHEMA, table_name=archived, range_start=START, range_end=END)

    assert result.rows == len(before) == 72 and len(result.files) == 3
    assert snapshot(archived, START, END) == before  # every type round-trips: decimal, json, date, ...
    with pytest.raises(Conflict):
        archive_restore(table_schema=SCHEMA, table_name=archived, range_start=START, range_end=END)
    assert len(snapshot(archived, START, END)) == 72


def test_restore_of_part_of_a_chunk_and_the_command(archived):
    day2 = snapshot(archived, datetime(2020, 1, 2, 1, tzinfo=UTC), datetime(2020, 1, 2, 2, tzinfo=UTC))
    drop_old_chunks(archived)

    call_command(
        "archive_restore", "--table", archived, "--start", "2020-01-02T01:00:00+00:00", "--end", "2020-01-02T02:00Z"
    )
    assert snapshot(archived, START, END) == day2 and len(day2) == 9  # one row every 7 minutes
    with pytest.raises(CommandError, match="already has rows"):
        call_command(
            "archive_restore", "--table", archived, "--start", "2020-01-02T00:00Z", "--end", "2020-01-03T00:00Z"
        )


def test_admin_action_restores_the_selected_chunks(archived, admin_user):
    before = snapshot(archived, START, END)
    drop_old_chunks(archived)
    request = RequestFactory().post("/")
    request.user = admin_user
    request._messages = type("Messages", (), {"add": lambda self, level, message, extra_tags="": None})()

    site._registry[ArchivalJob].restore_ranges(request, ArchivalJob.objects.all())

    assert snapshot(archived, START, END) == before
