from rest_framework import serializers


class IngestionIncrementalSerializer(serializers.Serializer):
    column = serializers.CharField(max_length=200, help_text="the watermark column: only rows after the last one")


class IngestionJobSerializer(serializers.Serializer):
    """What a job is written with (API.md); checked whole by the service."""

    code = serializers.CharField(max_length=63)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    connection = serializers.CharField(max_length=100, help_text="the connection's code")
    object = serializers.CharField(max_length=300, required=False, allow_blank=True,
                                   help_text="a table, view or endpoint of the connection")  # fmt: skip
    query = serializers.CharField(required=False, allow_blank=True, help_text="a SELECT, instead of an object")
    entity = serializers.CharField(max_length=100, help_text="the entity code the rows are loaded into")
    mapping = serializers.DictField(required=False, help_text='{"fields": {attribute: {"source": field}}, ...}')
    transform = serializers.CharField(max_length=100, required=False, allow_blank=True)
    schedule = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                     help_text="cron, UTC, 5 fields ('0 2 * * *'); empty: on demand only")  # fmt: skip
    incremental = IngestionIncrementalSerializer(required=False, allow_null=True)
    batch_size = serializers.IntegerField(required=False, min_value=1, max_value=100_000)
    enabled = serializers.BooleanField(required=False)
    draft = serializers.BooleanField(
        required=False,
        help_text="true: save the job with its mapping empty or incomplete (it never runs, its schedule stays "
        "off; the answer lists mapping_problems); false (the default): the full check, publishing a draft",
    )


class IngestionRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    job = serializers.CharField()
    status = serializers.CharField()
    trigger = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    rows_read = serializers.IntegerField()
    rows_written = serializers.IntegerField()
    rows_rejected = serializers.IntegerField()
    watermark_before = serializers.CharField(allow_blank=True)
    watermark_after = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    rejections = serializers.ListField(child=serializers.DictField())
    requested_by = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


class IngestionJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    connection = serializers.CharField()
    object = serializers.CharField(allow_blank=True)
    query = serializers.CharField(allow_blank=True)
    entity = serializers.CharField()
    mapping = serializers.DictField()
    transform = serializers.CharField(allow_blank=True)
    schedule = serializers.CharField(allow_blank=True)
    schedule_text = serializers.CharField(allow_blank=True, help_text='the schedule in words: "At 02:00 (UTC)"')
    next_runs = serializers.ListField(child=serializers.DateTimeField(), help_text="the next five runs, UTC")
    incremental = IngestionIncrementalSerializer(allow_null=True)
    watermark = serializers.CharField(allow_blank=True)
    batch_size = serializers.IntegerField()
    enabled = serializers.BooleanField()
    draft = serializers.BooleanField(help_text="a draft: saved with its mapping incomplete, never runs")
    mapping_problems = serializers.DictField(
        child=serializers.CharField(),
        help_text='a draft\'s mapping problems, {attribute: reason} ("_mapping": the mapping as a whole); '
        "empty for a published job",
    )
    owner = serializers.CharField(allow_blank=True)
    last_run = IngestionRunSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class IngestionDryRunRowSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["valid", "rejected"])
    source = serializers.DictField()
    stored = serializers.DictField(allow_null=True)
    errors = serializers.DictField(child=serializers.CharField())


class IngestionDryRunSerializer(serializers.Serializer):
    job = serializers.CharField()
    rows_read = serializers.IntegerField()
    rows_valid = serializers.IntegerField()
    rows_rejected = serializers.IntegerField()
    rows = IngestionDryRunRowSerializer(many=True)
