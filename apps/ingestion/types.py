"""What the ingestion app answers other apps and its API with."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class MappingIssue:
    attribute: str  # the attribute it concerns; "_mapping" for the mapping as a whole
    code: str  # unknown_attribute, invalid_field, expression_not_supported, required_unmapped, ...
    message: str


@dataclass
class MappingReport:
    """A mapping checked against its entity (and a sample of source records):
    what the Data Mapper page shows while the mapping is edited."""

    ok: bool
    errors: list[MappingIssue] = field(default_factory=list)
    warnings: list[MappingIssue] = field(default_factory=list)
    # enum attributes: distinct source values (normalised) neither in the value map nor allowed
    unmapped_values: dict[str, list[str]] = field(default_factory=dict)
    # per mapped attribute over the sample: {"mapped": n, "rejected": n}
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class ScheduleView:
    text: str  # in words: "At 02:00"
    next_runs: tuple[datetime, ...]  # the next five, UTC


@dataclass(frozen=True)
class RunView:
    id: int
    job: str  # the job's code
    status: str  # queued, running, succeeded, failed
    trigger: str  # schedule, manual, dry_run
    started_at: datetime | None
    finished_at: datetime | None
    rows_read: int
    rows_written: int
    rows_rejected: int
    watermark_before: str
    watermark_after: str
    error: str
    rejections: list[dict[str, Any]]
    requested_by: str
    created_at: datetime


@dataclass(frozen=True)
class JobView:
    id: int
    code: str
    name: str
    connection: str
    object: str
    query: str
    entity: str
    mapping: dict[str, Any]
    transform: str
    schedule: str
    schedule_text: str
    next_runs: tuple[datetime, ...]
    incremental: dict[str, str] | None  # {"column": ...} or None for a full load
    watermark: str
    batch_size: int
    enabled: bool
    owner: str
    last_run: RunView | None
    created_at: datetime
    updated_at: datetime
    draft: bool = False  # saved with its mapping incomplete: never runs until published
    # a draft's mapping problems by attribute ("_mapping": the whole mapping); {} for a published job
    mapping_problems: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DryRunRow:
    row: int
    status: str  # valid, rejected
    source: dict[str, Any]
    stored: dict[str, Any] | None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DryRun:
    job: str
    rows_read: int
    rows_valid: int
    rows_rejected: int
    rows: list[DryRunRow]


@dataclass(frozen=True)
class MappingCheck:
    """What the Data Mapper page needs to draw a job's mapping as edited:
    the source fields (the last discovery, else a preview's columns), the
    target entity, and the mapping validated over a sample of source rows.
    `sample_error` says why no sample could be read (the report then has no
    coverage nor unmapped values)."""

    job: JobView
    entity: Any  # apps.ontology.types.definitions.EntityView
    source_columns: tuple[Any, ...]  # apps.connectors.types.SourceColumn
    columns_discovered: bool
    report: MappingReport
    sample_size: int
    sample_error: str = ""
