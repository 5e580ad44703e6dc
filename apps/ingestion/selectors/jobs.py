"""A client's ingestion jobs and their runs, as the API shows them."""

from collections.abc import Sequence
from typing import Any

from apps.connectors.selectors.connections import connection_objects
from apps.connectors.types import SourceColumn
from apps.core.errors import AppError, NotFound
from apps.ingestion.mapping import Mapper
from apps.ingestion.models import IngestionJob, IngestionRun
from apps.ingestion.schedules import schedule_describe, schedule_validate
from apps.ingestion.types import JobView, RunView, ScheduleView
from apps.ontology import selectors as ontology

__all__ = [
    "MAPPING_ERRORS",
    "job_entity",
    "job_get",
    "job_mapper",
    "job_runs",
    "jobs_list",
    "mapping_problems",
    "run_get",
    "schedule_check",
    "schedule_describe",
    "source_columns",
]
MAPPING_ERRORS = ("invalid_mapping", "expression_not_supported")  # Mapper.build's refusals


def job_entity(client_id: int, code: Any):
    found = ontology.entities(client_id=client_id, codes=[str(code)]) if code else []
    if not found:
        raise AppError(f"There is no entity {code!r} to load into.", code="unknown_entity", details={"entity": code})
    return found[0]


def source_columns(job: IngestionJob) -> list[SourceColumn] | None:
    """The job's source columns as the connection's last discovery saw them;
    None when unknown (never discovered, or a query)."""
    if not job.source_object:
        return None
    objects = connection_objects(client_id=job.client_id, code=job.connection.code)
    found = next((o for o in objects if o.name == job.source_object), None)
    if found is None or not found.columns:
        return None
    return list(found.columns)


def job_mapper(job: IngestionJob, entity=None) -> Mapper:
    entity = entity or job_entity(job.client_id, job.entity_code)
    return Mapper.build(entity=entity, mapping=job.mapping or {}, source_columns=source_columns(job))


def mapping_problems(job: IngestionJob, entity=None) -> dict[str, str]:
    """What keeps the job's mapping from running, by attribute ("_mapping"
    for the mapping as a whole, "entity" when the entity is gone); {} when
    it is complete and valid."""
    try:
        job_mapper(job, entity)
    except AppError as exc:
        if exc.code in MAPPING_ERRORS:
            return {str(key): str(value) for key, value in (exc.details or {}).items()}
        return {"entity": exc.message}
    return {}


def _person(user) -> str:
    if user is None:
        return ""
    return getattr(user, "email", "") or user.get_username()


def run_view(run: IngestionRun, *, job_code: str | None = None) -> RunView:
    return RunView(
        id=run.pk,
        job=job_code or run.job.code,
        status=run.status,
        trigger=run.trigger,
        started_at=run.started_at,
        finished_at=run.finished_at,
        rows_read=run.rows_read,
        rows_written=run.rows_written,
        rows_rejected=run.rows_rejected,
        watermark_before=run.watermark_before,
        watermark_after=run.watermark_after,
        error=run.error,
        rejections=list(run.rejections or []),
        requested_by=_person(run.requested_by),
        created_at=run.created_at,
    )


def job_view(job: IngestionJob, *, last_run: IngestionRun | None = None) -> JobView:
    schedule = schedule_describe(job.schedule) if job.schedule else None
    if last_run is None:
        last_run = job.runs.exclude(trigger=IngestionRun.Trigger.DRY_RUN).order_by("-created_at", "-id").first()
    return JobView(
        id=job.pk,
        code=job.code,
        name=job.name,
        connection=job.connection.code,
        object=job.source_object,
        query=job.source_query,
        entity=job.entity_code,
        mapping=job.mapping or {},
        transform=job.transform_code,
        schedule=job.schedule,
        schedule_text=schedule.text if schedule else "",
        next_runs=schedule.next_runs if schedule else (),
        incremental={"column": job.incremental_column} if job.incremental_column else None,
        watermark=job.watermark,
        batch_size=job.batch_size,
        enabled=job.is_enabled,
        draft=job.is_draft,
        mapping_problems=mapping_problems(job) if job.is_draft else {},
        owner=_person(job.owner),
        last_run=run_view(last_run, job_code=job.code) if last_run else None,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


def job_model(*, client_id: int, code: str) -> IngestionJob:
    job = IngestionJob.objects.filter(client_id=client_id, code=code).select_related("connection", "owner").first()
    if job is None:
        raise NotFound(f"No ingestion job with code {code!r}.", details={"code": code})
    return job


def jobs_list(*, client_id: int) -> list[JobView]:
    jobs = IngestionJob.objects.filter(client_id=client_id).select_related("connection", "owner").order_by("code")
    return [job_view(job) for job in jobs]


def job_get(*, client_id: int, code: str) -> JobView:
    return job_view(job_model(client_id=client_id, code=code))


class RunPage(Sequence):
    """A job's runs, newest first, read a page at a time (for the paginator)."""

    def __init__(self, queryset, job_code: str) -> None:
        self._queryset, self._job_code = queryset, job_code

    def __len__(self) -> int:
        return self._queryset.count()

    def count(self) -> int:  # Django's Paginator prefers it to len()
        return len(self)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [run_view(r, job_code=self._job_code) for r in self._queryset[index]]
        return run_view(self._queryset[index], job_code=self._job_code)


def job_runs(*, client_id: int, code: str) -> RunPage:
    job = job_model(client_id=client_id, code=code)
    runs = IngestionRun.objects.filter(client_id=client_id, job=job).select_related("requested_by")
    return RunPage(runs.order_by("-created_at", "-id"), job.code)


def run_get(*, client_id: int, code: str, run_id: int) -> RunView:
    job = job_model(client_id=client_id, code=code)
    run = IngestionRun.objects.filter(client_id=client_id, job=job, pk=run_id).select_related("requested_by").first()
    if run is None:
        raise NotFound(f"Job {code!r} has no run {run_id}.", details={"job": code, "run": run_id})
    return run_view(run, job_code=job.code)


def schedule_check(cron: str) -> ScheduleView:
    """A cron expression checked and told in words with its next five runs
    (the job form's live check); AppError 400 `invalid_schedule` naming the
    field that does not parse."""
    return schedule_describe(schedule_validate(cron))
