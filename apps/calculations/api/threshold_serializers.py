"""Threshold rules over the API: separate input (create, change) and output
shapes. Serializers check shapes and types; the services check meaning (the
metric, the breakdown, the URL, the message's placeholders) and name the field."""

from rest_framework import serializers

from apps.calculations.api.rollup_serializers import _KnownFieldsOnly
from apps.calculations.models import ThresholdAlert, ThresholdRule
from apps.calculations.thresholds.services import MAX_COOLDOWN

MAX_COOLDOWN_SECONDS = int(MAX_COOLDOWN.total_seconds())


class ThresholdRuleInputSerializer(_KnownFieldsOnly):
    name = serializers.CharField(max_length=200)
    metric = serializers.CharField(max_length=63, help_text="the metric's code")
    dims = serializers.DictField(
        required=False, default=dict, help_text='the breakdown the rule watches, e.g. {"lob": "Health"}; {}: the whole'
    )
    operator = serializers.ChoiceField(choices=ThresholdRule.Operator.values)
    threshold = serializers.FloatField()
    webhook_url = serializers.CharField(
        max_length=1000, write_only=True, help_text="a Slack-style incoming webhook; stored encrypted, never shown"
    )
    message = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="template; empty: the default"
    )
    enabled = serializers.BooleanField(required=False, default=True)
    cooldown_seconds = serializers.IntegerField(
        required=False, default=3600, min_value=0, max_value=MAX_COOLDOWN_SECONDS, help_text="fire at most once per"
    )


class ThresholdRuleChangeSerializer(_KnownFieldsOnly):
    """PATCH: any subset."""

    name = serializers.CharField(max_length=200, required=False)
    metric = serializers.CharField(max_length=63, required=False)
    dims = serializers.DictField(required=False)
    operator = serializers.ChoiceField(choices=ThresholdRule.Operator.values, required=False)
    threshold = serializers.FloatField(required=False)
    webhook_url = serializers.CharField(max_length=1000, required=False, write_only=True)
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)
    cooldown_seconds = serializers.IntegerField(required=False, min_value=0, max_value=MAX_COOLDOWN_SECONDS)


class ThresholdRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    metric = serializers.CharField(source="metric_code")
    dims = serializers.DictField()
    operator = serializers.CharField()
    threshold = serializers.FloatField()
    webhook_host = serializers.CharField(help_text="where alerts go; the URL itself is not shown")
    message = serializers.CharField()
    enabled = serializers.BooleanField()
    cooldown_seconds = serializers.SerializerMethodField()
    last_fired_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_cooldown_seconds(self, rule) -> int:
        return int(rule.cooldown.total_seconds())


class ThresholdAlertSerializer(serializers.ModelSerializer):
    metric = serializers.CharField(source="metric_code")

    class Meta:
        model = ThresholdAlert
        fields = [
            "id", "event_id", "metric", "dims", "bucket", "value", "text", "status", "attempts",
            "last_status_code", "last_error", "sent_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields
