"""Load an entity's rows: validate them against its attributes, store the
valid ones with one COPY in one transaction, report the invalid ones, and
publish `ingestion.completed` (docs/loading-data.md).

Validation and COPY are pipelined: the rows are validated while the server is
already storing the earlier ones, so a load costs little more than the COPY
alone (bench/ingest.py). Whatever goes wrong part way (a database error, too
many rows) rolls the whole transaction back: nothing is half-written."""

import csv
import gc
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from django.conf import settings
from django.db import transaction

from apps.core.errors import AppError, Conflict
from apps.ontology.models import EntityDefinition
from apps.ontology.publishers import ingestion_completed_publish
from apps.ontology.queries import definition_model
from apps.ontology.row_validation import (
    DEFAULT_OPTIONS,
    LoadOptions,
    RowValidator,
    ValidationRun,
    json_constant_reject,
    too_many_rows,
)
from apps.ontology.types.definitions import EntityView
from apps.ontology.types.loads import ColumnBatch
from apps.warehouse.selectors import table_columns
from apps.warehouse.services.copy import copy_types, rows_copy


@dataclass(frozen=True)
class LoadResult:
    inserted: int
    # `{"row": i, "errors": {attribute: reason}}` for the first
    # AE_MAX_REPORTED_REJECTIONS rejected rows; `rejected_count` counts them all.
    rejected: list[dict[str, Any]] = field(default_factory=list)
    time_min: datetime | None = None
    time_max: datetime | None = None
    rejected_count: int = 0


@dataclass(frozen=True)
class RowCheck:
    """One row of a dry run: `stored` (the values as stored, JSON-ready) when
    valid, else None and `errors` ({attribute: reason})."""

    row: int
    stored: dict[str, Any] | None
    errors: dict[str, str] = field(default_factory=dict)


def max_load_rows() -> int:
    return settings.AE_MAX_LOAD_ROWS


def _max_reported() -> int:
    return settings.AE_MAX_REPORTED_REJECTIONS


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a load. A load allocates
    objects per row while up to a million parsed rows are alive, and every
    full collection walks them all: measured at 30-40% of the validation time
    (docs/benchmarks.md). Reference counting still frees everything at once;
    loads create no reference cycles for the collector to find later."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return str(value).lower().replace("none", "null")
    return "a number"


def json_rows_parse(body: bytes) -> list[dict[str, Any]]:
    """The rows of a JSON load body: UTF-8, an array of objects. JSON numbers
    with a fraction or exponent become `Decimal`, keeping every digit sent
    (decimal attributes store them exactly). Bad input is an AppError (400)
    saying what and where."""
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise AppError(
            f"The body is not UTF-8 text (byte {exc.start}: {exc.reason}).",
            code="invalid_encoding",
            details={"byte": exc.start},
        ) from None
    if not text.strip():
        raise AppError("The body is empty: send a JSON array of objects.", code="empty_body")
    try:
        with gc_paused():
            rows = json.loads(text, parse_float=Decimal, parse_constant=json_constant_reject)
    except json.JSONDecodeError as exc:
        raise AppError(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            code="malformed_json",
            details={"line": exc.lineno, "column": exc.colno},
        ) from None
    except (ValueError, RecursionError) as exc:
        raise AppError(f"The body is not valid JSON: {exc}.", code="malformed_json") from None
    if not isinstance(rows, list):
        raise AppError(f"Expected a JSON array of objects, got {_json_kind(rows)}.", code="expected_array")
    bad = [index for index, row in enumerate(rows) if type(row) is not dict]
    if bad:
        raise AppError(
            f"Every element must be an object (attribute: value); {len(bad)} are not, first at index {bad[0]}.",
            code="expected_objects",
            details={"indexes": bad[:20]},
        )
    return rows


def entity_rows_load(
    *,
    entity: EntityDefinition | EntityView,
    rows: Sequence[Mapping[str, Any]],
    source: str = "api",
    user=None,
    options: LoadOptions = DEFAULT_OPTIONS,
) -> LoadResult:
    """Load rows given as objects (attribute code -> JSON value). `options`
    reads strings in other date/timestamp forms and renames keys; its CSV
    settings (delimiter, decimal) do not apply. `entity` may be what
    apps.ontology.selectors returned."""
    entity = definition_model(entity)
    limit = max_load_rows()
    if len(rows) > limit:
        raise too_many_rows(limit, len(rows))
    run = RowValidator.for_entity(entity, options).json_rows(rows, max_reported=_max_reported())
    return _run_load(entity=entity, run=run, source=source, user=user)


def entity_batches_stream_load(
    *,
    entity: EntityDefinition | EntityView,
    batches: Iterable[ColumnBatch | Sequence[Mapping[str, Any]]],
    source: str = "ingestion",
    user=None,
) -> LoadResult:
    """Load rows that stream in batches (an ingestion job's mapped records):
    the same validator, table check, single COPY and `ingestion.completed`
    event as `entity_rows_load`, without its AE_MAX_LOAD_ROWS cap and without
    ever holding more than a batch: each is validated and sent as the
    iterable yields it, so memory stays flat whatever the source's size. A
    batch is a list of row objects or a `ColumnBatch` (checked column by
    column; apps/ontology/types/loads.py). Call it inside the caller's
    transaction to commit more (a job's watermark) with the rows."""
    entity = definition_model(entity)
    run = RowValidator.for_entity(entity, DEFAULT_OPTIONS).batches(batches, max_reported=_max_reported())
    return _run_load(entity=entity, run=run, source=source, user=user)


def entity_rows_check(*, entity: EntityDefinition | EntityView, rows: Sequence[Mapping[str, Any]]) -> list[RowCheck]:
    """Validate rows with the entity's real validator and store nothing (a
    dry run): per row, the values as they would be stored or the errors."""
    entity = definition_model(entity)
    run = RowValidator.for_entity(entity, DEFAULT_OPTIONS).json_rows(rows, max_reported=len(rows) + 1)
    accepted = iter([dict(zip(run.columns, values, strict=True)) for values in run])
    rejected = {entry["row"]: entry["errors"] for entry in run.rejected}
    return [
        RowCheck(row=index, stored=None, errors=rejected[index])
        if index in rejected
        else RowCheck(row=index, stored=_json_ready(next(accepted)))
        for index in range(len(rows))
    ]


def _json_ready(values: dict[str, Any]) -> dict[str, Any]:
    ready = {}
    for key, value in values.items():
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, Decimal | uuid.UUID):
            value = str(value)
        ready[key] = value
    return ready


def entity_csv_load(
    *,
    entity: EntityDefinition,
    stream: Iterable[str],
    source: str = "csv",
    user=None,
    options: LoadOptions = DEFAULT_OPTIONS,
) -> LoadResult:
    """Load CSV text (an iterable of lines, e.g. a text file): a header row
    naming attributes (or renamed to them by `options.rename`), then one row
    per record; an empty cell is NULL. The header is checked before anything
    is written (AppError 400 naming the unknown, duplicate or missing
    required columns). `options` gives the delimiter, the decimal mark and
    the date/timestamp forms."""
    validator = RowValidator.for_entity(entity, options)  # refuses a map onto unknown attributes first
    reader = csv.reader(stream, delimiter=options.delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise AppError(f"The CSV header could not be read: {exc}.", code="malformed_csv") from None
    if not header:
        raise AppError("The CSV is empty: its first line must name the columns.", code="empty_csv")
    columns = validator.csv_columns(header)
    run = validator.csv_rows(reader, columns, max_rows=max_load_rows(), max_reported=_max_reported())
    return _run_load(entity=entity, run=run, source=source, user=user)


def _table_check(entity: EntityDefinition, run: ValidationRun) -> None:
    """Refuse (409) when the table no longer matches the entity, before COPY
    would fail on it half way."""
    stored = {column.name: column for column in table_columns(table=entity.table_name)}
    if not stored:
        raise Conflict(
            f"The table of entity {entity.code!r} is missing; run the drift check to repair it.",
            code="schema_drift",
            details={"table": entity.table_name},
        )
    differing = [
        column
        for column, data_type in zip(run.columns, run.data_types, strict=True)
        if column not in stored or stored[column].data_type != data_type
    ]
    if differing:
        raise Conflict(
            f"The table of entity {entity.code!r} does not match its attributes ({', '.join(differing)}); "
            "run the drift check to repair it.",
            code="schema_drift",
            details={"columns": differing},
        )


def _run_load(*, entity: EntityDefinition, run: ValidationRun, source: str, user) -> LoadResult:
    _table_check(entity, run)
    try:
        with gc_paused(), transaction.atomic():
            inserted = rows_copy(
                table=entity.table_name, columns=run.columns, rows=run, types=copy_types(run.data_types)
            )
            if inserted:
                ingestion_completed_publish(
                    entity=entity,
                    inserted=inserted,
                    rejected=run.rejected_count,
                    time_min=run.time_min,
                    time_max=run.time_max,
                    source=source,
                    user=user,
                )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(
            f"Rows clash with stored ones: {exc.diag.message_primary}.",
            code="duplicate_rows",
            details={"detail": exc.diag.message_detail or "", "where": exc.diag.context or ""},
        ) from None
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        raise AppError(
            f"The rows could not be stored, nothing was: {exc.diag.message_primary}.",
            code="rows_not_stored",
            details={"detail": exc.diag.message_detail or "", "where": exc.diag.context or ""},
        ) from None
    return LoadResult(
        inserted=inserted,
        rejected=run.rejected,
        time_min=run.time_min if inserted else None,
        time_max=run.time_max if inserted else None,
        rejected_count=run.rejected_count,
    )
