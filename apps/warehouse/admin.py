from django.contrib import admin

from apps.warehouse.models import ChunkArchival, RetentionPolicy


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ["table_schema", "table_name", "keep_for", "action", "lakehouse_target", "batch_size", "active"]
    list_filter = ["action", "active", "table_schema"]
    search_fields = ["table_name"]


@admin.register(ChunkArchival)
class ChunkArchivalAdmin(admin.ModelAdmin):
    """The ledger is written by the retention manager and the confirmation
    handler only: read-only here."""

    list_display = ["table_name", "chunk_name", "range_start", "range_end", "status", "expected_row_count",
                    "verified_row_count", "updated_at"]  # fmt: skip
    list_filter = ["status", "table_schema", "table_name"]
    search_fields = ["table_name", "chunk_name", "event_id"]
    date_hierarchy = "range_start"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
