"""The consistency checker: does `analytics_data` still match the ontology?

Compares each of a client's entities with its table (through
information_schema) and the ontology with itself (metrics and relationships
naming attributes that are gone). Differences are repaired only when the
repair cannot lose or reject stored data; everything else is reported for a
person to decide, and nothing is ever dropped.

| finding              | repair                                           |
|----------------------|--------------------------------------------------|
| missing_table        | create it (entity_ddl)                           |
| missing_column       | ADD COLUMN, nullable                             |
| type_mismatch        | ALTER TYPE when the stored type widens into the  |
|                      | defined one (WIDENINGS), else refused            |
| extra_column         | reported (dropping it would drop data)           |
| column_not_null      | DROP NOT NULL (the ontology allows nulls)        |
| column_nullable      | reported (SET NOT NULL fails on, or forbids,     |
|                      | rows without a value)                            |
| missing_index        | CREATE INDEX on a relationship key               |
| not_hypertable       | converted when the table is empty, else refused  |
| hypertable_mismatch  | refused (repartitioning rewrites the table)      |
| broken_*             | reported (ontology references to nothing)        |

Safe repairs run in one transaction, each in a savepoint so a repair the
database refuses (a lock timeout, say) is reported as `failed` without undoing
the others. A dry run (`repair=False`) renders the same SQL and runs none of it.
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from psycopg import sql

from apps.core.advisory_locks import advisory_xact_lock
from apps.core.errors import AppError
from apps.ontology.ddl import WIDENINGS, entity_ddl, relationship_key_columns
from apps.ontology.models import DriftReport, EntityDefinition
from apps.ontology.queries import entity_list, metric_list, relationship_list
from apps.warehouse.selectors import ColumnInfo, hypertable_get, index_names, table_columns, table_exists
from apps.warehouse.services import (
    COLUMN_TYPES,
    ColumnSpec,
    column_add_ddl,
    column_nullable_ddl,
    column_type_ddl,
    ddl_execute,
    ddl_render,
    index_name,
)

logger = logging.getLogger(__name__)

REPAIRED = "repaired"
WOULD_REPAIR = "would_repair"  # dry run: a safe repair, not applied
FAILED = "failed"  # a safe repair the database refused (its message is in the detail)
REFUSED = "refused"
REPORTED = "reported"

TRIGGERS = ("schedule", "api", "admin", "command")

# Repairs wait at most this long for a table lock instead of queueing behind
# (and in front of) long queries; a repair that times out is `failed` and
# retried by the next run.
LOCK_TIMEOUT = "5s"

# Postgres types we never create but that hold a platform type's values in
# less room (a hand-made table, an old migration): widening them to the
# platform's storage type keeps every value.
_NARROWER_STORAGE = {"smallint": "integer", "integer": "integer", "character varying": "string"}


@dataclass
class Finding:
    entity: str
    kind: str
    detail: str
    action: str
    column: str | None = None
    sql: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class PlannedFinding:
    """A finding and, when it has a safe repair (action `would_repair` until
    it runs), the statements that make it."""

    finding: Finding
    statements: list[sql.Composable] = field(default_factory=list)


def _stored_platform_type(column: ColumnInfo) -> str | None:
    return column.data_type or _NARROWER_STORAGE.get(column.pg_type)


def _row_count_is_zero(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(settings.ANALYTICS_SCHEMA, table))
        )
        return cursor.fetchone()[0]


class ConsistencyChecker:
    """Inspects one client's ontology and tables; `inspect()` changes nothing."""

    def __init__(self, *, client_id: int) -> None:
        self.client_id = client_id
        self.schema = settings.ANALYTICS_SCHEMA

    def inspect(self) -> list[PlannedFinding]:
        planned: list[PlannedFinding] = []
        for entity in entity_list(client_id=self.client_id):
            planned += self._entity_inspect(entity)
        planned += self._relationships_inspect()
        planned += self._metrics_inspect()
        return planned

    # --- one entity against its table -------------------------------------------------

    def _entity_inspect(self, entity: EntityDefinition) -> list[PlannedFinding]:
        attributes = list(entity.attributes.all())
        codes = {a.code for a in attributes}
        is_series = entity.kind == EntityDefinition.Kind.TIME_SERIES
        if is_series and entity.time_attribute not in codes:
            return [
                self._report(
                    entity,
                    "broken_time_attribute",
                    f"The time attribute {entity.time_attribute!r} is not one of the entity's attributes; "
                    "its table cannot be checked or created until the definition is fixed.",
                )
            ]
        if not table_exists(table=entity.table_name, schema=self.schema):
            return [self._missing_table(entity)]

        planned: list[PlannedFinding] = []
        columns = {c.name: c for c in table_columns(table=entity.table_name, schema=self.schema)}
        for attribute in attributes:
            column = columns.get(attribute.code)
            if column is None:
                planned += self._missing_column(entity, attribute.code, attribute.data_type, attribute.nullable)
                continue
            planned += self._column_type(entity, attribute.code, attribute.data_type, column)
            planned += self._column_nullability(entity, attribute.code, attribute.nullable, column)
        for name in [name for name in columns if name not in codes]:
            planned.append(
                self._report(
                    entity,
                    "extra_column",
                    f"Column {name!r} ({columns[name].pg_type}) is in the table but not in the ontology; "
                    "it is kept (dropping it would drop its data). Add it as an attribute, or drop it by hand.",
                    column=name,
                )
            )
        planned += self._hypertable(entity, is_series)
        planned += self._indexes(entity, codes)
        return planned

    def _missing_table(self, entity: EntityDefinition) -> PlannedFinding:
        detail = f"Table {self.schema}.{entity.table_name} does not exist."
        finding = Finding(entity.code, "missing_table", detail, WOULD_REPAIR)
        try:
            return PlannedFinding(finding, entity_ddl(entity))
        except AppError as exc:  # the definition itself cannot make a valid table
            finding.action = REFUSED
            finding.detail += f" It cannot be created from the definition: {exc.message}"
            return PlannedFinding(finding)

    def _missing_column(self, entity, code: str, data_type: str, nullable: bool) -> list[PlannedFinding]:
        table = entity.table_name
        statement = column_add_ddl(schema=self.schema, table=table, column=ColumnSpec(code, data_type))
        planned = [
            self._repairable(
                entity, "missing_column", f"Column {code!r} ({data_type}) is missing.", [statement], column=code
            )
        ]
        if not nullable:
            planned.append(
                self._report(
                    entity,
                    "column_nullable",
                    f"Column {code!r} comes back nullable although the ontology forbids nulls: existing rows "
                    "have no value for it. Fill it, then set NOT NULL by hand.",
                    column=code,
                )
            )
        return planned

    def _column_type(self, entity, code: str, data_type: str, column: ColumnInfo) -> list[PlannedFinding]:
        if column.data_type == data_type:
            return []
        stored = _stored_platform_type(column)
        wanted = COLUMN_TYPES.get(data_type, data_type)
        detail = f"Column {code!r} is stored as {column.pg_type}; the ontology says {data_type} ({wanted})."
        if stored == data_type or (stored, data_type) in WIDENINGS:
            statement = column_type_ddl(schema=self.schema, table=entity.table_name, column=code, data_type=data_type)
            return [self._repairable(entity, "type_mismatch", detail, [statement], column=code)]
        return [
            self._refuse(
                entity,
                "type_mismatch",
                detail + " Converting could lose or reject stored values; change the attribute's type, "
                "or convert the column by hand.",
                column=code,
            )
        ]

    def _column_nullability(self, entity, code: str, nullable: bool, column: ColumnInfo) -> list[PlannedFinding]:
        if nullable and not column.nullable:
            detail = f"Column {code!r} is NOT NULL but the ontology allows nulls."
            if code == entity.time_attribute:
                # TimescaleDB keeps the partitioning column NOT NULL.
                return [self._refuse(entity, "column_not_null", detail + " It partitions the hypertable.", code)]
            statement = column_nullable_ddl(schema=self.schema, table=entity.table_name, column=code, nullable=True)
            return [self._repairable(entity, "column_not_null", detail, [statement], column=code)]
        if not nullable and column.nullable:
            return [
                self._report(
                    entity,
                    "column_nullable",
                    f"Column {code!r} allows nulls but the ontology forbids them. Setting NOT NULL fails while "
                    "any row lacks a value; check the data, then set it by hand.",
                    column=code,
                )
            ]
        return []

    def _hypertable(self, entity: EntityDefinition, is_series: bool) -> list[PlannedFinding]:
        info = hypertable_get(table=entity.table_name, schema=self.schema)
        if is_series and info is None:
            detail = f"Table {entity.table_name} is a plain table, not a hypertable on {entity.time_attribute!r}."
            if not _row_count_is_zero(entity.table_name):
                return [
                    self._refuse(
                        entity,
                        "not_hypertable",
                        detail + " It holds rows: converting moves them all into chunks under an exclusive lock; "
                        "run create_hypertable(..., migrate_data => true) in a maintenance window.",
                    )
                ]
            # The hypertable statement of the entity's own DDL: one source for the chunk interval.
            ddl = entity_ddl(entity)
            statements = [s for s, text in zip(ddl, ddl_render(ddl), strict=True) if "create_hypertable(" in text]
            return [self._repairable(entity, "not_hypertable", detail + " It is empty.", statements)]
        if is_series and info.time_column != entity.time_attribute:
            return [
                self._refuse(
                    entity,
                    "hypertable_mismatch",
                    f"The hypertable is partitioned on {info.time_column!r}, the ontology's time attribute is "
                    f"{entity.time_attribute!r}; repartitioning rebuilds the table, do it by hand.",
                )
            ]
        if not is_series and info is not None:
            return [self._report(entity, "unexpected_hypertable", "A reference entity's table is a hypertable.")]
        return []

    def _indexes(self, entity: EntityDefinition, codes: set[str]) -> list[PlannedFinding]:
        existing = index_names(table=entity.table_name, schema=self.schema)
        planned = []
        for columns in relationship_key_columns(entity):
            name = index_name(entity.table_name, columns)
            # A key naming a missing attribute is a broken relationship, reported below.
            if name in existing or not set(columns) <= codes:
                continue
            statement = sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(name),
                sql.Identifier(self.schema, entity.table_name),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
            )
            detail = f"Index {name} on the relationship key ({', '.join(columns)}) is missing."
            column = columns[0] if len(columns) == 1 else None
            planned.append(self._repairable(entity, "missing_index", detail, [statement], column=column))
        return planned

    # --- the ontology against itself ----------------------------------------------------

    def _relationships_inspect(self) -> list[PlannedFinding]:
        planned = []
        for rel in relationship_list(client_id=self.client_id):
            for entity, attribute, side in (
                (rel.source_entity, rel.source_attribute, "source"),
                (rel.target_entity, rel.target_attribute, "target"),
            ):
                if entity.client_id != self.client_id:
                    problem = f"its {side} entity {entity.code!r} belongs to another client"
                elif not entity.attributes.filter(code=attribute).exists():
                    problem = f"its {side} attribute {entity.code}.{attribute} no longer exists"
                else:
                    continue
                planned.append(
                    self._report(
                        entity, "broken_relationship", f"Relationship {rel.code!r} is broken: {problem}.", attribute
                    )
                )
        return planned

    def _metrics_inspect(self) -> list[PlannedFinding]:
        attributes: dict[str, set[str]] = {
            e.code: {a.code for a in e.attributes.all()} for e in entity_list(client_id=self.client_id)
        }
        planned = []
        for metric in metric_list(client_id=self.client_id):
            owner = metric.entity.code if metric.entity else ""
            if metric.entity is not None and metric.entity.client_id != self.client_id:
                planned.append(
                    self._report(
                        metric.entity,
                        "broken_metric_reference",
                        f"Metric {metric.code!r} is defined on another client's entity {owner!r}.",
                    )
                )
            for reference in metric.depends_on_attributes:
                entity_code, _, attribute = str(reference).partition(".")
                if attribute in attributes.get(entity_code, ()):
                    continue
                what = "entity" if entity_code not in attributes else "attribute"
                planned.append(
                    PlannedFinding(
                        Finding(
                            entity_code or owner,
                            "broken_metric_reference",
                            f"Metric {metric.code!r} depends on {reference!r}, whose {what} no longer exists; "
                            "its formula cannot be calculated until it is changed.",
                            REPORTED,
                            column=attribute or None,
                        )
                    )
                )
            for dependency in metric.depends_on_metrics.all():
                if dependency.client_id != self.client_id:
                    planned.append(
                        PlannedFinding(
                            Finding(
                                owner,
                                "broken_metric_reference",
                                f"Metric {metric.code!r} depends on metric {dependency.code!r} of another client.",
                                REPORTED,
                            )
                        )
                    )
        return planned

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _repairable(entity, kind: str, detail: str, statements: list, column: str | None = None) -> PlannedFinding:
        return PlannedFinding(Finding(entity.code, kind, detail, WOULD_REPAIR, column=column), statements)

    @staticmethod
    def _report(entity, kind: str, detail: str, column: str | None = None) -> PlannedFinding:
        return PlannedFinding(Finding(entity.code, kind, detail, REPORTED, column=column))

    @staticmethod
    def _refuse(entity, kind: str, detail: str, column: str | None = None) -> PlannedFinding:
        return PlannedFinding(Finding(entity.code, kind, detail, REFUSED, column=column))


def _status(findings: list[Finding]) -> str:
    if not findings:
        return DriftReport.Status.CONSISTENT
    if all(f.action == REPAIRED for f in findings):
        return DriftReport.Status.REPAIRED
    return DriftReport.Status.NEEDS_ATTENTION


def _repair(planned: PlannedFinding) -> None:
    finding = planned.finding
    try:
        ddl_execute(planned.statements)  # atomic: a savepoint inside the run's transaction
    except DatabaseError as exc:
        finding.action = FAILED
        finding.detail += f" The repair failed: {str(exc).strip()}"
        logger.warning("drift repair failed", extra={"entity": finding.entity, "kind": finding.kind})
    else:
        finding.action = REPAIRED


def schema_drift_check(*, client_id: int, repair: bool = True, triggered_by: str = "schedule") -> DriftReport:
    """Check one client's ontology against `analytics_data`, apply the safe
    repairs (unless `repair` is False: a dry run), and record the report."""
    if triggered_by not in TRIGGERS:
        raise AppError(
            f"Unknown trigger {triggered_by!r}; use one of {', '.join(TRIGGERS)}.",
            code="invalid_trigger",
            details={"triggered_by": triggered_by},
        )
    with transaction.atomic():
        # One run per client at a time: a second waits, then sees the repaired schema.
        advisory_xact_lock(f"ontology.drift:{client_id}")
        # Hold the entity rows (waiting for edits in flight): an entity deleted or
        # changed while we look would otherwise be "repaired" from a stale read.
        list(EntityDefinition.objects.filter(client_id=client_id).select_for_update().values_list("pk", flat=True))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT]
            )
            caller_lock_timeout = cursor.fetchone()[0]
        planned = ConsistencyChecker(client_id=client_id).inspect()
        for item in planned:
            if not item.statements:
                continue
            item.finding.sql = ddl_render(item.statements)
            if repair:
                _repair(item)
        findings = [item.finding for item in planned]
        report = DriftReport.objects.create(
            client_id=client_id,
            status=_status(findings),
            findings=[f.as_dict() for f in findings],
            triggered_by=triggered_by,
        )
        with connection.cursor() as cursor:
            # SET LOCAL outlives this block when a caller's transaction encloses it: give theirs back.
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [caller_lock_timeout])
    logger.info(
        "schema drift checked",
        extra={"client_id": client_id, "status": report.status, "findings": len(findings), "repair": repair},
    )
    return report


@transaction.atomic
def drift_reports_prune(*, older_than_days: int) -> int:
    """Delete reports older than the given age; the hourly sweep calls it so
    reports do not pile up. Returns how many were deleted."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = DriftReport.objects.filter(created_at__lt=cutoff).delete()
    return deleted
