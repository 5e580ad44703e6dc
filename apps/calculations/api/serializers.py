from rest_framework import serializers

from apps.calculations.types import Granularity


class PointSerializer(serializers.Serializer):
    bucket = serializers.DateTimeField(allow_null=True)
    dims = serializers.DictField()
    value = serializers.FloatField(allow_null=True)


class TimeRangeSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class DataExtentSerializer(serializers.Serializer):
    first = serializers.DateTimeField(allow_null=True)
    last = serializers.DateTimeField(allow_null=True)


class MetricResultSerializer(serializers.Serializer):
    metric = serializers.CharField()
    unit = serializers.CharField(allow_blank=True)
    granularity = serializers.ChoiceField(choices=[g.value for g in Granularity])
    route = serializers.ChoiceField(choices=["raw", "rollup", "rollup+raw"])
    cached = serializers.BooleanField()
    computed_at = serializers.DateTimeField()
    mode = serializers.ChoiceField(choices=["exact", "approximate"])
    series = PointSerializer(many=True)
    archived = TimeRangeSerializer(many=True)
    range = TimeRangeSerializer(help_text="the range computed: the request's, or the defaults used")
    extent = DataExtentSerializer(
        required=False, help_text="only with an empty series: the first and last time of the metric's data"
    )

    def to_representation(self, instance: dict) -> dict:
        data = super().to_representation(instance)
        if data.get("extent") is None:
            data.pop("extent", None)
        return data


class ScanExplainSerializer(serializers.Serializer):
    metric = serializers.CharField()
    entity = serializers.CharField()
    route = serializers.CharField()
    rollup = serializers.CharField(allow_null=True)
    grain = serializers.CharField(allow_null=True)
    watermark = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class ExplainSerializer(serializers.Serializer):
    route = serializers.CharField()
    mode = serializers.CharField()
    scans = ScanExplainSerializer(many=True)
    sql = serializers.CharField()
    archived = TimeRangeSerializer(many=True)


class ExplainedMetricResultSerializer(MetricResultSerializer):
    explain = ExplainSerializer(required=False)


class HistoryPointSerializer(serializers.Serializer):
    bucket = serializers.DateTimeField()
    granularity = serializers.CharField()
    dims = serializers.DictField()
    value = serializers.FloatField(allow_null=True)
    unit = serializers.CharField(allow_blank=True)
    computed_at = serializers.DateTimeField()


class RangeSerializer(serializers.Serializer):
    """ISO 8601 with an offset or a date; parsed like the metrics API's
    `start`/`end` (a naive timestamp is refused, not read as UTC)."""

    start = serializers.CharField(max_length=40)
    end = serializers.CharField(max_length=40)


class QueryRequestSerializer(serializers.Serializer):
    """An ad-hoc query: measures (name -> formula) over one entity's rows."""

    entity = serializers.CharField(max_length=63)
    measures = serializers.DictField(child=serializers.CharField(max_length=2000), allow_empty=False)
    filters = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    group_by = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=5)
    range = RangeSerializer()
    granularity = serializers.ChoiceField(choices=[g.value for g in Granularity], default=Granularity.DAY.value)

    def validate_group_by(self, value: list) -> list:
        repeated = sorted({path for path in value if value.count(path) > 1})
        if repeated:
            raise serializers.ValidationError(f"{repeated[0]!r} appears twice.")
        return value

    def validate(self, attrs: dict) -> dict:
        taken = {"bucket", *attrs.get("group_by", [])}
        clashes = sorted(taken & set(attrs["measures"]))
        if clashes:
            raise serializers.ValidationError(
                {"measures": [f"Measure name {clashes[0]!r} is already a column (bucket or a group-by path)."]}
            )
        return attrs

    def validate_measures(self, value: dict) -> dict:
        if len(value) > 20:
            raise serializers.ValidationError("At most 20 measures per query.")
        for name in value:
            if not name.isidentifier() or not name.islower():
                raise serializers.ValidationError(f"Measure name {name!r} must be lower snake case.")
        return value


class QueryResultSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField())
    range = TimeRangeSerializer()
    extent = DataExtentSerializer(required=False, help_text="only with no rows: the entity's first and last time")

    def to_representation(self, instance: object) -> dict:
        data = super().to_representation(instance)
        if data.get("extent") is None:
            data.pop("extent", None)
        return data
