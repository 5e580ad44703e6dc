"""/ws/ through the real ASGI stack (auth middleware, router, consumer) and the
real Redis channel layer."""

import asyncio

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.core.realtime import realtime_group, realtime_publish_async
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _connect(path: str, headers=None) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=headers or [])


def _group_members(group: str) -> int:
    key = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:group:{group}"
    return redis.Redis.from_url(settings.REDIS_URL).zcard(key)


async def _receive_until(communicator, predicate, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await communicator.receive_json_from(timeout=max(0.01, deadline - asyncio.get_running_loop().time()))
        if predicate(message):
            return message


@pytest.fixture
def member():
    return MembershipFactory(is_default=True)


def test_subscribe_receive_event_heartbeat_and_cleanup(member):
    token = str(AccessToken.for_user(member.user))
    group = realtime_group(client_id=member.client_id, channel="metric.retention_rate")

    async def scenario():
        ws = _connect(f"/ws/?token={token}")
        connected, _ = await ws.connect()
        assert connected
        welcome = await ws.receive_json_from()
        assert welcome["type"] == "welcome" and welcome["client"] == member.client.code

        await ws.send_json_to({"action": "subscribe", "channel": "metric.retention_rate"})
        assert await _receive_until(ws, lambda m: m.get("type") == "subscribed") == {
            "type": "subscribed",
            "channel": "metric.retention_rate",
        }
        await realtime_publish_async(
            client_id=member.client_id,
            channel="metric.retention_rate",
            event={"metric": "retention_rate", "value": 0.9},
        )
        event = await _receive_until(ws, lambda m: "event" in m)
        assert event == {"channel": "metric.retention_rate", "event": {"metric": "retention_rate", "value": 0.9}}

        heartbeat = await _receive_until(ws, lambda m: m.get("type") == "heartbeat")
        assert heartbeat["ts"] > 0
        assert _group_members(group) == 1

        await ws.disconnect()
        assert _group_members(group) == 0

    async_to_sync(scenario)()


def test_events_do_not_cross_tenants_and_unsubscribe_stops_them(member):
    other = MembershipFactory(is_default=True)

    async def scenario():
        mine = _connect(f"/ws/?token={AccessToken.for_user(member.user)}")
        theirs = _connect(f"/ws/?token={AccessToken.for_user(other.user)}")
        for ws in (mine, theirs):
            assert (await ws.connect())[0]
            await ws.send_json_to({"action": "subscribe", "channel": "metric.revenue"})
            await _receive_until(ws, lambda m: m.get("type") == "subscribed")

        await realtime_publish_async(client_id=other.client_id, channel="metric.revenue", event={"value": 1})
        assert (await _receive_until(theirs, lambda m: "event" in m))["event"] == {"value": 1}

        seen = []
        await mine.send_json_to({"action": "subscribe", "channel": "metric.sentinel"})
        await mine.send_json_to({"action": "unsubscribe", "channel": "metric.revenue"})
        await _receive_until(mine, lambda m: seen.append(m) or m.get("type") == "unsubscribed")
        await realtime_publish_async(client_id=member.client_id, channel="metric.revenue", event={"value": 2})
        await realtime_publish_async(client_id=member.client_id, channel="metric.sentinel", event={"value": 3})
        # Events reach a socket in publish order: had the other tenant's event or
        # the unsubscribed one been delivered, they would precede the sentinel.
        await _receive_until(mine, lambda m: seen.append(m) or m.get("channel") == "metric.sentinel")
        assert [m["channel"] for m in seen if "event" in m] == ["metric.sentinel"]
        for ws in (mine, theirs):
            await ws.disconnect()

    async_to_sync(scenario)()


def test_bad_messages_get_named_errors_and_the_socket_stays_open(member):
    async def scenario():
        ws = _connect(f"/ws?token={AccessToken.for_user(member.user)}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": "Metric; DROP"})
        error = await _receive_until(ws, lambda m: m.get("type") == "error")
        assert error["error"]["code"] == "invalid_channel"
        await ws.send_json_to({"action": "dance"})
        error = await _receive_until(ws, lambda m: m.get("type") == "error")
        assert error["error"]["code"] == "unknown_action"
        await ws.send_to(text_data="not json")
        error = await _receive_until(ws, lambda m: m.get("type") == "error")
        assert error["error"]["code"] == "unknown_action"
        await ws.send_json_to({"action": "ping"})
        assert (await _receive_until(ws, lambda m: m.get("type") == "pong"))["ts"] > 0
        await ws.disconnect()

    async_to_sync(scenario)()


def test_anonymous_invalid_token_and_foreign_origin_are_refused(member, client):
    client.force_login(member.user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        for path, headers in [
            ("/ws/", []),
            ("/ws/?token=garbage", []),
            ("/ws/", [(b"cookie", cookie), (b"origin", b"https://evil.example")]),
            ("/ws/", [(b"cookie", cookie)]),  # a cookie without any Origin: not a browser of ours
        ]:
            ws = _connect(path, headers)
            connected, _ = await ws.connect()
            assert not connected, (path, headers)
            await ws.disconnect()

        ws = _connect("/ws/", [(b"cookie", cookie), (b"origin", b"http://localhost:8000")])
        connected, _ = await ws.connect()
        assert connected
        assert (await ws.receive_json_from())["client"] == member.client.code
        await ws.disconnect()

    async_to_sync(scenario)()
