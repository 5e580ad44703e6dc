"""The directory API of the caller's client: directory sync runs (start one,
follow its progress), the mirrored users and groups, role mappings and the
access audit. Everything here manages access: administrators only."""

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.query_params import unknown_parameters_refuse
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.identity.api import directory_serializers as s
from apps.identity.models import AccessAuditEntry, DirectoryGroup, DirectorySyncRun, DirectoryUser, RoleMapping
from apps.identity.selectors import directory as selectors
from apps.identity.services import role_mapping as mapping_services
from apps.identity.services.sync_requests import directory_sync_request

PAGING = {"page", "page_size", "client", "format"}


def _int_param(request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit():
        raise AppError(f"{name}: expected an id (a whole number), got {value!r}.", details={name: ["Not an id."]})
    return int(value)


def _bool_param(request, name: str) -> bool:
    value = (request.query_params.get(name) or "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise AppError(f"{name}: expected true or false, got {value!r}.", details={name: ["Not a boolean."]})
    return value in ("true", "1")


class _ClientViewSet(viewsets.GenericViewSet):
    required_permissions = by_method(read=Permission.MANAGE_ACCESS, write=Permission.MANAGE_ACCESS)
    lookup_value_regex = "[0-9]+"  # ids; anything else is not found
    filters: frozenset[str] = frozenset()

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def _params(self) -> None:
        unknown_parameters_refuse(self.request.query_params.keys(), PAGING | self.filters)

    def _valid(self, serializer_class) -> dict:
        if not isinstance(self.request.data, dict):
            raise AppError("The body must be a JSON object.", code="invalid")
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _page(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


PROVIDER = OpenApiParameter("provider", int, description="Only this identity provider's")


class SyncRunViewSet(_ClientViewSet):
    queryset = DirectorySyncRun.objects.none()  # the schema's id type; rows come from the selectors, per client
    serializer_class = s.SyncRunSerializer
    filters = frozenset({"provider"})

    @extend_schema(parameters=[PROVIDER])
    def list(self, request):
        """Directory sync runs, newest first, with status, progress and counts."""
        self._params()
        runs = selectors.sync_runs(client_id=self.client_id, provider_id=_int_param(request, "provider"))
        return self._page(runs, s.SyncRunSerializer)

    def retrieve(self, request, pk=None):
        """One run: poll it to follow its progress (phase, pages read, counts)."""
        return Response(s.SyncRunSerializer(selectors.sync_run_get(client_id=self.client_id, run_id=int(pk))).data)

    @extend_schema(request=s.SyncRunRequestSerializer, responses={202: s.SyncRunSerializer})
    def create(self, request):
        """Sync a provider's directory now. Answers 202 with the queued run."""
        data = self._valid(s.SyncRunRequestSerializer)
        run = directory_sync_request(client_id=self.client_id, provider_id=data["provider"], requested_by=request.user)
        return Response(s.SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class DirectoryUserViewSet(_ClientViewSet):
    queryset = DirectoryUser.objects.none()  # the schema's id type; rows come from the selectors, per client
    serializer_class = s.DirectoryUserSerializer
    filters = frozenset({"provider", "include_removed"})

    @extend_schema(parameters=[PROVIDER, OpenApiParameter("include_removed", bool)])
    def list(self, request):
        """The users mirrored from the directory, with their groups."""
        self._params()
        users = selectors.directory_users(
            client_id=self.client_id,
            provider_id=_int_param(request, "provider"),
            include_removed=_bool_param(request, "include_removed"),
        )
        return self._page(users, s.DirectoryUserSerializer)

    def retrieve(self, request, pk=None):
        user = selectors.directory_user_get(client_id=self.client_id, user_id=int(pk))
        return Response(s.DirectoryUserSerializer(user).data)


class DirectoryGroupViewSet(_ClientViewSet):
    queryset = DirectoryGroup.objects.none()  # the schema's id type; rows come from the selectors, per client
    serializer_class = s.DirectoryGroupSerializer
    filters = frozenset({"provider", "include_removed"})

    @extend_schema(parameters=[PROVIDER, OpenApiParameter("include_removed", bool)])
    def list(self, request):
        """The groups mirrored from the directory, with their member counts."""
        self._params()
        groups = selectors.directory_groups(
            client_id=self.client_id,
            provider_id=_int_param(request, "provider"),
            include_removed=_bool_param(request, "include_removed"),
        )
        return self._page(groups, s.DirectoryGroupSerializer)

    def retrieve(self, request, pk=None):
        group = selectors.directory_group_get(client_id=self.client_id, group_id=int(pk))
        return Response(s.DirectoryGroupSerializer(group).data)


class RoleMappingViewSet(_ClientViewSet):
    queryset = RoleMapping.objects.none()  # the schema's id type; rows come from the selectors, per client
    serializer_class = s.RoleMappingSerializer
    filters = frozenset({"provider"})

    def get_object(self):
        return selectors.role_mapping_get(client_id=self.client_id, mapping_id=int(self.kwargs["pk"]))

    @extend_schema(parameters=[PROVIDER])
    def list(self, request):
        """Rules from a directory group to a client role, by provider and priority."""
        self._params()
        mappings = selectors.role_mappings(client_id=self.client_id, provider_id=_int_param(request, "provider"))
        return self._page(mappings, s.RoleMappingSerializer)

    def retrieve(self, request, pk=None):
        return Response(s.RoleMappingSerializer(self.get_object()).data)

    @extend_schema(request=s.RoleMappingInputSerializer, responses={201: s.RoleMappingSerializer})
    def create(self, request):
        """A new rule: members of the group get the role at the next sync or sign-in."""
        data = self._valid(s.RoleMappingInputSerializer)
        mapping = mapping_services.role_mapping_create(
            client_id=self.client_id, provider_id=data.pop("provider"), **data
        )
        return Response(s.RoleMappingSerializer(mapping).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RoleMappingUpdateSerializer, responses=s.RoleMappingSerializer)
    def partial_update(self, request, pk=None):
        mapping = self.get_object()
        changes = self._valid(s.RoleMappingUpdateSerializer)
        if "provider" in changes:
            changes["provider_id"] = changes.pop("provider")
        mapping = mapping_services.role_mapping_update(mapping=mapping, **changes)
        return Response(s.RoleMappingSerializer(mapping).data)

    def destroy(self, request, pk=None):
        """Remove a rule; the roles it gave go at the next sync or sign-in."""
        mapping_services.role_mapping_delete(mapping=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccessAuditViewSet(_ClientViewSet):
    queryset = AccessAuditEntry.objects.none()  # the schema's id type; rows come from the selectors, per client
    serializer_class = s.AccessAuditEntrySerializer
    filters = frozenset({"user", "since"})

    @extend_schema(
        parameters=[
            OpenApiParameter("user", int, description="Only entries about this user (id)"),
            OpenApiParameter("since", str, description="Only entries at or after this ISO 8601 date-time"),
        ]
    )
    def list(self, request):
        """Every grant, change and revoke of a role in the client, newest first."""
        self._params()
        since = None
        raw = request.query_params.get("since")
        if raw:
            try:
                since = parse_datetime(raw)
            except ValueError:
                since = None
            if since is None or since.tzinfo is None:
                raise AppError(
                    f"since: expected an ISO 8601 date-time with a time zone (2026-01-31T00:00:00Z), got {raw!r}.",
                    details={"since": ["Not an ISO 8601 date-time with a time zone."]},
                )
        entries = selectors.access_audit(client_id=self.client_id, user_id=_int_param(request, "user"), since=since)
        return self._page(entries, s.AccessAuditEntrySerializer)
