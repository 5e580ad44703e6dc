"""Role checks within the request's client (tenant)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.core.api.tenancy import request_client
from apps.core.models import Membership

EDITOR_ROLES = {Membership.Role.ADMIN, Membership.Role.ANALYST}


class IsClientMember(BasePermission):
    """Any member reads; admins and analysts write."""

    message = "Your role in this client may read but not change definitions."

    def has_permission(self, request, view) -> bool:
        access = request_client(request)  # raises the tenancy errors (403/400) itself
        return request.method in SAFE_METHODS or access.role in EDITOR_ROLES


class IsClientAdmin(BasePermission):
    message = "Only the client's administrators may do this."

    def has_permission(self, request, view) -> bool:
        return request_client(request).role == Membership.Role.ADMIN


class IsClientAdminOrReadOnly(BasePermission):
    """Any member reads; only the client's administrators write."""

    message = "Only the client's administrators may change this."

    def has_permission(self, request, view) -> bool:
        access = request_client(request)
        return request.method in SAFE_METHODS or access.role == Membership.Role.ADMIN
