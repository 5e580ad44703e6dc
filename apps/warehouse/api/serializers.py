from rest_framework import serializers


class MigrationApplyInputSerializer(serializers.Serializer):
    target = serializers.CharField(
        allow_null=True,
        default=None,
        help_text='null (every app), "app_label" (its latest) or "app_label.migration_name" ("app_label.zero")',
    )
    allow_backwards = serializers.BooleanField(
        default=False, help_text="allow a target behind the applied state (unapplying can drop data)"
    )


class TimescaleValidationSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    problems = serializers.ListField(child=serializers.CharField())
    extension_installed = serializers.BooleanField()
    version = serializers.CharField(allow_null=True)
    available_version = serializers.CharField(allow_null=True)
    license = serializers.CharField(allow_null=True)
    continuous_aggregates = serializers.BooleanField()
    role = serializers.CharField()
    is_superuser = serializers.BooleanField()
    schema = serializers.CharField()
    schema_exists = serializers.BooleanField()
    schema_owner = serializers.CharField(allow_null=True)
    owns_schema = serializers.BooleanField()
    can_create_in_schema = serializers.BooleanField()
    can_create_schema = serializers.BooleanField()


class MigrationStateSerializer(serializers.Serializer):
    name = serializers.CharField()
    applied = serializers.BooleanField()
    applied_at = serializers.CharField(allow_null=True)


class AppMigrationsSerializer(serializers.Serializer):
    app = serializers.CharField()
    applied = serializers.ListField(child=serializers.CharField())
    pending = serializers.ListField(child=serializers.CharField())
    migrations = MigrationStateSerializer(many=True)


class MigrationStatusSerializer(serializers.Serializer):
    timescaledb = TimescaleValidationSerializer()
    apps = AppMigrationsSerializer(many=True)
    pending = serializers.ListField(child=serializers.CharField())
    conflicts = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    unknown_applied = serializers.ListField(child=serializers.CharField())


class PendingSqlSerializer(serializers.Serializer):
    app = serializers.CharField()
    name = serializers.CharField()
    sql = serializers.CharField(allow_blank=True)


class PendingSqlListSerializer(serializers.Serializer):
    migrations = PendingSqlSerializer(many=True)


class ApplyResultSerializer(serializers.Serializer):
    target = serializers.CharField(allow_null=True)
    applied = serializers.ListField(child=serializers.CharField())
    unapplied = serializers.ListField(child=serializers.CharField())
    output = serializers.CharField(allow_blank=True)
