"""Reads of simulation runs, and the few reads of generated tables the
ScenarioManager needs before it writes (is this range free, which reference
keys are stored). Those are existence checks on one table, not analytics:
the calculation engine's compiler is for metrics."""

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from psycopg import sql

from apps.core.errors import NotFound
from apps.simulation.generators import SCENARIOS
from apps.simulation.generators.base import period_start
from apps.simulation.models import SimulationRun
from apps.simulation.types import ScenarioInfo


def scenarios() -> list[ScenarioInfo]:
    """Every scenario, in the order the API lists them (the first is the default)."""
    return [ScenarioInfo(code, s.name, s.description, s.Params) for code, s in SCENARIOS.items()]


def scenario_get(code: str | None) -> ScenarioInfo | None:
    scenario = SCENARIOS.get(code or "")
    return ScenarioInfo(scenario.code, scenario.name, scenario.description, scenario.Params) if scenario else None


def whole_months_before(today: date, months: int = 3) -> tuple[date, date]:
    """The `months` whole months before the current one, end exclusive: a
    range every scenario (monthly retention periods included) accepts."""
    end = period_start(today, "month")
    start = end
    for _ in range(months):
        start = period_start(start - timedelta(days=1), "month")
    return start, end


def run_list(*, client_id: int) -> QuerySet[SimulationRun]:
    return SimulationRun.objects.filter(client_id=client_id).select_related("created_by").order_by("-created_at", "-id")


def run_get(*, client_id: int, run_id: int) -> SimulationRun:
    """A client's run; another client's answers 404 like a missing one."""
    run = run_list(client_id=client_id).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"No simulation run {run_id}.", details={"id": run_id})
    return run


def _table(table: str) -> sql.Identifier:
    return sql.Identifier(settings.ANALYTICS_SCHEMA, table)


def table_has_rows(*, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(_table(table)))
        return cursor.fetchone()[0]


def table_has_rows_between(*, table: str, column: str, data_type: str, first: date, after: date) -> bool:
    """Whether any row's `column` falls on the days [first, after)."""
    low, high = first, after
    if data_type == "timestamp":
        low, high = (datetime.combine(d, time(0), tzinfo=UTC) for d in (first, after))
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} >= %s AND {} < %s)").format(
        _table(table), sql.Identifier(column), sql.Identifier(column)
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [low, high])
        return cursor.fetchone()[0]


def table_column_values(*, table: str, column: str) -> set[str]:
    """The distinct values of a reference table's key column."""
    query = sql.SQL("SELECT DISTINCT {} FROM {} WHERE {} IS NOT NULL").format(
        sql.Identifier(column), _table(table), sql.Identifier(column)
    )
    with connection.cursor() as cursor:
        cursor.execute(query)
        return {str(row[0]) for row in cursor.fetchall()}
