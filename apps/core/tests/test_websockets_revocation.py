"""Revocation of open /ws/ sockets (apps/core/ws_revocation.py, docs/live.md):
membership removal, role change, password change, deactivation, session
logout, token expiry and the periodic re-check.

The first two tests run against the production server (daphne in a
subprocess, real TCP); the others in process, where a test channel family
can depend on the role."""

import asyncio
import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client as DjangoClient
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.core import realtime
from apps.core.access import Permission
from apps.core.errors import AppError
from apps.core.models import Membership
from apps.core.realtime import realtime_publish_async
from apps.core.services import membership_revoke, membership_role_set
from apps.core.tests.factories import MembershipFactory
from apps.core.tests.ws_client import Closed, RawWebSocket

pytestmark = pytest.mark.django_db(transaction=True)

# A family every daphne process knows (apps.streams): any member may listen.
LIVE_CHANNEL = "telemetry.revocation_probe"


@pytest.fixture
def member():
    return MembershipFactory(is_default=True, role="analyst")


def _publish(client_id: int, value: int, channel: str = LIVE_CHANNEL) -> None:
    async_to_sync(realtime_publish_async)(client_id=client_id, channel=channel, event={"value": value})


def _frames_until_closed(ws: RawWebSocket, timeout: float = 15.0) -> tuple[list[dict], Closed]:
    """Every text frame the server sends until it closes the socket."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            frames.append(ws.recv_json(max(0.01, deadline - time.monotonic())))
        except Closed as closed:
            return frames, closed


def test_a_removed_member_socket_closes_4403_and_gets_no_further_events(asgi_server, member):
    ws = RawWebSocket("127.0.0.1", asgi_server["port"], f"/ws/?token={AccessToken.for_user(member.user)}")
    try:
        ws.recv_until(lambda m: m.get("type") == "welcome")
        ws.send_json({"action": "subscribe", "channel": LIVE_CHANNEL})
        ws.recv_until(lambda m: m.get("type") == "subscribed")
        _publish(member.client_id, 1)
        assert ws.recv_until(lambda m: "event" in m)["event"] == {"value": 1}

        membership_revoke(membership=member)
        for value in (2, 3, 4):
            _publish(member.client_id, value)

        frames, closed = _frames_until_closed(ws)
        assert closed.code == 4403
        assert [f["event"] for f in frames if "event" in f] == []
    finally:
        ws.close()


def test_a_token_socket_closes_4401_at_the_tokens_expiry_without_any_client_action(asgi_server, member):
    token = AccessToken.for_user(member.user)
    token.set_exp(lifetime=timedelta(seconds=2))
    ws = RawWebSocket("127.0.0.1", asgi_server["port"], f"/ws/?token={token}")
    try:
        ws.recv_until(lambda m: m.get("type") == "welcome")
        ws.send_json({"action": "subscribe", "channel": LIVE_CHANNEL})
        ws.recv_until(lambda m: m.get("type") == "subscribed")

        frames, closed = _frames_until_closed(ws)
        assert closed.code == 4401
        assert time.time() >= token["exp"]
        assert all(f.get("type") in ("heartbeat", "pong") for f in frames)
    finally:
        ws.close()


# -- in process ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def demo_family(monkeypatch):
    """`demo.*`: any member, except `demo.editors`, which viewers may not hear."""

    def authorize(request: realtime.ChannelRequest) -> None:
        if request.channel == "demo.editors" and request.role == Membership.Role.VIEWER:
            raise AppError("Editors only.", code="channel_forbidden", details={"channel": request.channel})

    monkeypatch.setitem(realtime._families, "demo", realtime.ChannelFamily(authorize, Permission.VIEW_METRICS))


async def _close_of(ws: WebsocketCommunicator, timeout: float = 10.0) -> tuple[list[dict], dict]:
    """The frames sent before the server closed the socket, and the close message."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    frames = []
    while True:
        message = await ws.receive_output(timeout=max(0.01, deadline - loop.time()))
        if message["type"] == "websocket.close":
            return frames, message
        if message["type"] == "websocket.send":
            frames.append(json.loads(message["text"]))


async def _until(ws: WebsocketCommunicator, predicate, timeout: float = 5.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await ws.receive_json_from(timeout=max(0.01, deadline - loop.time()))
        if predicate(message):
            return message


async def _token_socket(user, channels=()) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(user)}")
    assert (await ws.connect())[0]
    for channel in channels:
        await ws.send_json_to({"action": "subscribe", "channel": channel})
        await _until(ws, lambda m: m.get("type") == "subscribed")
    return ws


def test_a_role_change_drops_the_subscriptions_the_new_role_may_not_hear(member):
    async def scenario():
        ws = await _token_socket(member.user, ["demo.editors", "demo.everyone"])
        await sync_to_async(membership_role_set)(membership=member, role=Membership.Role.VIEWER)
        dropped = await _until(ws, lambda m: m.get("type") == "unsubscribed")
        assert dropped == {"type": "unsubscribed", "channel": "demo.editors", "reason": "forbidden"}

        await realtime_publish_async(client_id=member.client_id, channel="demo.editors", event={"value": 1})
        await realtime_publish_async(client_id=member.client_id, channel="demo.everyone", event={"value": 2})
        event = await _until(ws, lambda m: "event" in m)
        assert event == {"channel": "demo.everyone", "event": {"value": 2}}
        await ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_a_password_change_or_deactivation_closes_the_users_token_sockets_4401(member, change):
    def apply():
        user = member.user
        if change == "password":
            user.set_password("another-pass-word-1")
        else:
            user.is_active = False
        user.save()

    async def scenario():
        ws = await _token_socket(member.user, ["demo.everyone"])
        await sync_to_async(apply)()
        await realtime_publish_async(client_id=member.client_id, channel="demo.everyone", event={"value": 1})
        frames, closed = await _close_of(ws)
        assert (closed["code"], closed.get("reason")) == (4401, "credentials revoked")
        assert [f for f in frames if "event" in f] == []

    async_to_sync(scenario)()


def test_a_session_socket_closes_when_that_session_logs_out(member):
    browser = DjangoClient()
    browser.force_login(member.user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()

    async def scenario():
        headers = [(b"cookie", cookie), (b"origin", b"http://localhost")]
        session_ws = WebsocketCommunicator(application, "/ws/", headers=headers)
        assert (await session_ws.connect())[0]
        await _until(session_ws, lambda m: m.get("type") == "welcome")
        token_ws = await _token_socket(member.user)

        response = await sync_to_async(browser.post)("/accounts/logout/")
        assert response.status_code == 302
        _, closed = await _close_of(session_ws)
        assert (closed["code"], closed.get("reason")) == (4401, "credentials revoked")
        # The API client's socket is another credential: it stays.
        await token_ws.send_json_to({"action": "ping"})
        assert (await _until(token_ws, lambda m: m.get("type") == "pong"))["type"] == "pong"
        await token_ws.disconnect()

    async_to_sync(scenario)()


def test_a_token_socket_closes_at_expiry_with_the_reason(member):
    token = AccessToken.for_user(member.user)
    token.set_exp(lifetime=timedelta(seconds=1))

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/?token={token}")
        assert (await ws.connect())[0]
        _, closed = await _close_of(ws)
        assert (closed["code"], closed.get("reason")) == (4401, "token expired")
        assert time.time() >= token["exp"]

    async_to_sync(scenario)()


def test_the_periodic_recheck_closes_a_socket_whose_membership_vanished_unannounced(member, settings):
    settings.WS_RECHECK_SECONDS = 0.2

    async def scenario():
        ws = await _token_socket(member.user)
        # A delete no service saw (a shell, a cascade): no message tells the socket.
        await sync_to_async(Membership.objects.filter(pk=member.pk).delete)()
        _, closed = await _close_of(ws)
        assert (closed["code"], closed.get("reason")) == (4403, "membership removed")

    async_to_sync(scenario)()
