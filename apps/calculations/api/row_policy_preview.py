"""`POST /api/v1/row-policies/preview` (docs/access.md, "Row policies"):
what a member would see. The metric is computed under that member's row
policies (their role, directory groups and id; their placeholder values)
next to the unrestricted value, neither recorded nor published. For the
client's administrators (permission `manage_access`)."""

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.calculations.api import serializers as s
from apps.calculations.api.params import moment_parse
from apps.calculations.orchestrator import default_range
from apps.calculations.selectors import row_policy_preview
from apps.calculations.types import Granularity, MetricQuery
from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client


class PreviewRequestSerializer(serializers.Serializer):
    user = serializers.CharField(help_text="the member's user id or username")
    metric = serializers.CharField()
    start = serializers.CharField(required=False, help_text="ISO 8601 with offset, or a date")
    end = serializers.CharField(required=False)
    granularity = serializers.ChoiceField(choices=[g.value for g in Granularity], default="day")


class PreviewPolicySerializer(serializers.Serializer):
    entity = serializers.CharField()
    predicates = serializers.ListField(child=serializers.CharField())


class PreviewResultSerializer(serializers.Serializer):
    user = serializers.DictField()
    restricted = serializers.BooleanField()
    policies = PreviewPolicySerializer(many=True)
    restricted_result = s.MetricResultSerializer(help_text="the metric under the member's row policies")
    unrestricted_result = s.MetricResultSerializer(help_text="the metric without row policies")


class RowPolicyPreviewView(APIView):
    required_permissions = by_method(read=Permission.MANAGE_ACCESS, write=Permission.MANAGE_ACCESS)

    @extend_schema(
        request=PreviewRequestSerializer, responses=PreviewResultSerializer, operation_id="row_policies_preview"
    )
    def post(self, request: Request) -> Response:
        serializer = PreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        client_id = request_client(request).client_id
        default_start, default_end = default_range()
        query = MetricQuery(
            metric=data["metric"],
            start=moment_parse(data["start"], name="start") if data.get("start") else default_start,
            end=moment_parse(data["end"], name="end") if data.get("end") else default_end,
            granularity=Granularity(data["granularity"]),
        )
        preview = row_policy_preview(client_id=client_id, user=data["user"], query=query)
        body = {
            "user": {"id": preview.user_id, "username": preview.username, "role": preview.role},
            "restricted": preview.restricted,
            "policies": [{"entity": p.entity, "predicates": list(p.predicates)} for p in preview.policies],
            "restricted_result": asdict(preview.restricted_result),
            "unrestricted_result": asdict(preview.unrestricted_result),
        }
        return Response(PreviewResultSerializer(body).data)
