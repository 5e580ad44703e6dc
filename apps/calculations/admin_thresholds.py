"""Threshold rules and their alerts in the Django admin (imported by
apps/calculations/admin.py). Saves go through the same services as the API,
so the admin checks the metric, the breakdown, the URL and the message alike;
the webhook URL is write-only (it carries a secret) and stored encrypted."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.calculations.models import ThresholdAlert, ThresholdRule
from apps.calculations.thresholds.services import threshold_rule_create, threshold_rule_update
from apps.core.errors import AppError

RULE_FIELDS = ["name", "dims", "operator", "threshold", "message", "enabled", "cooldown"]


class _DryRun(Exception):
    """Raised to roll back a validation run of a service."""


class ThresholdRuleAdminForm(forms.ModelForm):
    webhook_url = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 80}),
        help_text="The Slack-style incoming webhook. Leave empty to keep the current one.",
    )

    class Meta:
        model = ThresholdRule
        fields = ["client", "name", "metric_code", *RULE_FIELDS[1:]]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if self.instance._state.adding and not cleaned.get("webhook_url"):
            raise ValidationError({"webhook_url": "A new rule needs its webhook URL."})
        try:
            with transaction.atomic():
                _save(self.instance, cleaned, user=None)
                raise _DryRun
        except _DryRun:
            pass
        except AppError as exc:
            field = next((f for f in exc.details if f in self.fields), None)
            if field is None and "metric" in exc.details:
                field = "metric_code"
            raise ValidationError({field: exc.message} if field else exc.message) from exc
        return cleaned


def _save(rule: ThresholdRule, cleaned: dict, *, user) -> ThresholdRule:
    fields = {name: cleaned[name] for name in RULE_FIELDS}
    fields["message"] = fields["message"] or ""
    if cleaned.get("webhook_url"):
        fields["webhook_url"] = cleaned["webhook_url"]
    if rule._state.adding:
        return threshold_rule_create(client_id=cleaned["client"].pk, metric=cleaned["metric_code"], user=user, **fields)
    return threshold_rule_update(rule=ThresholdRule.objects.get(pk=rule.pk), metric=cleaned["metric_code"], **fields)


class ThresholdAlertInline(admin.TabularInline):
    model = ThresholdAlert
    fields = [
        "created_at",
        "bucket",
        "dims",
        "value",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "sent_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    show_change_link = False


@admin.register(ThresholdRule)
class ThresholdRuleAdmin(admin.ModelAdmin):
    form = ThresholdRuleAdminForm
    list_display = [
        "name",
        "metric_code",
        "operator",
        "threshold",
        "client",
        "webhook_host",
        "enabled",
        "last_fired_at",
    ]
    list_filter = ["enabled", "client"]
    search_fields = ["name", "metric_code"]
    readonly_fields = ["webhook_host", "last_fired_at", "created_by", "created_at", "updated_at"]
    inlines = [ThresholdAlertInline]

    def save_model(self, request, obj, form, change):
        saved = _save(obj, form.cleaned_data, user=request.user)
        obj.pk = saved.pk
        obj.refresh_from_db()
