"""What the connectors app answers other apps and its API with."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.core.errors import AppError

# The ontology's attribute types (API.md): every source type is normalised to one.
ONTOLOGY_TYPES = ("string", "integer", "decimal", "boolean", "date", "timestamp", "json")


@dataclass(frozen=True)
class ConnectionView:
    id: int
    code: str
    name: str
    kind: str
    settings: dict[str, Any]
    credentials_set: bool
    owner: str
    last_test_ok: bool | None
    last_test_stage: str
    last_test_message: str
    last_tested_at: datetime | None
    last_discovered_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SourceColumn:
    name: str  # as the source spells it; nested REST/GraphQL fields as dotted paths ("customer.id")
    type: str  # one of ONTOLOGY_TYPES
    nullable: bool = True
    primary_key: bool = False
    source_type: str = ""  # the source's own spelling (VARCHAR(20), NUMERIC(12,2), ...)


@dataclass(frozen=True)
class SourceObject:
    name: str  # "schema.table" for SQL (schema omitted for the default one), an endpoint path, a file
    kind: str  # table, view, endpoint, query, file
    columns: tuple[SourceColumn, ...] = ()


@dataclass(frozen=True)
class TestOutcome:
    ok: bool
    stage: str  # dns, connect, tls, auth, permission, query (where it stopped; "query" when ok)
    message: str  # in words a user can act on; never a stack trace or a secret


@dataclass(frozen=True)
class Preview:
    columns: tuple[SourceColumn, ...]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class ExtractRequest:
    """What to read: an object or a SELECT; optionally only rows whose
    `watermark_column` is greater than `watermark_after` (source order by it);
    `limit` for dry runs and previews."""

    source_object: str = ""
    source_query: str = ""
    columns: tuple[str, ...] = ()  # empty: all
    watermark_column: str = ""
    watermark_after: Any = None
    batch_size: int = 10_000
    limit: int | None = None
    # {column: ontology type} as the last discovery saw them: a column of the
    # object retyped since fails the extraction as SchemaChanged (SQL sources).
    expected_types: dict[str, str] = field(default_factory=dict)
    # SQL sources: batches as RecordBatch (names + tuples, no dict per row) instead of lists of dicts.
    as_tuples: bool = False


@dataclass(frozen=True)
class RecordBatch:
    """A batch of records as a SQL source gives them: the field names, and one
    tuple per record in their order (an ingestion run reads them column by
    column; `records()` makes the dicts other batches are)."""

    fields: tuple[str, ...]
    rows: list[tuple]

    def records(self) -> list[dict[str, Any]]:
        fields = self.fields
        return [dict(zip(fields, row, strict=True)) for row in self.rows]

    def columns(self) -> dict[str, tuple]:
        """{field: its values}, in record order."""
        if not self.rows:
            return {name: () for name in self.fields}
        return dict(zip(self.fields, zip(*self.rows, strict=True), strict=True))


@dataclass
class Extraction:
    """Batches of records (lists of dicts keyed by source column, or
    RecordBatch when the request asks `as_tuples` of a SQL source) as they
    stream from the source, and the columns the source reported. Iterate `batches` once;
    close() releases the cursor or HTTP session if the consumer stops early."""

    columns: tuple[SourceColumn, ...]
    batches: Iterator["list[dict[str, Any]] | RecordBatch"]
    closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()


class SourceError(AppError):
    """A source failed in a way the user can act on (400 by default; the
    message names what failed, never a secret). `stage` says where, as a
    connection test would."""

    def __init__(
        self,
        message: str,
        *,
        stage: str = "query",
        code: str = "source_error",
        status_code: int = 400,
        details: dict | None = None,
    ) -> None:
        super().__init__(message, code=code, status_code=status_code, details={"stage": stage, **(details or {})})
        self.stage = stage


class SchemaChanged(SourceError):
    """The source no longer has a column a job reads, or its type changed
    since discovery; the run fails naming it, loading nothing."""
