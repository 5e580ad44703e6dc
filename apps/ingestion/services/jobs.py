"""Create, change and delete a client's ingestion jobs (API.md, "Sources and
ingestion"; docs/sources.md, "Ingestion jobs"). Every write checks the job
whole (connection, source, entity, mapping, incremental column, schedule)
and keeps its beat PeriodicTask in step in the same transaction. A draft
(`draft: true`) is checked the same but for its mapping, which may be empty
or incomplete (only a mapping that is not an object of the known sections is
refused); `draft: false` publishes it, with the full check."""

import re
from typing import Any

from django.db import IntegrityError, transaction

from apps.connectors.selectors.connections import connection_get
from apps.core.errors import AppError, Conflict, NotFound
from apps.ingestion.mapping.validation import MAPPING_KEY
from apps.ingestion.models import IngestionJob
from apps.ingestion.schedules import periodic_task_delete, periodic_task_sync, schedule_validate

# job_entity, job_mapper and source_columns are reads, kept importable from here (runner, runs, mapping)
from apps.ingestion.selectors.jobs import job_entity, job_mapper, job_model, job_view, mapping_problems, source_columns
from apps.ingestion.types import JobView

__all__ = ["job_create", "job_delete", "job_entity", "job_mapper", "job_update", "source_columns"]

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_BATCH_SIZE = 100_000


def _connection_id(client_id: int, code: Any) -> int:
    """The id of the client's connection `code` (a reference in a job's body:
    400 naming it when there is none)."""
    try:
        return connection_get(client_id=client_id, code=str(code)).id if code else None
    except NotFound:
        pass
    raise AppError(
        f"There is no connection {code!r}: create it under /api/v1/sources/connections/ first.",
        code="unknown_connection",
        details={"connection": code},
    )


def _apply(job: IngestionJob, fields: dict[str, Any]) -> None:
    if "name" in fields:
        job.name = fields["name"] or ""
    if "connection" in fields:
        job.connection_id = _connection_id(job.client_id, fields["connection"])
    if "object" in fields or "query" in fields:
        job.source_object = (fields.get("object") or "").strip()
        job.source_query = (fields.get("query") or "").strip()
    if "entity" in fields:
        job.entity_code = str(fields["entity"] or "")
    if "mapping" in fields:
        job.mapping = fields["mapping"] or {}
    if "transform" in fields:
        job.transform_code = fields["transform"] or ""
    if "schedule" in fields:
        job.schedule = (fields["schedule"] or "").strip()
    if "incremental" in fields:
        job.incremental_column = str((fields["incremental"] or {}).get("column") or "")
    if "batch_size" in fields:
        job.batch_size = fields["batch_size"]
    if "enabled" in fields:
        job.is_enabled = bool(fields["enabled"])
    if "draft" in fields:
        job.is_draft = bool(fields["draft"])


def _check(job: IngestionJob) -> None:
    if not CODE_PATTERN.match(job.code or ""):
        raise AppError(
            "A job's code is lower-case letters, digits and underscores, starting with a letter (at most 63).",
            code="invalid_code",
            details={"code": job.code},
        )
    if bool(job.source_object) == bool(job.source_query):
        raise AppError(
            "A job reads either an object (a table, view or endpoint) or a query: give exactly one of them.",
            code="invalid_source",
            details={"object": job.source_object, "query": bool(job.source_query)},
        )
    if job.transform_code:
        raise AppError(
            "Transforms are not available yet: leave `transform` empty.",
            code="transform_not_available",
            details={"transform": job.transform_code},
        )
    if not 1 <= int(job.batch_size) <= MAX_BATCH_SIZE:
        raise AppError(
            f"batch_size must be between 1 and {MAX_BATCH_SIZE}.",
            code="invalid_batch_size",
            details={"batch_size": job.batch_size},
        )
    if job.schedule:
        job.schedule = schedule_validate(job.schedule)
    entity = job_entity(job.client_id, job.entity_code)
    if job.is_draft:
        _draft_mapping_check(job, entity)
    else:
        job_mapper(job, entity)  # AppError 400 invalid_mapping, per attribute
    columns = source_columns(job)
    if job.incremental_column and columns is not None and job.incremental_column not in {c.name for c in columns}:
        raise AppError(
            f"The incremental column {job.incremental_column!r} is not a column of {job.source_object!r} "
            "(as last discovered).",
            code="unknown_incremental_column",
            details={"column": job.incremental_column, "columns": [c.name for c in columns]},
        )


def _draft_mapping_check(job: IngestionJob, entity) -> None:
    """A draft's mapping may leave attributes unmapped or wrong, not be
    something else than a mapping: 400 `invalid_mapping` for problems of the
    mapping as a whole (not an object, an unknown key, a section that is not
    an object)."""
    whole = {key: reason for key, reason in mapping_problems(job, entity).items() if key == MAPPING_KEY}
    if whole:
        raise AppError(
            f"The mapping is not a mapping, even for a draft: {whole[MAPPING_KEY]}",
            code="invalid_mapping",
            details=whole,
        )


def job_create(*, client_id: int, user, fields: dict[str, Any]) -> JobView:
    job = IngestionJob(client_id=client_id, code=str(fields.get("code") or ""), owner=user)
    if "connection" not in fields:
        raise AppError("A job needs a connection.", code="unknown_connection", details={"connection": None})
    _apply(job, fields)
    _check(job)
    try:
        with transaction.atomic():
            job.save()
            periodic_task_sync(job)
    except IntegrityError:
        raise Conflict(f"A job with code {job.code!r} exists already.", code="duplicate_code",
                       details={"code": job.code}) from None  # fmt: skip
    return job_view(job)


def job_update(*, client_id: int, code: str, fields: dict[str, Any], partial: bool) -> JobView:
    with transaction.atomic():
        job = job_model(client_id=client_id, code=code)
        job = IngestionJob.objects.select_for_update().select_related("connection").get(pk=job.pk)
        if not partial:
            defaults = {"name": "", "mapping": {}, "transform": "", "schedule": "", "incremental": None,
                        "batch_size": 10_000, "enabled": True, "draft": False}  # fmt: skip
            fields = {**defaults, **fields}
        fields = {key: value for key, value in fields.items() if key != "code"}
        changed_column = "incremental" in fields and str((fields["incremental"] or {}).get("column") or "") != (
            job.incremental_column
        )
        _apply(job, fields)
        _check(job)
        if changed_column:
            job.watermark = ""  # a watermark of another column means nothing
        job.save()
        periodic_task_sync(job)
    return job_view(job)


def job_delete(*, client_id: int, code: str) -> None:
    from apps.ingestion.services.runs import active_run_refuse

    with transaction.atomic():
        job = job_model(client_id=client_id, code=code)
        job = IngestionJob.objects.select_for_update().get(pk=job.pk)
        active_run_refuse(job, "delete it once the run has ended.")
        periodic_task_delete(job)
        job.delete()
