import logging
import os
import socket

from celery import shared_task
from django_guid import get_guid

from apps.observability.health import check_database

logger = logging.getLogger(__name__)


@shared_task(name="observability.worker_probe", acks_late=False, ignore_result=False)
def worker_probe() -> dict:
    """Executed by a worker to prove the whole task path works: the broker
    delivered it, the worker reaches the database, and the caller's
    correlation id travelled with it."""
    try:
        database = check_database()["status"]
    except Exception as exc:  # reported to the caller, who judges the probe
        database = f"error: {exc}"
    logger.info("worker probe answered", extra={"database": database})
    return {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "correlation_id": get_guid(),
        "database": database,
    }
