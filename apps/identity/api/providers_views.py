"""The caller's client's identity providers: list, create, read, change,
delete. Identity configuration is access management: only the client's
administrators (manage_access once roles land) use it, reads included
(tenant and application ids are not for every member)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.response import Response

from apps.core.access import Permission
from apps.core.api.permissions import by_method
from apps.core.api.tenancy import request_client
from apps.core.errors import AppError
from apps.identity.api import providers_serializers as s
from apps.identity.selectors.providers import provider_get, provider_list
from apps.identity.services.providers import (
    identity_provider_create,
    identity_provider_delete,
    identity_provider_update,
)

ERRORS = {
    400: OpenApiResponse(description="A field is invalid (GUIDs, https authority, domains) or a domain is taken."),
    403: OpenApiResponse(description="Only the client's administrators manage identity providers."),
    404: OpenApiResponse(description="No such provider in this client."),
    409: OpenApiResponse(description="The client already has a provider with this name or tenant."),
}


@extend_schema_view(
    list=extend_schema(operation_id="identity_providers_list"),
    retrieve=extend_schema(
        operation_id="identity_providers_get", responses={200: s.IdentityProviderOutputSerializer, **ERRORS}
    ),
    destroy=extend_schema(operation_id="identity_providers_delete", responses={204: None, **ERRORS}),
)
class IdentityProviderViewSet(viewsets.GenericViewSet):
    required_permissions = by_method(read=Permission.MANAGE_ACCESS, write=Permission.MANAGE_ACCESS)
    serializer_class = s.IdentityProviderOutputSerializer
    lookup_value_regex = "[^/]+"

    @property
    def client_id(self) -> int:
        return request_client(self.request).client_id

    def get_queryset(self):
        return provider_list(client_id=self.client_id)

    def get_object(self):
        return provider_get(client_id=self.client_id, provider_id=self.kwargs["pk"])

    def _validated(self, serializer_class) -> dict:
        if not isinstance(self.request.data, dict):
            raise AppError("The body must be a JSON object.", code="invalid")
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.IdentityProviderOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="identity_providers_create",
        request=s.IdentityProviderInputSerializer,
        responses={201: s.IdentityProviderOutputSerializer, **ERRORS},
    )
    def create(self, request):
        provider = identity_provider_create(
            client_id=self.client_id, **self._validated(s.IdentityProviderInputSerializer)
        )
        return Response(s.IdentityProviderOutputSerializer(provider).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(s.IdentityProviderOutputSerializer(self.get_object()).data)

    @extend_schema(
        operation_id="identity_providers_update",
        request=s.IdentityProviderUpdateSerializer,
        responses={200: s.IdentityProviderOutputSerializer, **ERRORS},
    )
    def partial_update(self, request, pk=None):
        provider = identity_provider_update(
            provider=self.get_object(), **self._validated(s.IdentityProviderUpdateSerializer)
        )
        return Response(s.IdentityProviderOutputSerializer(provider).data)

    def destroy(self, request, pk=None):
        identity_provider_delete(provider=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
