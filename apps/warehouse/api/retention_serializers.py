from django.conf import settings
from rest_framework import serializers

from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.warehouse.models import RetentionPolicy
from apps.warehouse.selectors import hypertable_get, table_ref_parse
from apps.warehouse.services.hooks import entity_table


class RetentionPolicySerializer(serializers.ModelSerializer):
    """A policy names its hypertable by `table_name` (`c1_weather`, or as the
    ontology shows it, `analytics_data.c1_weather`) or by `entity`, the entity
    code in the caller's client; the table must exist as a hypertable."""

    table_name = serializers.CharField(max_length=127, required=False)
    entity = serializers.CharField(max_length=63, required=False, write_only=True)

    class Meta:
        model = RetentionPolicy
        fields = ["id", "table_schema", "table_name", "entity", "keep_for", "action", "lakehouse_target", "active",
                  "batch_size", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness is checked in validate(), on the table the name resolves to.
        validators = []

    def validate(self, attrs: dict) -> dict:
        entity = attrs.pop("entity", None)
        if entity is not None:
            attrs["table_schema"], attrs["table_name"] = settings.ANALYTICS_SCHEMA, self._entity_table(entity)
        elif "table_name" in attrs:
            schema, attrs["table_name"] = table_ref_parse(
                attrs["table_name"], schema=attrs.get("table_schema") or settings.ANALYTICS_SCHEMA
            )
            attrs["table_schema"] = schema
        elif self.instance is None:
            raise serializers.ValidationError({"table_name": ["Give table_name or entity."]})
        if "table_name" in attrs or "table_schema" in attrs:
            schema = attrs.get("table_schema") or getattr(self.instance, "table_schema", settings.ANALYTICS_SCHEMA)
            table = attrs.get("table_name") or self.instance.table_name
            if hypertable_get(table=table, schema=schema) is None:
                raise AppError(
                    f"No hypertable {schema}.{table}: a retention policy needs an existing time-series table.",
                    code="unknown_table",
                    details={"table_name": table, "table_schema": schema},
                )
            taken = RetentionPolicy.objects.filter(table_schema=schema, table_name=table)
            if self.instance is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                raise AppError(
                    f"{schema}.{table} has a retention policy already.",
                    code="policy_exists",
                    details={"table_name": table, "table_schema": schema},
                )
        return attrs

    def _entity_table(self, entity: str) -> str:
        request = self.context.get("request")
        try:
            client_id = request_client(request).client_id
        except AppError as exc:
            raise AppError(
                f"entity {entity!r} needs a client to look it up in: {exc.message}",
                code="unknown_entity",
                details={"entity": entity},
            ) from exc
        table = entity_table(client_id=client_id, entity=entity)
        if table is None:
            raise AppError(
                f"Unknown entity {entity!r} in this client.", code="unknown_entity", details={"entity": entity}
            )
        return table

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


class RetentionJobSerializer(serializers.Serializer):
    """One chunk's way out (apps/warehouse/retention/jobs.py for the states)."""

    table_schema = serializers.CharField()
    table_name = serializers.CharField()
    chunk_schema = serializers.CharField()
    chunk_name = serializers.CharField()
    range_start = serializers.DateTimeField()
    range_end = serializers.DateTimeField()
    state = serializers.CharField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    event_id = serializers.CharField(allow_null=True)
    expected_row_count = serializers.IntegerField(allow_null=True)
    requested_at = serializers.DateTimeField(allow_null=True)
    confirmed_at = serializers.DateTimeField(allow_null=True)
    dropped_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class TableStatusSerializer(serializers.Serializer):
    table_schema = serializers.CharField()
    table_name = serializers.CharField()
    policy = PolicySummarySerializer(allow_null=True)
    chunks = ChunkStatusSerializer(many=True)
    removed_chunks = RemovedChunkSerializer(many=True)
    states = serializers.DictField(child=serializers.IntegerField())
    failed_chunks = RetentionJobSerializer(many=True)


class RetentionStatusSerializer(serializers.Serializer):
    tables = TableStatusSerializer(many=True)
