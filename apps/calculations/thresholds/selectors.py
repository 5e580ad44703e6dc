"""Reads of threshold rules and their alerts."""

from typing import Any

from django.db.models import QuerySet

from apps.calculations.models import ThresholdAlert, ThresholdRule
from apps.core.errors import NotFound


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
