"""Rollups in the Django admin: see their state, change their refresh policy,
refresh them now, delete them (with their tables). Saves go through the
services, so the admin validates like the API. Rollups are created through
the API or generated from metrics: their dimensions and measures are JSON
that a form edits badly.

Threshold rules and their alerts: admin_thresholds.py. MetricHistory is not
registered: the Django 5.2 admin does not support models with a composite
primary key."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms import ModelForm

from apps.calculations import admin_thresholds  # noqa: F401 - registers the threshold rules' admin
from apps.calculations.models import Rollup, RollupInvalidation
from apps.calculations.rollups.services import (
    offset_validate,
    rollup_delete,
    rollup_update,
    schedule_validate,
)
from apps.calculations.tasks import rollup_refresh_task
from apps.core.errors import AppError

POLICY_FIELDS = ("schedule", "start_offset", "end_offset", "enabled")


class RollupForm(ModelForm):
    class Meta:
        model = Rollup
        fields = POLICY_FIELDS

    def clean(self):
        cleaned = super().clean()
        try:
            if "schedule" in cleaned:
                cleaned["schedule"] = schedule_validate(cleaned["schedule"])
            for name in ("start_offset", "end_offset"):
                if cleaned.get(name) is not None:
                    offset_validate(name, cleaned[name])
        except AppError as exc:
            raise ValidationError({exc.details.get("field", "schedule"): exc.message}) from exc
        return cleaned


class RollupInvalidationInline(admin.TabularInline):
    model = RollupInvalidation
    fields = ["time_min", "time_max", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Rollup)
class RollupAdmin(admin.ModelAdmin):
    form = RollupForm
    list_display = ["entity_code", "grain", "client", "enabled", "auto", "schedule", "watermark", "last_refresh_at",
                    "last_refresh_rows", "has_error"]  # fmt: skip
    list_filter = ["grain", "enabled", "auto", "client"]
    search_fields = ["entity_code", "table_name"]
    readonly_fields = ["client", "entity_code", "grain", "table_name", "dimensions", "measures", "auto", "watermark",
                       "next_refresh_at", "last_refresh_at", "last_refresh_rows", "last_error", "created_at",
                       "updated_at"]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["client", "entity_code", "grain", "table_name", "dimensions", "measures", "auto"]}),
        ("Refresh policy", {"fields": list(POLICY_FIELDS)}),
        ("State", {"fields": ["watermark", "next_refresh_at", "last_refresh_at", "last_refresh_rows", "last_error"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [RollupInvalidationInline]
    actions = ["refresh_now"]

    @admin.display(boolean=True, description="error")
    def has_error(self, obj: Rollup) -> bool:
        return bool(obj.last_error)

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        rollup_update(rollup=obj, **{name: form.cleaned_data[name] for name in POLICY_FIELDS})

    def delete_model(self, request, obj):
        try:
            rollup_delete(rollup=obj)
        except AppError as exc:
            transaction.set_rollback(True)
            self.message_user(request, exc.message, messages.ERROR)

    def delete_queryset(self, request, queryset):
        for rollup in queryset:
            self.delete_model(request, rollup)

    @admin.action(description="Refresh the selected rollups now")
    def refresh_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for rollup_id in ids:
            transaction.on_commit(lambda rollup_id=rollup_id: rollup_refresh_task.delay(rollup_id))
        self.message_user(request, f"{len(ids)} refresh(es) enqueued.")
