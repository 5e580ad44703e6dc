"""Writes of threshold rules: `threshold_rule_create|update|delete` check
what they are given and name the field in their errors; the webhook URL
follows the rule of webhook subscriptions (http(s), no credentials, no private
address unless MESSAGING_WEBHOOK_ALLOW_PRIVATE: messaging's
`webhook_url_validate`) and is stored encrypted. `threshold_alert_replay`
sends a failed alert again: the replayer of messaging's threshold_alert dead
letters (registered in apps.py)."""

import math
from datetime import timedelta
from typing import Any

import httpx
from django.db import transaction
from django.utils import timezone

from apps.calculations.models import ThresholdAlert, ThresholdRule
from apps.calculations.orchestrator import CalculationOrchestrator
from apps.calculations.tasks import threshold_alert_send
from apps.calculations.thresholds.delivery import WEBHOOK_URL_PURPOSE
from apps.calculations.thresholds.evaluation import COMPARE, field_invalid, message_validate
from apps.calculations.types import AccessContext, Granularity, MetricQuery
from apps.core.crypto import secret_encrypt
from apps.core.errors import AppError, Conflict, NotFound
from apps.core.transactions import after_commit
from apps.messaging.services import webhook_url_validate
from apps.messaging.types import ParkedItem, WebhookURLError

MAX_COOLDOWN = timedelta(days=30)


# --- input rules ---------------------------------------------------------------------


def _dims_validate(*, client_id: int, metric: str, dims: Any) -> dict:
    if dims is None:
        return {}
    if not isinstance(dims, dict) or len(dims) > 5:
        raise field_invalid(
            "dims", 'dims is an object of at most 5 attribute paths and their values, e.g. {"lob": "Health"}.'
        )
    for key, value in dims.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise field_invalid("dims", f"The value of {key!r} must be a string, a number, true, false or null.")
    if dims:
        # The breakdown must be one the metric can take: compile it (nothing runs).
        day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        query = MetricQuery(metric=metric, start=day, end=day + timedelta(days=1), granularity=Granularity.DAY,
                            group_by=tuple(sorted(dims)))  # fmt: skip
        try:
            CalculationOrchestrator(context=AccessContext(client_id=client_id)).compile(query)
        except AppError as exc:
            raise field_invalid(
                "dims", f"The metric {metric!r} cannot be broken down by {sorted(dims)}: {exc.message}"
            ) from exc
    return dims


def _metric_validate(*, client_id: int, metric: str) -> str:
    try:
        return CalculationOrchestrator(context=AccessContext(client_id=client_id)).metric(metric).code
    except NotFound:
        raise field_invalid("metric", f"There is no metric {metric!r} in this client.", code="unknown_metric") from None


def _threshold_validate(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise field_invalid("threshold", "The threshold is a finite number.")
    return float(threshold)


def _operator_validate(operator: Any) -> str:
    if operator not in COMPARE:
        raise field_invalid("operator", f"The operator is one of {', '.join(COMPARE)}.")
    return operator


def _cooldown_validate(cooldown: Any) -> timedelta:
    if not isinstance(cooldown, timedelta) or cooldown < timedelta(0) or cooldown > MAX_COOLDOWN:
        raise field_invalid("cooldown_seconds", "The cooldown is 0 to 2592000 seconds (30 days).")
    return cooldown


def _url_store(rule: ThresholdRule, url: str) -> None:
    try:
        url = webhook_url_validate(url)
    except WebhookURLError as exc:
        raise AppError(exc.message, code=exc.code, details={"webhook_url": [exc.message]}) from None
    rule.webhook_url_encrypted = secret_encrypt(url, purpose=WEBHOOK_URL_PURPOSE)
    rule.webhook_host = destination_host(url)


def destination_host(url: str) -> str:
    return (httpx.URL(url).host or "")[:255]


# --- services --------------------------------------------------------------------------


@transaction.atomic
def threshold_rule_create(
    *,
    client_id: int,
    name: str,
    metric: str,
    operator: str,
    threshold: float,
    webhook_url: str,
    dims: dict | None = None,
    message: str = "",
    enabled: bool = True,
    cooldown: timedelta = timedelta(hours=1),
    user=None,
) -> ThresholdRule:
    metric = _metric_validate(client_id=client_id, metric=metric)
    rule = ThresholdRule(
        client_id=client_id,
        name=name,
        metric_code=metric,
        dims=_dims_validate(client_id=client_id, metric=metric, dims=dims),
        operator=_operator_validate(operator),
        threshold=_threshold_validate(threshold),
        message=message_validate(message or ""),
        enabled=enabled,
        cooldown=_cooldown_validate(cooldown),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    _url_store(rule, webhook_url)
    rule.save()
    return rule


@transaction.atomic
def threshold_rule_update(*, rule: ThresholdRule, **changes: Any) -> ThresholdRule:
    """Change what is given: name, metric, dims, operator, threshold,
    webhook_url, message, enabled, cooldown. A new metric re-checks the dims."""
    unknown = set(changes) - {
        "name", "metric", "dims", "operator", "threshold", "webhook_url", "message", "enabled", "cooldown"
    }  # fmt: skip
    if unknown:
        raise AppError(f"Unknown fields: {', '.join(sorted(unknown))}.", details={key: ["Unknown."] for key in unknown})
    if "name" in changes:
        rule.name = changes["name"]
    if "metric" in changes:
        rule.metric_code = _metric_validate(client_id=rule.client_id, metric=changes["metric"])
    if "metric" in changes or "dims" in changes:
        dims = changes.get("dims", rule.dims)
        rule.dims = _dims_validate(client_id=rule.client_id, metric=rule.metric_code, dims=dims)
    if "operator" in changes:
        rule.operator = _operator_validate(changes["operator"])
    if "threshold" in changes:
        rule.threshold = _threshold_validate(changes["threshold"])
    if "webhook_url" in changes:
        _url_store(rule, changes["webhook_url"])
    if "message" in changes:
        rule.message = message_validate(changes["message"] or "")
    if "enabled" in changes:
        rule.enabled = bool(changes["enabled"])
    if "cooldown" in changes:
        rule.cooldown = _cooldown_validate(changes["cooldown"])
    rule.save()
    return rule


@transaction.atomic
def threshold_rule_delete(*, rule: ThresholdRule) -> None:
    """The rule goes with its alert log; sends still queued find nothing and stop."""
    rule.delete()


def threshold_alert_replay(parked: ParkedItem) -> None:
    """Replay a threshold alert parked in messaging's dead-letter store (kind
    threshold_alert): the alert is pending again with a fresh retry budget,
    and its send task is queued once the replay commits. Runs in the replay's
    transaction (apps.messaging.services.dead_letter_replay); a Conflict
    refuses it and the dead letter stays parked."""
    alert = (
        ThresholdAlert.objects.select_for_update()
        .filter(pk=parked.record.get("alert_id"), rule__client_id=parked.client_id)
        .first()
    )
    if alert is None:
        raise Conflict(
            "The alert is gone (its rule was deleted); there is nothing to send. Discard the dead letter.",
            code="not_replayable",
        )
    if alert.status == ThresholdAlert.Status.PENDING:
        raise Conflict("The alert is being sent already.", code="in_progress")
    if alert.status == ThresholdAlert.Status.SENT:
        raise Conflict("The alert was sent meanwhile; it is not sent twice. Discard the dead letter.", code="sent")
    alert.status = ThresholdAlert.Status.PENDING
    alert.attempts, alert.last_error, alert.last_status_code = 0, "", None
    alert.save(update_fields=["status", "attempts", "last_error", "last_status_code", "updated_at"])
    after_commit(threshold_alert_send.delay, alert.pk)
