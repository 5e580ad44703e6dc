"""Background work of the warehouse."""

from celery import shared_task
from django.db import OperationalError

from apps.warehouse.retention import RetentionManager


@shared_task(name="warehouse.retention_scan", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def retention_scan() -> list[dict]:
    """The hourly sweep: every active retention policy."""
    return [
        {
            "table": f"{result.table_schema}.{result.table_name}",
            "action": result.action,
            "requested": len(result.requested),
            "events": len(result.events),
            "dropped": len(result.dropped),
            "skipped": result.skipped,
        }
        for result in RetentionManager().scan()
    ]
