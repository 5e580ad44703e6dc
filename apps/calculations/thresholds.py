"""KPI threshold rules (a minimal alerting rule until the alerting console of
observability arrives; docs/live.md).

- services: `threshold_rule_create|update|delete` check what they are given
  and name the field in their errors; the webhook URL follows the rule of
  webhook subscriptions (http(s), no credentials, no private address unless
  MESSAGING_WEBHOOK_ALLOW_PRIVATE) and is stored encrypted;
- reads: `threshold_rule_list|get`, `threshold_alert_list`;
- `thresholds_evaluate`: a `metric.calculated` point against the client's
  rules on that metric (bus handler in events.py). A breach records a
  `ThresholdAlert` in the handler's transaction, and the handler queues the
  Celery task `calculations.threshold_alert_send` after commit; a rule fires at most
  once per cooldown (`last_fired_at`, under a row lock, so two consumers
  never both fire it);
- `threshold_alert_attempt`: one POST of `{"text": ...}` to the rule's
  Slack-style incoming webhook (2xx delivered; connection errors, 5xx, 408 and
  429 retried with backoff; other answers fail at once, as a bad URL or
  payload will not heal), through the destination's shared circuit breaker.
"""

import json
import logging
import math
import random
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pybreaker
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.calculations.models import ThresholdAlert, ThresholdRule
from apps.calculations.orchestrator import CalculationOrchestrator
from apps.calculations.types import AccessContext, Granularity, MetricQuery
from apps.core.crypto import SecretDecryptionError, secret_decrypt, secret_encrypt
from apps.core.errors import AppError, NotFound
from apps.messaging.webhook_delivery import (
    DestinationFailed,
    DestinationUnresolved,
    WebhookURLError,
    destination_breaker,
    destination_resolve,
    webhook_url_validate,
)

logger = logging.getLogger(__name__)

USER_AGENT = "AnalyticsEngine-Alerts/1.0"
DEFAULT_MESSAGE = (
    ":rotating_light: {rule}: {metric} is {value} ({operator} {threshold}) for {bucket}{dims_text}. Unit: {unit}."
)
MAX_COOLDOWN = timedelta(days=30)
PLACEHOLDERS = frozenset(
    {"rule", "metric", "value", "value_percent", "operator", "threshold", "bucket", "dims", "dims_text", "unit"}
)
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_COMPARE = {
    "<": lambda value, threshold: value < threshold,
    "<=": lambda value, threshold: value <= threshold,
    ">": lambda value, threshold: value > threshold,
    ">=": lambda value, threshold: value >= threshold,
}


def _invalid(field: str, message: str, code: str = "invalid") -> AppError:
    return AppError(message, code=code, details={field: [message]})


# --- input rules ---------------------------------------------------------------------


def _template_parts(template: str) -> list[tuple[str, str]]:
    """("text", ...) and ("field", name) parts; AppError on an unknown field or a stray brace."""
    parts, position = [], 0
    for match in _TEMPLATE_TOKEN.finditer(template):
        parts.append(("text", template[position : match.start()]))
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(("text", token[0]))
        elif match.group(1) in PLACEHOLDERS:
            parts.append(("field", match.group(1)))
        else:
            shown = token if match.group(1) is None else "{" + match.group(1) + "}"
            raise _invalid(
                "message",
                f"The message uses {shown!r}; placeholders are "
                + ", ".join("{" + name + "}" for name in sorted(PLACEHOLDERS))
                + " (write {{ and }} for literal braces).",
                code="invalid_message_template",
            )
        position = match.end()
    parts.append(("text", template[position:]))
    return [part for part in parts if part != ("text", "")]


def message_validate(template: str) -> str:
    if not isinstance(template, str) or len(template) > 2000:
        raise _invalid("message", "The message is text of at most 2000 characters.", code="invalid_message_template")
    _template_parts(template)
    return template


def _format_number(value: float) -> str:
    return f"{value:.4g}"


def message_render(*, rule: ThresholdRule, value: float, dims: dict, bucket: datetime | None, unit: str) -> str:
    """The rule's message (or the default) with the point's values filled in.
    Plain substitution of known names: a template cannot reach attributes."""
    dims_text = ", ".join(f"{k}={v}" for k, v in sorted(dims.items()))
    fields = {
        "rule": rule.name,
        "metric": rule.metric_code,
        "value": _format_number(value),
        "value_percent": f"{value * 100:.1f}%",
        "operator": rule.operator,
        "threshold": _format_number(rule.threshold),
        "bucket": bucket.isoformat() if bucket else "the whole range",
        "dims": json.dumps(dims, sort_keys=True, default=str),
        "dims_text": f" ({dims_text})" if dims_text else "",
        "unit": unit or "-",
    }
    template = rule.message or DEFAULT_MESSAGE
    return "".join(fields[part] if kind == "field" else part for kind, part in _template_parts(template))


def _dims_validate(*, client_id: int, metric: str, dims: Any) -> dict:
    if dims is None:
        return {}
    if not isinstance(dims, dict) or len(dims) > 5:
        raise _invalid(
            "dims", 'dims is an object of at most 5 attribute paths and their values, e.g. {"lob": "Health"}.'
        )
    for key, value in dims.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise _invalid("dims", f"The value of {key!r} must be a string, a number, true, false or null.")
    if dims:
        # The breakdown must be one the metric can take: compile it (nothing runs).
        day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        query = MetricQuery(metric=metric, start=day, end=day + timedelta(days=1), granularity=Granularity.DAY,
                            group_by=tuple(sorted(dims)))  # fmt: skip
        try:
            CalculationOrchestrator(context=AccessContext(client_id=client_id)).compile(query)
        except AppError as exc:
            raise _invalid(
                "dims", f"The metric {metric!r} cannot be broken down by {sorted(dims)}: {exc.message}"
            ) from exc
    return dims


def _metric_validate(*, client_id: int, metric: str) -> str:
    try:
        return CalculationOrchestrator(context=AccessContext(client_id=client_id)).metric(metric).code
    except NotFound:
        raise _invalid("metric", f"There is no metric {metric!r} in this client.", code="unknown_metric") from None


def _threshold_validate(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise _invalid("threshold", "The threshold is a finite number.")
    return float(threshold)


def _operator_validate(operator: Any) -> str:
    if operator not in _COMPARE:
        raise _invalid("operator", f"The operator is one of {', '.join(_COMPARE)}.")
    return operator


def _cooldown_validate(cooldown: Any) -> timedelta:
    if not isinstance(cooldown, timedelta) or cooldown < timedelta(0) or cooldown > MAX_COOLDOWN:
        raise _invalid("cooldown_seconds", "The cooldown is 0 to 2592000 seconds (30 days).")
    return cooldown


def _url_store(rule: ThresholdRule, url: str) -> None:
    try:
        url = webhook_url_validate(url)
    except WebhookURLError as exc:
        raise AppError(exc.message, code=exc.code, details={"webhook_url": [exc.message]}) from None
    rule.webhook_url_encrypted = secret_encrypt(url)
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


# --- reads -----------------------------------------------------------------------------


def threshold_rule_list(*, client_id: int, metric: str | None = None) -> QuerySet[ThresholdRule]:
    rules = ThresholdRule.objects.filter(client_id=client_id).select_related("created_by")
    return rules.filter(metric_code=metric) if metric else rules


def threshold_rule_get(*, client_id: int, rule_id: Any) -> ThresholdRule:
    rule = threshold_rule_list(client_id=client_id).filter(pk=rule_id).first() if str(rule_id).isdigit() else None
    if rule is None:
        raise NotFound(f"No threshold rule {rule_id}.")
    return rule


def threshold_alert_list(*, rule: ThresholdRule) -> QuerySet[ThresholdAlert]:
    return rule.alerts.all()


# --- evaluation ------------------------------------------------------------------------


@transaction.atomic
def thresholds_evaluate(
    *,
    client_id: int,
    event_id: uuid.UUID,
    metric: str,
    value: float | None,
    dims: dict,
    bucket: datetime | None,
    unit: str = "",
) -> list[int]:
    """Fire every enabled rule of the client on `metric` whose dims equal the
    point's and whose condition the value meets, unless it fired within its
    cooldown. Runs in the caller's transaction (the bus handler's): the alerts
    are sent once it commits (the caller queues `threshold_alert_send` for each
    id returned). Returns the ids of the alerts recorded."""
    if value is None or not math.isfinite(value):
        return []
    now = timezone.now()
    fired = []
    rules = ThresholdRule.objects.select_for_update().filter(client_id=client_id, metric_code=metric, enabled=True)
    for rule in rules.order_by("pk"):
        if rule.dims != dims or not _COMPARE[rule.operator](value, rule.threshold):
            continue
        if rule.last_fired_at is not None and now - rule.last_fired_at < rule.cooldown:
            logger.info("threshold rule %s breached again within its cooldown; not fired", rule.pk)
            continue
        alert, created = ThresholdAlert.objects.get_or_create(
            rule=rule,
            event_id=event_id,
            defaults={
                "metric_code": metric,
                "dims": dims,
                "bucket": bucket,
                "value": value,
                "text": message_render(rule=rule, value=value, dims=dims, bucket=bucket, unit=unit),
            },
        )
        if not created:
            continue
        rule.last_fired_at = now
        rule.save(update_fields=["last_fired_at", "updated_at"])
        fired.append(alert.pk)
        logger.warning("threshold rule %s fired: %s %s %s %s", rule.pk, metric, value, rule.operator, rule.threshold)
    return fired


# --- sending ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertOutcome:
    status: str  # sent | retry | failed | skipped
    retry_in: float | None = None
    status_code: int | None = None
    error: str = ""


class _Refused(DestinationFailed):
    """An answer that retrying will not change (a 4xx other than 408/429)."""


def alert_backoff_seconds(attempts: int) -> float:
    ceiling = min(
        settings.AE_THRESHOLD_ALERT_BACKOFF_MAX_SECONDS,
        settings.AE_THRESHOLD_ALERT_BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0),
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


def _slack_post(destination, body: bytes) -> tuple[int, float | None]:
    """POST to the checked addresses in turn (the next one only when one
    refuses the connection). (status, Retry-After seconds or None)."""
    timeout = httpx.Timeout(
        settings.MESSAGING_WEBHOOK_TIMEOUT_SECONDS, connect=min(5.0, settings.MESSAGING_WEBHOOK_TIMEOUT_SECONDS)
    )
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Host": destination.host_header}
    extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else None
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for position, address in enumerate(destination.addresses):
            try:
                response = client.post(
                    destination.url_for(address), content=body, headers=headers, extensions=extensions
                )
            except httpx.ConnectError as exc:
                if position + 1 < len(destination.addresses):
                    continue
                raise DestinationFailed(f"Connection failed: {exc}") from exc
            except (httpx.HTTPError, OSError) as exc:
                raise DestinationFailed(f"{type(exc).__name__}: {exc}") from exc
            if 200 <= response.status_code < 300:
                return response.status_code, None
            text = response.text[:300].strip()
            message = f"HTTP {response.status_code}" + (f": {text}" if text else "")
            if response.status_code in (408, 429) or response.status_code >= 500:
                failure = DestinationFailed(message, response.status_code)
                retry_after = response.headers.get("Retry-After", "")
                failure.retry_after = float(retry_after) if retry_after.isdigit() else None
                raise failure
            raise _Refused(message, response.status_code)
    raise DestinationFailed("The host resolved to no address.")


def _finish(alert: ThresholdAlert, status: str, error: str = "", status_code: int | None = None) -> AlertOutcome:
    alert.status = status
    alert.last_error = error
    alert.last_status_code = status_code
    if status == ThresholdAlert.Status.SENT:
        alert.sent_at = timezone.now()
    alert.save(update_fields=["status", "last_error", "last_status_code", "sent_at", "attempts", "updated_at"])
    if status == ThresholdAlert.Status.FAILED:
        logger.warning("threshold alert %s not sent: %s", alert.pk, error)
    return AlertOutcome(status, status_code=status_code, error=error)


def _retry(alert: ThresholdAlert, error: str, status_code: int | None, retry_after: float | None) -> AlertOutcome:
    if alert.attempts >= settings.AE_THRESHOLD_ALERT_MAX_ATTEMPTS:
        return _finish(alert, ThresholdAlert.Status.FAILED, f"{error} (after {alert.attempts} attempts)", status_code)
    alert.last_error, alert.last_status_code = error, status_code
    alert.save(update_fields=["last_error", "last_status_code", "attempts", "updated_at"])
    wait = max(alert_backoff_seconds(alert.attempts), retry_after or 0.0)
    return AlertOutcome("retry", retry_in=wait, status_code=status_code, error=error)


def threshold_alert_attempt(*, alert_id: int) -> AlertOutcome:
    """One attempt at sending a pending alert; the row is locked meanwhile,
    so two workers never send the same alert."""
    with transaction.atomic():
        alert = (
            ThresholdAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("rule")
            .filter(pk=alert_id)
            .first()
        )
        if alert is None or alert.status != ThresholdAlert.Status.PENDING:
            return AlertOutcome("skipped")
        alert.attempts += 1
        try:
            url = secret_decrypt(alert.rule.webhook_url_encrypted)
        except SecretDecryptionError as exc:
            return _finish(alert, ThresholdAlert.Status.FAILED, str(exc))
        try:
            destination = destination_resolve(url)
        except DestinationUnresolved as exc:
            return _retry(alert, exc.message, None, None)
        except WebhookURLError as exc:  # refused now (DNS rebinding, a tightened rule): never sent
            return _finish(alert, ThresholdAlert.Status.FAILED, exc.message)
        body = json.dumps({"text": alert.text}, ensure_ascii=False).encode()
        try:
            status_code, _ = destination_breaker(destination.origin).call(_slack_post, destination, body)
        except pybreaker.CircuitBreakerError:
            alert.attempts -= 1  # not called: no attempt spent
            wait = settings.MESSAGING_WEBHOOK_BREAKER_RESET_SECONDS * (1 + random.random())  # noqa: S311
            alert.save(update_fields=["attempts", "updated_at"])
            return AlertOutcome("retry", retry_in=wait, error=f"Circuit to {destination.origin} is open.")
        except _Refused as exc:
            return _finish(alert, ThresholdAlert.Status.FAILED, exc.message, exc.status_code)
        except DestinationFailed as exc:
            return _retry(alert, exc.message, exc.status_code, getattr(exc, "retry_after", None))
        return _finish(alert, ThresholdAlert.Status.SENT, status_code=status_code)
