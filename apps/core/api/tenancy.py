"""How an API request names the client (tenant) it acts for."""

from rest_framework.request import Request

from apps.core.selectors import ClientAccess, client_resolve

CLIENT_HEADER = "X-Client"


def request_client(request: Request) -> ClientAccess:
    """The caller's client: `X-Client` header or `?client=`, else their default.
    Resolved once per request (the rate limiter and the view both ask)."""
    access = getattr(request, "_client_access", None)
    if access is None:
        code = request.headers.get(CLIENT_HEADER) or request.query_params.get("client")
        access = client_resolve(user=request.user, code=code)
        request._client_access = access
    return access
