from django.contrib import admin, messages

from apps.archival.models import ArchivalJob
from apps.archival.services import archive_restore
from apps.core.errors import AppError


@admin.register(ArchivalJob)
class ArchivalJobAdmin(admin.ModelAdmin):
    list_display = ("table_name", "chunk_name", "range_start", "range_end", "status", "attempts", "row_count", "bytes")
    list_filter = ("status", "table_name")
    search_fields = ("table_name", "chunk_name", "event_id", "correlation_id")
    readonly_fields = [f.name for f in ArchivalJob._meta.fields]
    actions = ["restore_ranges"]

    @admin.action(description="Restore the archived rows of the selected chunks into their tables")
    def restore_ranges(self, request, queryset):
        for job in queryset.filter(status=ArchivalJob.Status.COMPLETED).order_by("range_start"):
            try:
                result = archive_restore(
                    table_schema=job.table_schema,
                    table_name=job.table_name,
                    range_start=job.range_start,
                    range_end=job.range_end,
                    target=job.lakehouse_target,
                )
            except AppError as exc:
                self.message_user(request, f"{job}: {exc.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"{job}: {result.rows} rows restored from {len(result.files)} file(s).")

    def has_add_permission(self, request) -> bool:
        return False
