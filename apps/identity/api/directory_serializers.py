"""Shapes of the directory API: sync runs, mirrored users and groups, role
mappings and the access audit."""

from rest_framework import serializers


class SyncRunRequestSerializer(serializers.Serializer):
    provider = serializers.IntegerField(help_text="The id of one of the client's identity providers.")


class SyncRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.IntegerField(source="provider_id")
    provider_name = serializers.CharField(source="provider.name")
    status = serializers.CharField(help_text="queued, running, succeeded, failed or skipped")
    trigger = serializers.CharField(help_text="manual or schedule")
    phase = serializers.CharField(help_text="pending, users, groups, roles or done: where a run is")
    mode = serializers.CharField(help_text="delta, or full (no delta link yet, or Graph expired it)")
    pages_read = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    error = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username", default=None)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class DirectoryGroupRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    object_id = serializers.CharField()
    display_name = serializers.CharField()


class DirectoryUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.IntegerField(source="provider_id")
    object_id = serializers.CharField()
    user_principal_name = serializers.CharField()
    display_name = serializers.CharField()
    mail = serializers.CharField()
    account_enabled = serializers.BooleanField()
    attributes = serializers.DictField()
    groups = serializers.SerializerMethodField()
    removed_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    def get_groups(self, obj) -> list[dict]:
        groups = [m.group for m in obj.memberships.all() if m.group.removed_at is None]
        return DirectoryGroupRefSerializer(groups, many=True).data


class DirectoryGroupSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.IntegerField(source="provider_id")
    object_id = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    member_count = serializers.IntegerField()
    removed_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class RoleMappingInputSerializer(serializers.Serializer):
    provider = serializers.IntegerField()
    group_object_id = serializers.CharField(max_length=64, help_text="A group of the provider's directory (its GUID).")
    role_code = serializers.CharField(max_length=63, help_text="A role of the client (admin, analyst, viewer, ...).")
    priority = serializers.IntegerField(
        min_value=0, max_value=1_000_000, default=100, help_text="Lowest wins when several groups map."
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class RoleMappingUpdateSerializer(serializers.Serializer):
    provider = serializers.IntegerField(required=False)
    group_object_id = serializers.CharField(max_length=64, required=False)
    role_code = serializers.CharField(max_length=63, required=False)
    priority = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class RoleMappingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    provider = serializers.IntegerField(source="provider_id")
    group_object_id = serializers.CharField()
    role_code = serializers.CharField()
    priority = serializers.IntegerField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class AccessAuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField(help_text="grant, change or revoke")
    source = serializers.CharField(help_text="admin, sign_in or directory_sync")
    user = serializers.IntegerField(source="user_id", allow_null=True)
    username = serializers.CharField(source="user.username", default=None)
    actor = serializers.CharField(source="actor.username", default=None)
    role = serializers.CharField()
    previous_role = serializers.CharField()
    details = serializers.DictField()
    created_at = serializers.DateTimeField()
