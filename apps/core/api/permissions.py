"""Role checks within the request's client (tenant)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.core.api.tenancy import request_client
from apps.core.models import Membership

EDITOR_ROLES = {Membership.Role.ADMIN, Membership.Role.ANALYST}


def _authenticated(request) -> bool:
    # Checked first: these classes replace DRF's default IsAuthenticated, and an
    # anonymous caller has no client to resolve (False here is DRF's 401).
    return bool(request.user and request.user.is_authenticated)


class IsClientMember(BasePermission):
    """Any member reads; admins and analysts write."""

    message = "Your role in this client may read but not change definitions."

    def has_permission(self, request, view) -> bool:
        if not _authenticated(request):
            return False
        access = request_client(request)  # raises the tenancy errors (403/400) itself
        return request.method in SAFE_METHODS or access.role in EDITOR_ROLES


class IsClientReader(BasePermission):
    """Any member, whatever the method: endpoints that only read even when
    they take a body (ad-hoc queries)."""

    def has_permission(self, request, view) -> bool:
        return _authenticated(request) and request_client(request) is not None


class IsClientAdmin(BasePermission):
    message = "Only the client's administrators may do this."

    def has_permission(self, request, view) -> bool:
        return _authenticated(request) and request_client(request).role == Membership.Role.ADMIN


class IsClientAdminOrReadOnly(BasePermission):
    """Any member reads; only the client's administrators write."""

    message = "Only the client's administrators may change this."

    def has_permission(self, request, view) -> bool:
        if not _authenticated(request):
            return False
        access = request_client(request)
        return request.method in SAFE_METHODS or access.role == Membership.Role.ADMIN
