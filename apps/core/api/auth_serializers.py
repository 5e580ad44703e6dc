"""Token obtain, refresh (rotation) and logout (docs/api.md "Authentication")."""

from typing import Any

from django.db import transaction
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from apps.core.api.authentication import RevocableRefreshToken, token_user


class TokenObtainSerializer(TokenObtainPairSerializer):
    token_class = RevocableRefreshToken


def _refresh_token(raw: str) -> RevocableRefreshToken:
    """A refresh token that is well signed, unexpired and not on the deny list."""
    try:
        return RevocableRefreshToken(raw)
    except TokenError as exc:
        raise InvalidToken({"detail": str(exc.args[0]), "code": "token_not_valid"}) from exc


def refresh_token_spend(token: RevocableRefreshToken, user) -> None:
    """Put the token on the deny list, once: of two requests presenting the
    same token at the same moment, exactly one gets here first (the deny list
    row is unique per token); the other is refused as a reused token."""
    with transaction.atomic():
        outstanding, _ = OutstandingToken.objects.get_or_create(
            jti=token[api_settings.JTI_CLAIM],
            defaults={
                "user": user,
                "token": str(token),
                "created_at": token.current_time,
                "expires_at": datetime_from_epoch(token["exp"]),
            },
        )
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    if not created:
        raise InvalidToken({"detail": "Token is blacklisted", "code": "token_not_valid"})


class TokenRefreshSerializer(serializers.Serializer):
    """A refresh token is good for one refresh: the answer carries a new one,
    and the one presented goes on the deny list."""

    refresh = serializers.CharField()  # in: the token to spend; out: its successor
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        token = _refresh_token(attrs["refresh"])
        user = token_user(token)
        refresh_token_spend(token, user)
        fresh = RevocableRefreshToken.for_user(user)
        return {"access": str(fresh.access_token), "refresh": str(fresh)}


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField(write_only=True)
    all = serializers.BooleanField(default=False, write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        token = _refresh_token(attrs["refresh"])
        user = token_user(token)
        return {"token": token, "user": user, "all": attrs["all"]}
