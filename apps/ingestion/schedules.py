"""Cron schedules of jobs (UTC, five fields): parsed with croniter, told in
words with cron-descriptor, and kept as a django-celery-beat PeriodicTask
(`ingestion.run_job`) in step with the job (docs/sources.md, "Schedules")."""

import json
from datetime import UTC, datetime

from cron_descriptor import ExpressionDescriptor, Options
from croniter import croniter
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.core.errors import AppError
from apps.ingestion.types import ScheduleView

FIELDS = ("minute", "hour", "day of month", "month", "day of week")
RUN_TASK = "ingestion.run_job"


def schedule_validate(cron: str) -> str:
    """The expression, normalised to single spaces; AppError 400
    `invalid_schedule` naming the field that does not parse."""
    parts = cron.split()
    if len(parts) != len(FIELDS):
        raise AppError(
            f"A schedule is a cron expression of 5 fields (minute hour day-of-month month day-of-week), "
            f"e.g. '0 2 * * *'; {cron!r} has {len(parts)}.",
            code="invalid_schedule",
            details={"schedule": cron},
        )
    for index, (name, part) in enumerate(zip(FIELDS, parts, strict=True)):
        probe = ["*"] * len(FIELDS)
        probe[index] = part
        if not croniter.is_valid(" ".join(probe)):
            raise AppError(
                f"The schedule's {name} field {part!r} does not parse (UTC cron, e.g. '0 2 * * *').",
                code="invalid_schedule",
                details={"schedule": cron, "field": name, "value": part},
            )
    normalised = " ".join(parts)
    if not croniter.is_valid(normalised):
        raise AppError(f"The schedule {cron!r} does not parse.", code="invalid_schedule", details={"schedule": cron})
    return normalised


def schedule_describe(cron: str, *, now: datetime | None = None, count: int = 5) -> ScheduleView:
    options = Options()
    options.use_24hour_time_format = True
    text = ExpressionDescriptor(cron, options).get_description() + " (UTC)"
    moments = croniter(cron, now or datetime.now(UTC))
    return ScheduleView(text=text, next_runs=tuple(moments.get_next(datetime) for _ in range(count)))


def periodic_task_name(client_id: int, code: str) -> str:
    return f"ingestion:{client_id}:{code}"


def periodic_task_sync(job) -> None:
    """Create, change, pause or delete the job's PeriodicTask to match it
    (disabled while the job is disabled or a draft). Call inside the job's
    write transaction."""
    name = periodic_task_name(job.client_id, job.code)
    if not job.schedule:
        PeriodicTask.objects.filter(name=name).delete()
        if job.periodic_task_id is not None:
            PeriodicTask.objects.filter(pk=job.periodic_task_id).delete()
            job.periodic_task = None
            job.save(update_fields=["periodic_task", "updated_at"])
        return
    minute, hour, day_of_month, month, day_of_week = job.schedule.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week,
        timezone="UTC",
    )  # fmt: skip
    task = job.periodic_task or PeriodicTask.objects.filter(name=name).first()
    fields = {
        "name": name,
        "task": RUN_TASK,
        "crontab": crontab,
        "interval": None,
        "kwargs": json.dumps({"client_id": job.client_id, "code": job.code}),
        "enabled": job.is_enabled and not job.is_draft,  # a draft never runs
        "description": f"Ingestion job {job.code} of client {job.client_id} (apps.ingestion)",
    }
    if task is None:
        task = PeriodicTask.objects.create(**fields)
    else:
        for key, value in fields.items():
            setattr(task, key, value)
        task.save()
    if job.periodic_task_id != task.pk:
        job.periodic_task = task
        job.save(update_fields=["periodic_task", "updated_at"])


def periodic_task_delete(job) -> None:
    PeriodicTask.objects.filter(name=periodic_task_name(job.client_id, job.code)).delete()
    if job.periodic_task_id is not None:
        PeriodicTask.objects.filter(pk=job.periodic_task_id).delete()
