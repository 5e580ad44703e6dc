"""Rollups over the API: separate input (create, change) and output shapes.
Serializers check shapes and types; the services check meaning (entity,
attributes, states, cron, offsets) and name the field in their errors."""

from django.conf import settings
from rest_framework import serializers

from apps.calculations.rollup_spec import GRAINS, STATES
from apps.calculations.rollups.selectors import stale_ranges


class MeasureSerializer(serializers.Serializer):
    attribute = serializers.CharField(max_length=63)
    states = serializers.ListField(child=serializers.ChoiceField(choices=STATES), allow_empty=False)


DURATION_HELP = 'ISO 8601 ("PT1H", "P1D") or "[DD] [HH:[MM:]]ss"; not negative'


class _KnownFieldsOnly(serializers.Serializer):
    """A misspelt field is refused, not silently ignored."""

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return attrs


class RollupInputSerializer(_KnownFieldsOnly):
    entity = serializers.CharField(max_length=63)
    grain = serializers.ChoiceField(choices=GRAINS)
    dimensions = serializers.ListField(child=serializers.CharField(max_length=63), required=False, default=list)
    measures = MeasureSerializer(many=True, required=False, default=list)
    schedule = serializers.CharField(max_length=100, required=False, help_text="five-field cron expression, UTC")
    start_offset = serializers.DurationField(required=False, help_text=DURATION_HELP)
    end_offset = serializers.DurationField(required=False, help_text=DURATION_HELP + "; default: one grain")
    enabled = serializers.BooleanField(required=False, default=True)


class RollupChangeSerializer(_KnownFieldsOnly):
    """PATCH: any subset. Entity and grain are fixed (they name the table)."""

    dimensions = serializers.ListField(child=serializers.CharField(max_length=63), required=False)
    measures = MeasureSerializer(many=True, required=False)
    schedule = serializers.CharField(max_length=100, required=False)
    start_offset = serializers.DurationField(required=False, help_text=DURATION_HELP)
    end_offset = serializers.DurationField(required=False, help_text=DURATION_HELP)
    enabled = serializers.BooleanField(required=False)

    def validate(self, attrs):
        fixed = sorted({"entity", "grain"} & set(self.initial_data))
        if fixed:
            raise serializers.ValidationError(
                {name: "Cannot change; create a rollup for the other entity or grain instead." for name in fixed}
            )
        return super().validate(attrs)


class StaleRangeSerializer(serializers.Serializer):
    time_min = serializers.DateTimeField()
    time_max = serializers.DateTimeField()


class RollupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    entity = serializers.CharField(source="entity_code")
    grain = serializers.CharField()
    table = serializers.SerializerMethodField()
    dimensions = serializers.ListField(child=serializers.CharField())
    measures = MeasureSerializer(many=True)
    watermark = serializers.DateTimeField(allow_null=True)
    stale = serializers.SerializerMethodField()
    schedule = serializers.CharField()
    start_offset = serializers.DurationField()
    end_offset = serializers.DurationField()
    enabled = serializers.BooleanField()
    auto = serializers.BooleanField()
    next_refresh_at = serializers.DateTimeField(allow_null=True)
    last_refresh_at = serializers.DateTimeField(allow_null=True)
    last_refresh_rows = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_table(self, rollup) -> str:
        return f"{settings.ANALYTICS_SCHEMA}.{rollup.table_name}"

    def get_stale(self, rollup) -> list[dict]:
        """Invalidated ranges not yet re-materialized."""
        return StaleRangeSerializer(
            [{"time_min": low, "time_max": high} for low, high in stale_ranges(rollup)], many=True
        ).data


class RefreshQueuedSerializer(serializers.Serializer):
    rollup = serializers.IntegerField()
    task_id = serializers.CharField()


class RollupBackendSerializer(serializers.Serializer):
    backend = serializers.CharField()
    timescaledb_version = serializers.CharField(allow_null=True)
    timescaledb_license = serializers.CharField(allow_null=True)
    continuous_aggregates_available = serializers.BooleanField()
