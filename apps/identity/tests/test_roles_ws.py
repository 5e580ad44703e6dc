"""A role that loses a channel family's permission drops its members'
subscriptions to that family at once (apps/core/ws_revocation.py); the
socket stays open for what the role may still hear."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.core.tests.factories import MembershipFactory
from apps.identity.services.roles import role_create, role_update

pytestmark = pytest.mark.django_db(transaction=True)

CHANNEL = "telemetry.role_probe"  # apps.streams' family: it needs view_metrics


async def _until(ws: WebsocketCommunicator, predicate, timeout: float = 10.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await ws.receive_json_from(timeout=max(0.01, deadline - loop.time()))
        if predicate(message):
            return message


def test_a_role_losing_view_metrics_drops_its_members_subscriptions():
    member = MembershipFactory(is_default=True)
    role_create(client_id=member.client_id, code="watcher", name="Watcher", permissions=["view_metrics"])
    member.role = "watcher"
    member.save(update_fields=["role"])
    blind = MembershipFactory(client=member.client, role="viewer", is_default=True)
    role_create(client_id=member.client_id, code="blind", name="Blind", permissions=["load_data"])
    blind.role = "blind"
    blind.save(update_fields=["role"])

    async def scenario():
        refused_ws = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(blind.user)}")
        assert (await refused_ws.connect())[0]
        await refused_ws.send_json_to({"action": "subscribe", "channel": CHANNEL})
        error = await _until(refused_ws, lambda m: m.get("type") == "error")
        assert error["error"]["code"] == "channel_forbidden"
        assert "needs the permission 'view_metrics'" in error["error"]["message"]
        await refused_ws.disconnect()

        ws = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(member.user)}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": CHANNEL})
        await _until(ws, lambda m: m.get("type") == "subscribed")
        await sync_to_async(role_update)(client_id=member.client_id, code="watcher", permissions=["load_data"])
        dropped = await _until(ws, lambda m: m.get("type") == "unsubscribed")
        assert dropped == {"type": "unsubscribed", "channel": CHANNEL, "reason": "forbidden"}
        await ws.send_json_to({"action": "ping"})
        assert (await _until(ws, lambda m: m.get("type") in ("pong", "error")))["type"] == "pong"  # still open
        await ws.disconnect()

    async_to_sync(scenario)()
