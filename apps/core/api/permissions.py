"""Permission checks within the request's client (tenant): every API view
declares what each method needs, and one class enforces it (docs/access.md).

    class MetricView(APIView):
        required_permissions = by_method(read=Permission.VIEW_METRICS)

    class EntityViewSet(...):
        required_permissions = by_method(read=Permission.VIEW_METRICS, write=Permission.EDIT_ONTOLOGY)

`HasClientPermission` is the default permission class (settings
REST_FRAMEWORK). A method the view declares nothing for is refused (fail
closed); HEAD and OPTIONS need what GET needs (view_metrics when the view
has no GET). The caller's permissions come with their membership
(`ClientAccess.permissions`, one query per request)."""

from collections.abc import Mapping

from rest_framework.permissions import BasePermission

from apps.core.access import Permission, permission_missing_message
from apps.core.api.tenancy import request_client
from apps.core.errors import PermissionDenied

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def by_method(*, read: Permission | None = None, write: Permission | None = None) -> dict[str, str]:
    """A declaration: GET (and HEAD, OPTIONS) need `read`; POST, PUT, PATCH and DELETE need `write`."""
    declared: dict[str, str] = {}
    if read is not None:
        declared["GET"] = read
    if write is not None:
        declared.update(dict.fromkeys(WRITE_METHODS, write))
    return declared


def required_permission(view, method: str) -> str | None:
    """What `method` needs on `view` (None: nothing declared)."""
    declared: Mapping[str, str] | None = getattr(view, "required_permissions", None)
    if not declared:
        return None
    method = method.upper()
    if method in ("HEAD", "OPTIONS"):
        return declared.get("GET") or declared.get("*") or Permission.VIEW_METRICS
    return declared.get(method) or declared.get("*")


def _authenticated(request) -> bool:
    # Checked first: an anonymous caller has no client to resolve (False here is DRF's 401).
    return bool(request.user and request.user.is_authenticated)


def permission_refusal(permission: str, view=None) -> PermissionDenied:
    """The 403 of a caller whose role lacks `permission`: it names the
    permission (and the view's own sentence when it has one)."""
    messages = getattr(view, "permission_denied_messages", None) or {}
    message = permission_missing_message(permission, messages.get(permission))
    return PermissionDenied(message, details={"permission": str(permission)})


class HasClientPermission(BasePermission):
    """The caller is a member of the request's client whose role has the
    permission the view declares for the request's method."""

    def has_permission(self, request, view) -> bool:
        if not _authenticated(request):
            return False
        access = request_client(request)  # raises the tenancy errors (403/400) itself
        needed = required_permission(view, request.method)
        if needed is None:
            if not hasattr(view, request.method.lower()):
                return True  # the view has no such method: dispatch answers 405
            raise PermissionDenied(
                f"This endpoint declares no permission for {request.method}; it is refused to everyone.",
                code="permission_undeclared",
            )
        if not access.has(needed):
            raise permission_refusal(needed, view)
        return True
