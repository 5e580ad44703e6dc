from rest_framework import serializers

from apps.ontology.models import DriftReport


class DriftRunInputSerializer(serializers.Serializer):
    repair = serializers.BooleanField(
        default=True, help_text="false: a dry run that reports what it would repair and changes nothing"
    )


class DriftFindingSerializer(serializers.Serializer):
    entity = serializers.CharField()
    kind = serializers.CharField()
    detail = serializers.CharField()
    action = serializers.ChoiceField(choices=["repaired", "would_repair", "failed", "refused", "reported"])
    column = serializers.CharField(allow_null=True, required=False)
    sql = serializers.ListField(child=serializers.CharField(), help_text="the repair's statements, when it has one")


class DriftReportSerializer(serializers.ModelSerializer):
    findings = DriftFindingSerializer(many=True)

    class Meta:
        model = DriftReport
        fields = ["id", "status", "triggered_by", "created_at", "findings"]
        read_only_fields = fields
