from rest_framework import serializers

from apps.streams.aggregator.selectors import GRAINS, MAX_NAME_LENGTH, MAX_WINDOW_SECONDS


class CurrentQuerySerializer(serializers.Serializer):
    """The query string of GET /api/v1/streams/telemetry/current."""

    sensor = serializers.CharField(max_length=MAX_NAME_LENGTH)
    device_id = serializers.CharField(max_length=MAX_NAME_LENGTH, required=False)
    seconds = serializers.IntegerField(min_value=1, max_value=MAX_WINDOW_SECONDS, default=300)
    grain = serializers.ChoiceField(choices=list(GRAINS), default="second")


class CurrentBucketSerializer(serializers.Serializer):
    bucket = serializers.DateTimeField()
    count = serializers.IntegerField()
    sum = serializers.FloatField()
    min = serializers.FloatField()
    max = serializers.FloatField()
    avg = serializers.FloatField(allow_null=True)
    source = serializers.ChoiceField(choices=["history", "live", "mixed"])


class CurrentTotalsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sum = serializers.FloatField()
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    avg = serializers.FloatField(allow_null=True)


class CurrentViewSerializer(serializers.Serializer):
    sensor = serializers.CharField()
    device_id = serializers.CharField(allow_null=True)
    grain = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    watermark = serializers.DateTimeField(allow_null=True)
    totals = CurrentTotalsSerializer(source="*")
    buckets = CurrentBucketSerializer(many=True)
