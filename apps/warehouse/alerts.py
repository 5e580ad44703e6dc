"""Retention alerts: a logged ERROR line marked `alert=True` plus a counter
that the metrics endpoint exports (prometheus_client's default registry).
Alert rules and notifications (observability) key on either."""

import json
import logging
from typing import Any

from prometheus_client import Counter

logger = logging.getLogger("apps.warehouse.alerts")

RETENTION_ALERTS = Counter("ae_retention_alerts", "Retention alerts raised, by kind.", ["kind"])


def alert_raise(kind: str, message: str, **details: Any) -> None:
    """Raise one alert of `kind` (e.g. `archival_count_mismatch`)."""
    RETENTION_ALERTS.labels(kind=kind).inc()
    record = {"alert": True, "kind": kind, "message": message, "details": details}
    logger.error(
        json.dumps(record, default=str, sort_keys=True),
        extra={"alert": True, "alert_kind": kind, "alert_details": details},
    )
