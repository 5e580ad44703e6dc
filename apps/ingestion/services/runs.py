"""Run a job now, on its schedule, or dry (docs/sources.md, "Runs and run
history", "Dry run"). A job never runs twice at once: a request while a run
is queued or running answers 409 `job_running` naming it; the runner holds
the job's advisory lock for the whole run (apps/ingestion/runner.py)."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.connectors.types import ExtractRequest
from apps.core.advisory_locks import advisory_lock_try
from apps.core.errors import AppError, Conflict
from apps.ingestion.models import IngestionJob, IngestionRun
from apps.ingestion.runner import WORKER_LOST, _extraction, columns_read, job_lock_key, run_fail
from apps.ingestion.selectors.jobs import job_model, mapping_problems, run_view
from apps.ingestion.services.jobs import job_entity, job_mapper
from apps.ingestion.types import DryRun, DryRunRow, RunView
from apps.ontology.services.data_load import entity_rows_check

ACTIVE = (IngestionRun.Status.QUEUED, IngestionRun.Status.RUNNING)


def _worker_alive(job: IngestionJob) -> bool:
    """Whether a runner holds the job's lock now (the lock is taken and let
    go at once when it is free)."""
    with advisory_lock_try(job_lock_key(job.pk)) as acquired:
        return not acquired


def lost_runs_fail(job: IngestionJob) -> int:
    """Mark failed the job's runs left `running` by a worker that died (the
    lock is free: its session ended). Returns how many."""
    lost = list(IngestionRun.objects.filter(job=job, status=IngestionRun.Status.RUNNING))
    if not lost or _worker_alive(job):
        return 0
    for run in lost:
        run_fail(run, WORKER_LOST[0].upper() + WORKER_LOST[1:] + ".")
    return len(lost)


def runs_sweep() -> int:
    """Every job with a run left running by a dead worker (the beat sweep)."""
    jobs = IngestionJob.objects.filter(runs__status=IngestionRun.Status.RUNNING).distinct()
    return sum(lost_runs_fail(job) for job in jobs)


def run_create(*, job: IngestionJob, user, trigger: str) -> IngestionRun:
    """A queued run of the job; Conflict 409 `job_draft` for a draft (the
    beat's scheduled run too), `job_running` while another is queued or
    running. The caller enqueues it."""
    with transaction.atomic():
        locked = IngestionJob.objects.select_for_update().filter(pk=job.pk).first()
        draft_refuse(locked or job)
        active_run_refuse(job, "a job never runs twice at once.")
        return IngestionRun.objects.create(
            client_id=job.client_id,
            job=job,
            trigger=trigger,
            requested_by=user if getattr(user, "pk", None) else None,
            watermark_before=job.watermark,
        )


def draft_refuse(job: IngestionJob) -> None:
    """Conflict 409 `job_draft` when the job is a draft, naming what its
    mapping still lacks."""
    if not job.is_draft:
        return
    problems = mapping_problems(job)
    if problems:
        reason = f"its mapping is incomplete ({', '.join(problems)}); finish it"
    else:
        reason = "its mapping is complete but not published yet; publish it"
    raise Conflict(
        f"Job {job.code!r} is a draft: {reason} on the Data Mapper page or PATCH draft=false.",
        code="job_draft",
        details={"job": job.code, "mapping_problems": problems},
    )


def _enqueue(client_id: int, code: str, run_id: int) -> None:
    """Queue the run's task; a run that cannot be queued (the broker away)
    is marked failed at once, so it never holds its job as `queued`."""
    from apps.ingestion.tasks import run_job_task

    try:
        run_job_task.delay(client_id, code, run_id)
    except Exception as exc:
        run = IngestionRun.objects.filter(pk=run_id, status=IngestionRun.Status.QUEUED).first()
        if run is not None:
            run_fail(run, f"The run could not be queued ({type(exc).__name__}); nothing was loaded. Try again.")
        raise


def active_run_refuse(job: IngestionJob, doing: str) -> None:
    """Conflict 409 `job_running` while one of the job's runs is queued or
    running (runs of a dead worker are failed first)."""
    lost_runs_fail(job)
    active = IngestionRun.objects.filter(job=job, status__in=ACTIVE).order_by("-created_at").first()
    if active is not None:
        raise Conflict(
            f"Job {job.code!r} is running (run {active.pk}, {active.status}); {doing}",
            code="job_running",
            details={"run": active.pk, "status": active.status},
        )


def job_run_request(*, client_id: int, code: str, user, trigger: str = IngestionRun.Trigger.MANUAL) -> RunView:
    """Queue a run of the job; the worker starts it once this commits."""
    with transaction.atomic():
        job = job_model(client_id=client_id, code=code)
        run = run_create(job=job, user=user, trigger=trigger)
        transaction.on_commit(lambda: _enqueue(client_id, job.code, run.pk))
    return run_view(run, job_code=job.code)


def job_dry_run(*, client_id: int, code: str, limit: int = 100, user=None, mapping: dict | None = None) -> DryRun:
    """Read the job's first `limit` source records, map and validate them
    with the entity's real validator, and write nothing but a `dry_run` run
    with its counts (no rows, no watermark, no event). `mapping` tries a
    mapping not saved yet (the Data Mapper page's) instead of the job's."""
    high = settings.SOURCES_PREVIEW_MAX_ROWS
    if not isinstance(limit, int) or not 1 <= limit <= high:
        raise AppError(f"dry_run takes a number of rows from 1 to {high}.", code="invalid_limit",
                       details={"limit": limit, "max": high})  # fmt: skip
    job = job_model(client_id=client_id, code=code)
    if mapping is not None:
        job.mapping = mapping  # this dry run only: never saved from here
    entity = job_entity(client_id, job.entity_code)
    mapper = job_mapper(job, entity)
    request = ExtractRequest(
        source_object=job.source_object,
        source_query=job.source_query,
        columns=columns_read(job),
        watermark_column=job.incremental_column,
        batch_size=limit,
        limit=limit,
    )
    started = timezone.now()
    extraction = _extraction(job, request)
    try:
        records = [record for batch in extraction.batches for record in batch][:limit]
    finally:
        extraction.close()
    mapped = [mapper.apply(record) for record in records]
    mappable = [(index, m.values) for index, m in enumerate(mapped) if m.values is not None and not m.errors]
    checks = entity_rows_check(entity=entity, rows=[values for _, values in mappable])
    by_index = {index: check for (index, _), check in zip(mappable, checks, strict=True)}
    rows = []
    for index, record in enumerate(records):
        check = by_index.get(index)
        if check is None:
            errors = dict(mapped[index].errors) or {"": "the record could not be mapped"}
            rows.append(DryRunRow(row=index, status="rejected", source=_jsonable(record), stored=None, errors=errors))
        elif check.stored is None:
            rows.append(DryRunRow(row=index, status="rejected", source=_jsonable(record), stored=None,
                                  errors=check.errors))  # fmt: skip
        else:
            rows.append(DryRunRow(row=index, status="valid", source=_jsonable(record), stored=check.stored))
    valid = sum(1 for row in rows if row.status == "valid")
    IngestionRun.objects.create(
        client_id=client_id, job=job, trigger=IngestionRun.Trigger.DRY_RUN, status=IngestionRun.Status.SUCCEEDED,
        started_at=started, finished_at=timezone.now(), rows_read=len(rows), rows_written=0,
        rows_rejected=len(rows) - valid, watermark_before=job.watermark, watermark_after=job.watermark,
        requested_by=user if getattr(user, "pk", None) else None,
    )  # fmt: skip
    return DryRun(job=job.code, rows_read=len(rows), rows_valid=valid, rows_rejected=len(rows) - valid, rows=rows)


def _jsonable(record: dict) -> dict:
    from apps.ingestion.runner import watermark_text

    return {
        str(key): value if value is None or isinstance(value, str | int | float | bool) else watermark_text(value)
        for key, value in record.items()
    }
