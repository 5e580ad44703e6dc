"""Background work of the ontology. Tasks take ids, call a service, and keep
their retry policy here."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from apps.core.selectors import active_client_ids
from apps.ontology.services.drift import drift_reports_prune, schema_drift_check

logger = logging.getLogger(__name__)


@shared_task(
    name="ontology.drift_check",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def drift_check(client_id: int, repair: bool = True) -> dict:
    """Check (and safely repair) one client's `analytics_data` tables."""
    report = schema_drift_check(client_id=client_id, repair=repair, triggered_by="schedule")
    return {"client_id": client_id, "report_id": report.pk, "status": report.status}


@shared_task(name="ontology.drift_check_all")
def drift_check_all() -> dict:
    """The hourly sweep: every active client in turn. One client's failure is
    logged and counted; it does not stop the others."""
    statuses: dict[str, str] = {}
    failed: list[int] = []
    for client_id in active_client_ids():
        try:
            report = schema_drift_check(client_id=client_id, repair=True, triggered_by="schedule")
        except Exception:
            logger.exception("schema drift check failed", extra={"client_id": client_id})
            failed.append(client_id)
        else:
            statuses[str(client_id)] = report.status
    pruned = drift_reports_prune(older_than_days=settings.AE_DRIFT_REPORT_DAYS)
    return {"checked": len(statuses), "statuses": statuses, "failed": failed, "pruned": pruned}
