"""`/api/v1/row-policies/` (docs/access.md, "Row policies"): list, create,
read, change and delete a client's row policies. Managing access: the
client's administrators only (permission `manage_access`); another
client's policy answers 404. The preview is in the calculations API (it
computes a metric): apps/calculations/api/row_policy_preview.py."""

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.governance.api.serializers import RowPolicySerializer
from apps.governance.selectors import row_policies_list, row_policy_get
from apps.governance.services import row_policy_create, row_policy_delete, row_policy_update

ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="the row policy's id")


def _id(pk: str) -> int:
    if not str(pk).isdigit():
        raise AppError(f"{pk!r} is not a row policy id.", code="not_found", status_code=404)
    return int(pk)


@extend_schema_view(
    list=extend_schema(operation_id="row_policies_list"),
    create=extend_schema(operation_id="row_policies_create"),
    retrieve=extend_schema(operation_id="row_policies_retrieve", parameters=[ID]),
    partial_update=extend_schema(operation_id="row_policies_partial_update", parameters=[ID]),
    update=extend_schema(operation_id="row_policies_update", parameters=[ID]),
    destroy=extend_schema(operation_id="row_policies_destroy", parameters=[ID]),
)
class RowPolicyViewSet(viewsets.ViewSet):
    required_permissions = by_method(read=Permission.MANAGE_ACCESS, write=Permission.MANAGE_ACCESS)
    serializer_class = RowPolicySerializer

    def list(self, request: Request) -> Response:
        policies = row_policies_list(client_id=request_client(request).client_id)
        return Response(RowPolicySerializer([asdict(p) for p in policies], many=True).data)

    def create(self, request: Request) -> Response:
        serializer = RowPolicySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = row_policy_create(client_id=request_client(request).client_id, fields=dict(serializer.validated_data))
        return Response(RowPolicySerializer(asdict(policy)).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: str) -> Response:
        policy = row_policy_get(client_id=request_client(request).client_id, policy_id=_id(pk))
        return Response(RowPolicySerializer(asdict(policy)).data)

    def update(self, request: Request, pk: str) -> Response:
        return self._change(request, pk, partial=False)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self._change(request, pk, partial=True)

    def _change(self, request: Request, pk: str, *, partial: bool) -> Response:
        client_id = request_client(request).client_id
        row_policy_get(client_id=client_id, policy_id=_id(pk))  # 404 before validating the body
        serializer = RowPolicySerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        policy = row_policy_update(client_id=client_id, policy_id=_id(pk), changes=dict(serializer.validated_data))
        return Response(RowPolicySerializer(asdict(policy)).data)

    def destroy(self, request: Request, pk: str) -> Response:
        row_policy_delete(client_id=request_client(request).client_id, policy_id=_id(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
