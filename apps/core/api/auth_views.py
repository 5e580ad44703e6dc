"""The API token endpoint, with the sign-in lockout in the API's error shape."""

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.views import TokenObtainPairView

from apps.core.errors import AppError
from apps.core.login_lockout import LoginLockedOut

# Set on the request by the password backend (apps.identity.password_login)
# when the right password was refused because the user's client switched
# password sign-in off.
PASSWORD_LOGIN_REFUSED = "password_login_refused"  # noqa: S105 - an attribute name


class TokenObtainView(TokenObtainPairView):
    """POST /api/v1/auth/token/. simplejwt authenticates with the request, so
    the lockout (apps.core.login_lockout) counts and refuses these attempts
    too; it then marks the request, and a refusal it caused is a 429
    `too_many_login_failures` with Retry-After, not "wrong password". A right
    password refused because the user's client switched password sign-in
    off is a 403 `password_login_disabled` saying so."""

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            if getattr(request, "axes_locked_out", False):
                raise LoginLockedOut() from None
            refusal = getattr(request, PASSWORD_LOGIN_REFUSED, None)
            if refusal:
                raise AppError(refusal, code="password_login_disabled", status_code=403) from None
            raise
