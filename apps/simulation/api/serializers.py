"""Simulation runs over the API: separate input and output shapes.
Serializers check shapes and types; the scenario checks its parameters and
names the one at fault (`params.lobs.Health.end`)."""

from rest_framework import serializers

from apps.simulation.generators import SCENARIOS
from apps.simulation.models import SimulationRun


class RunInputSerializer(serializers.Serializer):
    scenario = serializers.ChoiceField(
        choices=list(SCENARIOS),
        error_messages={"invalid_choice": f'"{{input}}" is not a scenario; use one of {", ".join(SCENARIOS)}.'},
    )
    start = serializers.DateField(help_text="first day (YYYY-MM-DD)")
    end = serializers.DateField(help_text="day after the last (exclusive)")
    params = serializers.DictField(required=False, default=dict, help_text="the scenario's parameters")

    def validate(self, attrs):
        # A misspelt field is refused, not silently ignored.
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return attrs


class RunSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(read_only=True, help_text="WebSocket channel of its progress events")
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = SimulationRun
        fields = [
            "id",
            "scenario",
            "status",
            "progress",
            "rows_written",
            "rows_planned",
            "start",
            "end",
            "params",
            "error",
            "summary",
            "channel",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ScenarioSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    params_schema = serializers.JSONField(help_text="JSON Schema of `params`, with defaults")
