"""The event bus in the Django admin: the dead-letter store (inspect, replay,
discard, through the same services as the API), the processed-event
record and the outbox (read-only). Webhook subscriptions and deliveries: admin_webhooks."""

import json
import uuid

from django.contrib import admin, messages
from django.utils.html import format_html

from apps.core.errors import AppError
from apps.messaging import admin_webhooks  # noqa: F401  (registers the subscription and delivery pages)
from apps.messaging.models import DeadLetter, OutboxEvent, ProcessedEvent
from apps.messaging.services import dead_letter_discard, dead_letter_replay


def _with_event_id(results, queryset, search_term: str):
    """Admin search also finds an exact event id (a UUID field has no text search)."""
    found, may_have_duplicates = results
    try:
        event_id = uuid.UUID(search_term.strip())
    except ValueError:
        return found, may_have_duplicates
    return found | queryset.filter(event_id=event_id), may_have_duplicates


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = [
        "id", "created_at", "kind", "status", "topic", "group", "subscription", "client", "attempts", "short_error",
    ]  # fmt: skip
    list_filter = ["status", "kind", "group", "topic"]
    search_fields = ["topic", "error"]  # and an event id, see get_search_results
    date_hierarchy = "created_at"
    list_select_related = ["client", "subscription"]
    actions = ["replay", "discard"]
    fields = [
        "kind", "status", "topic", "group", "subscription", "client", "event_id", "attempts", "last_status_code",
        "error", "envelope_pretty", "replay_count", "replayed_at", "created_at", "updated_at",
    ]  # fmt: skip
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        return _with_event_id(super().get_search_results(request, queryset, search_term), queryset, search_term)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only; state changes go through the actions

    @admin.display(description="error")
    def short_error(self, obj: DeadLetter) -> str:
        return obj.error if len(obj.error) <= 80 else obj.error[:77] + "..."

    @admin.display(description="envelope")
    def envelope_pretty(self, obj: DeadLetter) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.envelope, indent=2, sort_keys=True))

    def _each(self, request, queryset, service, done: str) -> None:
        succeeded = 0
        for dead_letter in queryset.order_by("pk"):
            try:
                service(dead_letter=dead_letter, user=request.user)
            except AppError as exc:
                self.message_user(request, f"Dead letter {dead_letter.pk}: {exc.message}", messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} dead letter(s) {done}.", messages.SUCCESS)

    @admin.action(description="Replay the selected messages", permissions=["replay"])
    def replay(self, request, queryset) -> None:
        self._each(request, queryset, dead_letter_replay, "replayed")

    @admin.action(description="Discard the selected messages", permissions=["replay"])
    def discard(self, request, queryset) -> None:
        self._each(request, queryset, dead_letter_discard, "discarded")

    def has_replay_permission(self, request) -> bool:
        # Replaying and discarding change the dead letter: the model's change permission.
        return request.user.has_perm("messaging.change_deadletter")


@admin.register(ProcessedEvent)
class ProcessedEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "group", "topic", "processed_at"]
    list_filter = ["group", "topic"]
    search_fields = ["topic"]  # and an event id, see get_search_results
    date_hierarchy = "processed_at"
    readonly_fields = ["event_id", "group", "topic", "processed_at"]

    def get_search_results(self, request, queryset, search_term):
        return _with_event_id(super().get_search_results(request, queryset, search_term), queryset, search_term)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    """Read-only: the relay owns these rows. Pending ones (no `published_at`)
    with attempts and an error show what waits for the bus, and why."""

    list_display = ["id", "created_at", "topic", "event_id", "published_at", "attempts", "last_error"]
    list_filter = [("published_at", admin.EmptyFieldListFilter), "topic"]
    search_fields = ["topic", "last_error"]  # and an event id, see get_search_results
    date_hierarchy = "created_at"
    fields = ["event_id", "topic", "created_at", "published_at", "attempts", "last_error", "envelope_pretty"]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        return _with_event_id(super().get_search_results(request, queryset, search_term), queryset, search_term)

    @admin.display(description="envelope")
    def envelope_pretty(self, obj: OutboxEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.envelope, indent=2, sort_keys=True))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
