"""JWT authentication that honours revocation (docs/api.md "Revocation").

On top of simplejwt's own checks (signature, expiry, active user, and with
CHECK_REVOKE_TOKEN the digest of the password hash every token carries, so
any password change, whatever path made it, revokes the tokens issued
before it), a token must carry the user's current token generation. The same
checks guard access tokens here, refresh tokens in the refresh and logout
serializers, and `?token=` WebSockets (apps.core.ws_auth)."""

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.tokens import RefreshToken, Token

from apps.core.selectors import token_generation

GENERATION_CLAIM = "gen"


class RevocableRefreshToken(RefreshToken):
    """A refresh token (and the access tokens made from it) stamped with the
    user's token generation."""

    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[GENERATION_CLAIM] = token_generation(user_id=user.pk)
        return token


def token_user(token: Token):
    """The user a validated token (access or refresh) stands for, or
    AuthenticationFailed (401) when it was revoked or its user cannot sign in."""
    return RevocableJWTAuthentication().get_user(token)


class RevocableJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token: Token):
        user = super().get_user(validated_token)
        claimed = validated_token.get(GENERATION_CLAIM, 0)
        if not isinstance(claimed, int) or claimed != token_generation(user_id=user.pk):
            raise AuthenticationFailed(_("This token was revoked; sign in again."), code="token_revoked")
        return user
