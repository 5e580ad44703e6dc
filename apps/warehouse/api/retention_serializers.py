from rest_framework import serializers

from apps.warehouse.models import RetentionPolicy


class RetentionPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = RetentionPolicy
        fields = ["id", "table_schema", "table_name", "keep_for", "action", "lakehouse_target", "active",
                  "batch_size", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_keep_for(self, value):
        if value.total_seconds() <= 0:
            raise serializers.ValidationError("keep_for must be a positive duration.")
        return value

    def validate_batch_size(self, value):
        if value < 1:
            raise serializers.ValidationError("batch_size must be at least 1.")
        return value


class TriggerArchivalInputSerializer(serializers.Serializer):
    table_name = serializers.CharField(max_length=63)
    table_schema = serializers.CharField(max_length=63, required=False)
    older_than = serializers.DateTimeField(required=False)
    range_start = serializers.DateTimeField(required=False)
    range_end = serializers.DateTimeField(required=False)


class ChunkRefSerializer(serializers.Serializer):
    chunk_schema = serializers.CharField()
    chunk_name = serializers.CharField()
    range_start = serializers.DateTimeField()
    range_end = serializers.DateTimeField()
    row_count = serializers.IntegerField()


class ArchivalEventOutSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    lakehouse_target = serializers.CharField()
    chunks = ChunkRefSerializer(many=True)


class TriggerArchivalResultSerializer(serializers.Serializer):
    table_schema = serializers.CharField()
    table_name = serializers.CharField()
    cutoff = serializers.DateTimeField(allow_null=True)
    events = ArchivalEventOutSerializer(many=True)
    requested = ChunkRefSerializer(many=True)
    skipped = serializers.IntegerField()


class LedgerSerializer(serializers.Serializer):
    status = serializers.CharField()
    event_id = serializers.UUIDField(allow_null=True)
    expected_row_count = serializers.IntegerField(allow_null=True)
    verified_row_count = serializers.IntegerField(allow_null=True)
    files = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_blank=True)
    requested_at = serializers.DateTimeField(allow_null=True)
    confirmed_at = serializers.DateTimeField(allow_null=True)
    dropped_at = serializers.DateTimeField(allow_null=True)


class ChunkStatusSerializer(serializers.Serializer):
    chunk_schema = serializers.CharField()
    chunk_name = serializers.CharField()
    range_start = serializers.DateTimeField()
    range_end = serializers.DateTimeField()
    total_bytes = serializers.IntegerField()
    row_count = serializers.IntegerField()
    archival = LedgerSerializer(allow_null=True)


class RemovedChunkSerializer(serializers.Serializer):
    chunk_schema = serializers.CharField()
    chunk_name = serializers.CharField()
    range_start = serializers.DateTimeField()
    range_end = serializers.DateTimeField()
    archival = LedgerSerializer()


class PolicySummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    keep_for = serializers.DurationField()
    action = serializers.CharField()
    lakehouse_target = serializers.CharField()
    active = serializers.BooleanField()
    cutoff = serializers.DateTimeField()


class TableStatusSerializer(serializers.Serializer):
    table_schema = serializers.CharField()
    table_name = serializers.CharField()
    policy = PolicySummarySerializer(allow_null=True)
    chunks = ChunkStatusSerializer(many=True)
    removed_chunks = RemovedChunkSerializer(many=True)


class RetentionStatusSerializer(serializers.Serializer):
    tables = TableStatusSerializer(many=True)
