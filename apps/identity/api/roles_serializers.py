"""Roles, members and the permission vocabulary over the API (docs/access.md)."""

from rest_framework import serializers


class PermissionSerializer(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField()


class RoleSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    is_seeded = serializers.BooleanField()
    member_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RoleCreateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=63)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    # Checked against the vocabulary by the service (400 naming an unknown code).
    permissions = serializers.ListField(child=serializers.CharField(max_length=40), allow_empty=True)


class RoleUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    permissions = serializers.ListField(child=serializers.CharField(max_length=40), required=False, allow_empty=True)


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="membership_id")
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    role = serializers.CharField()
    is_default = serializers.BooleanField()


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.CharField(max_length=63)
