"""Simulation runs in the Django admin: read-only (runs are created through
the API or the demo bootstrap, and executed by the worker)."""

from django.contrib import admin

from apps.simulation.models import SimulationRun


@admin.register(SimulationRun)
class SimulationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "client", "scenario", "start", "end", "status", "progress", "rows_written", "created_at"]
    list_filter = ["status", "scenario"]
    search_fields = ["scenario", "client__code"]
    readonly_fields = [
        "client",
        "scenario",
        "start",
        "end",
        "params",
        "status",
        "progress",
        "rows_planned",
        "rows_written",
        "error",
        "summary",
        "created_by",
        "started_at",
        "finished_at",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
