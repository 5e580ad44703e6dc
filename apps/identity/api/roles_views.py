"""Roles, members' roles and the permission vocabulary (docs/access.md).
Roles and members need the permission manage_access; the vocabulary is the
same for everyone and any signed-in user reads it."""

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import NotFound
from apps.identity.api import roles_serializers as s
from apps.identity.selectors.roles import member_list, role_get, role_list
from apps.identity.services.roles import member_role_change, role_create, role_delete, role_update


class PermissionListView(APIView):
    """Every permission a role can hold, with what it allows."""

    # The vocabulary is no client's data: any signed-in user.
    permission_classes = (IsAuthenticated,)

    @extend_schema(responses=s.PermissionSerializer(many=True), operation_id="permissions_list")
    def get(self, request: Request) -> Response:
        body = [{"code": p.value, "description": p.description} for p in Permission]
        return Response(s.PermissionSerializer(body, many=True).data)


class RoleViewSet(viewsets.ViewSet):
    """The client's roles: list, create, read, change (name, description,
    permissions), delete (not a seeded role, not one members hold)."""

    required_permissions = by_method(read=Permission.MANAGE_ACCESS, write=Permission.MANAGE_ACCESS)
    lookup_field = "code"
    lookup_value_regex = "[^/]+"

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    @extend_schema(responses=s.RoleSerializer(many=True), operation_id="roles_list")
    def list(self, request: Request) -> Response:
        return Response(s.RoleSerializer([asdict(r) for r in role_list(client_id=self.client_id)], many=True).data)

    @extend_schema(request=s.RoleCreateSerializer, responses={201: s.RoleSerializer}, operation_id="roles_create")
    def create(self, request: Request) -> Response:
        data = s.RoleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        role = role_create(client_id=self.client_id, **data.validated_data)
        return Response(s.RoleSerializer(asdict(role)).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.RoleSerializer, operation_id="roles_retrieve")
    def retrieve(self, request: Request, code: str) -> Response:
        return Response(s.RoleSerializer(asdict(role_get(client_id=self.client_id, code=code))).data)

    @extend_schema(request=s.RoleUpdateSerializer, responses=s.RoleSerializer, operation_id="roles_partial_update")
    def partial_update(self, request: Request, code: str) -> Response:
        data = s.RoleUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        role = role_update(client_id=self.client_id, code=code, **data.validated_data)
        return Response(s.RoleSerializer(asdict(role)).data)

    @extend_schema(responses={204: None}, operation_id="roles_destroy")
    def destroy(self, request: Request, code: str) -> Response:
        role_delete(client_id=self.client_id, code=code)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberViewSet(viewsets.ViewSet):
    """The client's members and their roles; PATCH gives a member another role
    of the client (their open sockets re-check at once)."""

    required_permissions = by_method(read=Permission.MANAGE_ACCESS, write=Permission.MANAGE_ACCESS)
    lookup_value_regex = "[^/]+"

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    @extend_schema(responses=s.MemberSerializer(many=True), operation_id="members_list")
    def list(self, request: Request) -> Response:
        members = [asdict(m) for m in member_list(client_id=self.client_id)]
        return Response(s.MemberSerializer(members, many=True).data)

    @extend_schema(
        request=s.MemberUpdateSerializer, responses=s.MemberSerializer, operation_id="members_partial_update"
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        if not pk.isdigit():
            raise NotFound(f"No member {pk!r} in this client.")
        data = s.MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member_role_change(
            client_id=self.client_id, membership_id=int(pk), role=data.validated_data["role"], actor_id=request.user.pk
        )
        member = member_list(client_id=self.client_id, membership_id=int(pk))[0]
        return Response(s.MemberSerializer(asdict(member)).data)
