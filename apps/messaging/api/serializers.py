"""Input and output shapes of the event bus API."""

from rest_framework import serializers

from apps.messaging.bus import MAX_TOPIC_LENGTH
from apps.messaging.models import DeadLetter

EVENT_TYPE_RE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


class EventPublishInputSerializer(serializers.Serializer):
    topic = serializers.CharField(max_length=MAX_TOPIC_LENGTH, help_text="Dotted lower-case words, e.g. orders.created")
    type = serializers.RegexField(
        EVENT_TYPE_RE,
        max_length=200,
        help_text="The event type, e.g. orders.created (letters, digits, '.', '_', ':', '-')",
        error_messages={"invalid": "Use letters, digits, '.', '_', ':' or '-' (a letter or digit first)."},
    )
    payload = serializers.DictField(help_text="A JSON object, validated by the schema registered for type and version")
    version = serializers.IntegerField(min_value=1, default=1)
    metadata = serializers.DictField(required=False, default=dict)


class CommandPublishInputSerializer(serializers.Serializer):
    payload = serializers.DictField()
    version = serializers.IntegerField(min_value=1, default=1)
    metadata = serializers.DictField(required=False, default=dict)


class PublishedSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    topic = serializers.CharField()
    type = serializers.CharField()
    correlation_id = serializers.CharField(allow_null=True)


class DeadLetterSerializer(serializers.ModelSerializer):
    subscription = serializers.UUIDField(source="subscription_id", allow_null=True, read_only=True)

    class Meta:
        model = DeadLetter
        fields = [
            "id",
            "kind",
            "status",
            "topic",
            "group",
            "subscription",
            "event_id",
            "envelope",
            "error",
            "attempts",
            "last_status_code",
            "replay_count",
            "replayed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
