"""Which client (tenant) the console acts for. A user of several clients picks
one with the tenant switcher (stored in the session); otherwise their default,
else their first. Every console page reads data of `request.console_client`
only: an object of another client answers 404, as if it did not exist."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.access import Permission
from apps.core.api.permissions import by_method, required_permission
from apps.core.selectors import ClientAccess, user_clients
from apps.web.htmx import is_fragment

SESSION_KEY = "ae_console_client"


def console_clients(request: HttpRequest) -> list[ClientAccess]:
    """The user's active clients, default first (read once per request)."""
    if not hasattr(request, "_console_clients"):
        request._console_clients = user_clients(user=request.user) if request.user.is_authenticated else []
    return request._console_clients


def console_client(request: HttpRequest) -> ClientAccess | None:
    """The client the console acts for, or None for a user of no client."""
    clients = console_clients(request)
    chosen = request.session.get(SESSION_KEY)
    for access in clients:
        if access.code == chosen:
            return access
    return clients[0] if clients else None


def console_client_choose(request: HttpRequest, code: str) -> ClientAccess | None:
    """Switch the console to client `code`; None (and nothing changed) when the
    user is not a member of it."""
    for access in console_clients(request):
        if access.code == code:
            request.session[SESSION_KEY] = access.code
            return access
    return None


def console_allows(request: HttpRequest, permission: str) -> bool:
    """Whether the console's user has `permission` in the current client."""
    access = getattr(request, "console_client", None) or console_client(request)
    return access is not None and access.has(permission)


def can_edit(request: HttpRequest) -> bool:
    """Whether the console's user may change the current client's definitions."""
    return console_allows(request, Permission.EDIT_ONTOLOGY)


def client_required(
    *, read: Permission, write: Permission | None = None, refused: str = "Your role in this client does not allow this"
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A console page: signed in, acting for a client (`request.console_client`),
    whose role has the permission the page declares for the method: `read` for
    GET (and HEAD), `write` for POST, PUT, PATCH and DELETE. A user of no
    client sees the page that says so (403), never another's data; a role
    without the permission a 403 naming it (`refused` says what was refused).
    The declaration is kept on the view (`required_permissions`), where the
    URL-walking test reads it."""
    declared = by_method(read=read, write=write)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            access = console_client(request)
            if access is None:
                return render(request, "web/no_client.html", status=403)
            request.console_client = access
            needed = required_permission(wrapper, request.method)
            if needed is None or not access.has(needed):
                template = "web/_permission_missing.html" if is_fragment(request) else "web/permission_missing.html"
                context = {"permission": needed or "(undeclared)", "refused_message": refused}
                return render(request, template, context, status=403)
            return view(request, *args, **kwargs)

        wrapper.required_permissions = declared
        return wrapper

    return decorator


def console_context(request: HttpRequest) -> dict:
    """Template context for the layout: the tenant switcher's clients and the
    current one."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "console_clients": console_clients(request),
        "console_client": console_client(request),
        "console_can_edit": can_edit(request),
    }
