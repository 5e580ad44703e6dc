"""The API token endpoint, with the sign-in lockout in the API's error shape."""

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.views import TokenObtainPairView

from apps.core.login_lockout import LoginLockedOut


class TokenObtainView(TokenObtainPairView):
    """POST /api/v1/auth/token/. simplejwt authenticates with the request, so
    the lockout (apps.core.login_lockout) counts and refuses these attempts
    too; it then marks the request, and a refusal it caused is a 429
    `too_many_login_failures` with Retry-After, not "wrong password"."""

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            if getattr(request, "axes_locked_out", False):
                raise LoginLockedOut() from None
            raise
