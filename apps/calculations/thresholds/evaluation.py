"""A `metric.calculated` point against the client's threshold rules, and the
message templates of the alerts it fires.

`thresholds_evaluate` runs in the bus handler's transaction (events.py): a
breach records a `ThresholdAlert`, and the handler queues the Celery task
`calculations.threshold_alert_send` after commit; a rule fires at most once
per cooldown (`last_fired_at`, under a row lock, so two consumers never both
fire it)."""

import json
import logging
import math
import re
import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.calculations.models import ThresholdAlert, ThresholdRule
from apps.core.errors import AppError

logger = logging.getLogger(__name__)

DEFAULT_MESSAGE = (
    ":rotating_light: {rule}: {metric} is {value} ({operator} {threshold}) for {bucket}{dims_text}. Unit: {unit}."
)
PLACEHOLDERS = frozenset(
    {"rule", "metric", "value", "value_percent", "operator", "threshold", "bucket", "dims", "dims_text", "unit"}
)
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
COMPARE = {
    "<": lambda value, threshold: value < threshold,
    "<=": lambda value, threshold: value <= threshold,
    ">": lambda value, threshold: value > threshold,
    ">=": lambda value, threshold: value >= threshold,
}


def field_invalid(field: str, message: str, code: str = "invalid") -> AppError:
    """The error of a rule's field, named in `details`."""
    return AppError(message, code=code, details={field: [message]})


# --- message templates -----------------------------------------------------------------


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
            raise field_invalid(
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
        raise field_invalid(
            "message", "The message is text of at most 2000 characters.", code="invalid_message_template"
        )
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
        if rule.dims != dims or not COMPARE[rule.operator](value, rule.threshold):
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
