"""The demo's data source (`make run`, through `manage.py sources_demo`,
which `demo_bootstrap` calls): a small policy administration database on
the local MariaDB of scripts/services.sh, with its own names and codes
(table `POLICY_STATUS`: `POL_ID`, `STAT_CD` `A`/`T`, `EFF_DT`, `START_DT`,
`LOB_CD`, `PREM_AMT` in cents), a MySQL connection to it, and a daily job
onto the demo's `policy_snapshot` (defined here when the demo has none).

Idempotent: every step looks before it makes, so each `make run` finds what
the last one made and changes nothing; the source's rows are written once,
when its table is empty. The connection signs in with the local server's
development account (SOURCES_LOCAL_MARIADB_URL; `ae`, which may not grant
privileges, so there is no reader of its own); the adapter reads in a
read-only transaction anyway."""

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

import pymysql
from django.conf import settings

from apps.connectors.selectors import connections as connection_selectors
from apps.connectors.services import connections as connection_services
from apps.core.errors import AppError, NotFound
from apps.ingestion.models import IngestionJob
from apps.ingestion.services import jobs as job_services
from apps.ontology import selectors as ontology
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create

CONNECTION = "policy_admin"
JOB = "policy_status"
ENTITY = "policy_snapshot"
TABLE = "POLICY_STATUS"
SCHEDULE = "0 2 * * *"  # daily at 02:00 UTC
DAYS, POLICIES = 7, 60  # a week of snapshots of a small dental book
MAPPING = {
    "fields": {
        "snapshot_date": {"source": "EFF_DT"},
        "policy_id": {"source": "POL_ID"},
        "status": {"source": "STAT_CD"},
        "start_date": {"source": "START_DT"},
        "lob": {"source": "LOB_CD"},
        "premium": {"source": "PREM_AMT"},
    },
    "value_maps": {"status": {"A": "Active", "T": "Terminated"}, "lob": {"DEN": "Dental"}},
    "scales": {"premium": 0.01},
}
# The demo's own shape of policy_snapshot (the Health Retention scenario's), for a demo without it.
POLICY_SNAPSHOT = EntityInput(
    code=ENTITY,
    name="Policy snapshot",
    kind="time_series",
    time_attribute="snapshot_date",
    attributes=[
        AttributeInput("snapshot_date", "date", nullable=False),
        AttributeInput("policy_id", "string", nullable=False),
        AttributeInput("status", "string", enum_values=("Active", "Terminated")),
        AttributeInput("start_date", "date"),
        AttributeInput("lob", "string"),
        AttributeInput("premium", "decimal"),
    ],
)


@dataclass(frozen=True)
class DemoSourceOutcome:
    database: str
    rows_written: int  # rows put in the source this time (0: it had them)
    made: tuple[str, ...]  # what this call created ("entity", "connection", "job")
    discovery: str  # "" when discovery worked, else why not


def source_rows(today: date) -> list[tuple]:
    """(POL_ID, STAT_CD, EFF_DT, START_DT, LOB_CD, PREM_AMT) for the last
    DAYS days before `today`: POLICIES policies, one lapsing every day or two,
    a new one starting every other day; a few codes in lower case with
    spaces, as the demo's mapping normalises them."""
    first = today - timedelta(days=DAYS)
    rows = []
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        for i in range(POLICIES):
            status = "T" if i < (offset * 2) // 3 else ("a " if i % 17 == 5 else "A")
            rows.append((f"PAS-{i + 1:04d}", status, day, date(2025, 1, 1) + timedelta(days=i), "DEN", 4500 + i * 25))
        for n in range(1, offset + 1, 2):
            rows.append((f"PAS-N{n:03d}", "A", day, first + timedelta(days=n), "DEN", 5200))
    return rows


def _server() -> dict:
    url = urlsplit(settings.SOURCES_LOCAL_MARIADB_URL)
    return {"host": url.hostname or "127.0.0.1", "port": url.port or 3306, "user": url.username or "root",
            "password": url.password or ""}  # fmt: skip


def _source_make(database: str, today: date) -> int:
    """The database and its table; the rows when the table is
    empty. Returns how many rows were written."""
    server = _server()
    admin = pymysql.connect(**server, autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS `{database}`.`{TABLE}` (`POL_ID` varchar(12) NOT NULL,"
                " `STAT_CD` char(2) NOT NULL, `EFF_DT` date NOT NULL, `START_DT` date, `LOB_CD` varchar(3),"
                " `PREM_AMT` int, PRIMARY KEY (`POL_ID`, `EFF_DT`))"
            )
            cursor.execute(f"SELECT count(*) FROM `{database}`.`{TABLE}`")  # noqa: S608 - our own names
            if cursor.fetchone()[0]:
                return 0
            rows = source_rows(today)
            cursor.executemany(
                f"INSERT INTO `{database}`.`{TABLE}` VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608 - our own names
                rows,
            )
            return len(rows)
    finally:
        admin.close()


def demo_source_ensure(*, client_id: int, user=None, today: date | None = None) -> DemoSourceOutcome:
    from django.utils import timezone

    database = settings.SOURCES_DEMO_DATABASE
    rows_written = _source_make(database, today or timezone.now().date())
    made = []
    if not ontology.entities(client_id=client_id, codes=[ENTITY]):
        entity_create(client_id=client_id, data=POLICY_SNAPSHOT)
        made.append("entity")
    try:
        connection = connection_selectors.connection_get(client_id=client_id, code=CONNECTION)
    except NotFound:
        server = _server()
        connection = connection_services.connection_create(
            client_id=client_id,
            user=user,
            fields={"code": CONNECTION, "name": "Policy administration (demo, MariaDB)", "kind": "mysql",
                    "settings": {"host": server["host"], "port": server["port"], "database": database},
                    "credentials": {"username": server["user"], "password": server["password"]}},
        )  # fmt: skip
        made.append("connection")
    discovery = ""
    if connection.last_discovered_at is None:
        try:
            connection_services.connection_discover(client_id=client_id, code=CONNECTION)
        except AppError as exc:  # the source unreachable, or private addresses not allowed
            discovery = exc.message
    if not IngestionJob.objects.filter(client_id=client_id, code=JOB).exists():
        job_services.job_create(
            client_id=client_id,
            user=user,
            fields={"code": JOB, "name": "Policy status snapshots (demo)", "connection": CONNECTION,
                    "object": TABLE, "entity": ENTITY, "mapping": MAPPING, "schedule": SCHEDULE,
                    "incremental": {"column": "EFF_DT"}, "batch_size": 1000},
        )  # fmt: skip
        made.append("job")
    return DemoSourceOutcome(database=database, rows_written=rows_written, made=tuple(made), discovery=discovery)
