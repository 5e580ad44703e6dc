"""Input and output shapes of the webhook subscription API. The secret is
write-only: it appears in a response once, when the subscription is created."""

from rest_framework import serializers


class SubscriptionInputSerializer(serializers.Serializer):
    topic_pattern = serializers.CharField(max_length=200, help_text="fnmatch style, e.g. `metric.*`")
    webhook_url = serializers.CharField(max_length=1000)
    secret = serializers.CharField(
        required=False, write_only=True, trim_whitespace=False, help_text="Generated when left out."
    )
    active = serializers.BooleanField(required=False, default=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class SubscriptionUpdateSerializer(serializers.Serializer):
    topic_pattern = serializers.CharField(required=False, max_length=200)
    webhook_url = serializers.CharField(required=False, max_length=1000)
    secret = serializers.CharField(required=False, write_only=True, trim_whitespace=False)
    active = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)


class SubscriptionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    topic_pattern = serializers.CharField()
    webhook_url = serializers.CharField()
    active = serializers.BooleanField()
    description = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_created_by(self, obj) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None


class SubscriptionCreatedSerializer(SubscriptionOutputSerializer):
    secret = serializers.CharField(help_text="Shown only in this response; keep it to verify signatures.")


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.UUIDField()
    topic = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
