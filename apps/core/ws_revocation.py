"""Revocation for open WebSockets (docs/live.md "Revocation").

A socket's right to stream is checked at connect and then again:

- at once, when told: the services that change what a user may do
  (membership removed, role changed, token generation bumped, password
  changed, session logout) send `auth.recheck` to the user's group after commit
  (`user_sockets_recheck`); every socket of the user is in that group;
- at its credential's expiry: the access token's `exp`, or the session's
  expiry date (a session extended meanwhile is simply checked again later);
- every WS_RECHECK_SECONDS, which also catches what no message announced
  (a membership deleted in a shell, a message lost while Redis was away).

A socket whose credentials no longer hold closes with 4401 ("token expired",
"credentials revoked"); one whose client membership is gone with 4403; a role
change drops the subscriptions the new role may not see (an `unsubscribed`
frame with `reason: "forbidden"`) and keeps the socket. A change of the
role's permissions (apps.identity.services.roles.role_update) re-checks its
members' sockets the same way: a role that loses view_metrics drops its
members' metric subscriptions.
"""

import asyncio
import importlib
import logging
import time
from dataclasses import dataclass
from types import SimpleNamespace

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user
from django.db import transaction
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from apps.core.api.authentication import token_user
from apps.core.bearer_tokens import BearerRefused, bearer_verify
from apps.core.errors import AppError
from apps.core.realtime import ChannelRequest, channel_authorize
from apps.core.selectors import ClientAccess, client_resolve

logger = logging.getLogger(__name__)

CLOSE_REVOKED = 4401
CLOSE_MEMBERSHIP_GONE = 4403


def user_group(user_id: int) -> str:
    return f"auth.user.{user_id}"


def _recheck_send(user_id: int) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": "auth.recheck"})
    except Exception as exc:
        # Runs after commit: a failure here must not turn a done change into an
        # error. The periodic re-check (WS_RECHECK_SECONDS) closes the socket anyway.
        logger.warning("could not tell user %s's sockets to re-check: %s", user_id, exc)


def user_sockets_recheck(*, user_id: int) -> None:
    """Every open socket of this user re-checks its credentials, membership and
    subscriptions, once the current transaction committed."""
    transaction.on_commit(lambda: _recheck_send(user_id))


@dataclass(frozen=True)
class Verdict:
    close_code: int | None = None
    reason: str = ""
    access: ClientAccess | None = None
    expires_at: float | None = None


def _credentials_hold(scope: dict, user_id: int) -> tuple[bool, float | None]:
    """Whether the socket's credential still stands for this user, and when it
    expires (epoch seconds)."""
    token = scope.get("auth_token")
    if token is not None:
        if time.time() >= token["exp"]:
            return False, token["exp"]
        try:
            user = token_user(token)
        except (AuthenticationFailed, InvalidToken, TokenError):
            return False, token["exp"]
        return user.pk == user_id, token["exp"]
    bearer = scope.get("auth_bearer")
    if bearer is not None:
        # A provider's token: verified again in full (its user deactivated,
        # its provider disabled or its keys rotated away: no longer holds).
        if time.time() >= bearer.expires_at:
            return False, bearer.expires_at
        try:
            again = bearer_verify(bearer.raw)
        except BearerRefused:
            return False, bearer.expires_at
        return again is not None and again.user.pk == user_id, bearer.expires_at
    session = scope.get("session")
    if session is None or not session.session_key:
        return False, None
    # A fresh read of the store: logout flushed it, a password change no longer
    # matches its hash, a deactivated user no longer authenticates.
    store = importlib.import_module(settings.SESSION_ENGINE).SessionStore(session_key=session.session_key)
    user = get_user(SimpleNamespace(session=store))
    if not user.is_authenticated or user.pk != user_id:
        return False, None
    return True, _session_expiry(store)


def _session_expiry(store) -> float | None:
    """When a stored session ends (database-backed sessions record it; for
    others the periodic re-check finds the end)."""
    model = getattr(store, "model", None)
    if model is None or not store.session_key:
        return None
    expires = model.objects.filter(session_key=store.session_key).values_list("expire_date", flat=True).first()
    return expires.timestamp() if expires else None


def socket_verdict(*, scope: dict, user_id: int, client_code: str) -> Verdict:
    """What an open socket should do now (sync: database reads). A lost
    membership is named first: removing a user's last membership revokes
    their tokens too, and 4403 says why."""
    try:
        access = client_resolve(user=scope["user"], code=client_code)
    except AppError:
        return Verdict(CLOSE_MEMBERSHIP_GONE, "membership removed")
    holds, expires_at = _credentials_hold(scope, user_id)
    if not holds:
        expired = expires_at is not None and time.time() >= expires_at
        return Verdict(CLOSE_REVOKED, "token expired" if expired else "credentials revoked")
    return Verdict(access=access, expires_at=expires_at)


def credential_expiry(scope: dict) -> float | None:
    token = scope.get("auth_token")
    if token is not None:
        return float(token["exp"])
    if scope.get("auth_bearer") is not None:
        return scope["auth_bearer"].expires_at
    session = scope.get("session")
    if session is None or not session.session_key:
        return None
    return _session_expiry(importlib.import_module(settings.SESSION_ENGINE).SessionStore(session.session_key))


class RevocableSocket:
    """Mixed into the /ws/ consumer: joins the user's group, re-checks on
    `auth.recheck`, at expiry and periodically, and closes or trims the socket.
    The consumer provides `subscriptions`, `client_id`, `user_id`, `role`, `permissions`,
    `_emit`, `_unsubscribe_quietly` and `_shut`."""

    async def revocation_start(self, access: ClientAccess) -> None:
        self.client_code = access.code
        self.credential_expires_at = await database_sync_to_async(credential_expiry)(self.scope)
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        self.guard_task = asyncio.create_task(self._guard())

    async def revocation_stop(self) -> None:
        task = getattr(self, "guard_task", None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if getattr(self, "client_code", None) is not None:
            try:
                await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
            except Exception as exc:  # the membership lapses with group_expiry; closing must go on
                logger.warning("could not leave the socket's user group: %s", exc)

    def credential_expired(self) -> bool:
        expires_at = getattr(self, "credential_expires_at", None)
        return expires_at is not None and time.time() >= expires_at

    async def auth_recheck(self, message: dict) -> None:
        await self._recheck(reauthorize=True)

    async def _guard(self) -> None:
        while True:
            wait = settings.WS_RECHECK_SECONDS
            if self.credential_expires_at is not None:
                wait = min(wait, max(0.0, self.credential_expires_at - time.time()))
            await asyncio.sleep(wait)
            token_socket = self.scope.get("auth_token") is not None or self.scope.get("auth_bearer") is not None
            if self.credential_expired() and token_socket:
                await self._shut(CLOSE_REVOKED, "token expired")
                return
            await self._recheck(reauthorize=False)
            if self.dropped:
                return
            try:
                # Group memberships expire on the channel layer (group_expiry): renew.
                await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
            except Exception as exc:  # Redis away: the next round tries again; the checks go on
                logger.warning("could not renew the socket's user group: %s", exc)

    async def _recheck(self, *, reauthorize: bool) -> None:
        if self.dropped:
            return
        try:
            verdict = await database_sync_to_async(socket_verdict)(
                scope=self.scope, user_id=self.user_id, client_code=self.client_code
            )
        except Exception:
            # A database hiccup is not a revocation; the next check decides.
            logger.exception("websocket re-check failed")
            return
        if verdict.close_code is not None:
            await self._shut(verdict.close_code, verdict.reason)
            return
        # An end date already past on a credential that still holds (a session
        # engine that caches past the stored date) would spin the guard: rely
        # on the periodic re-check then.
        expires_at = verdict.expires_at
        self.credential_expires_at = expires_at if expires_at is None or expires_at > time.time() else None
        access = verdict.access
        if reauthorize or access.role != self.role or access.permissions != self.permissions:
            self.role, self.permissions = access.role, access.permissions
            await self._subscriptions_reauthorize()

    async def _subscriptions_reauthorize(self) -> None:
        for channel in list(self.subscriptions):
            request = ChannelRequest(
                client_id=self.client_id,
                user_id=self.user_id,
                role=self.role,
                channel=channel,
                permissions=self.permissions,
            )
            try:
                await database_sync_to_async(channel_authorize)(request)
            except AppError:
                await self._unsubscribe_quietly(channel)
                await self._emit({"type": "unsubscribed", "channel": channel, "reason": "forbidden"})
