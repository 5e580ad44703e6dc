from rest_framework import serializers

from apps.governance.types import SubjectKind


class RowPolicySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    subject_kind = serializers.ChoiceField(choices=[k.value for k in SubjectKind])
    subject_value = serializers.CharField(
        max_length=200, help_text="role code (viewer), directory group object id, or user id"
    )
    entity = serializers.CharField(max_length=100, help_text="the entity code whose rows the predicate limits")
    predicate = serializers.CharField(
        max_length=2000, help_text="formula filter syntax: region = 'EU', sold_by.region = {user.region}, ..."
    )
    is_enabled = serializers.BooleanField(default=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
