"""/ws/ through the real ASGI stack (auth middleware, router, consumer), the
real Redis channel layer and the real subscriber tracking in Redis.

Channels of the family `demo` are authorized by a test authorizer (core
cannot import the apps that own real families); `metric.<code>` is tested
with real metrics in apps/calculations/tests/test_live_ws.py."""

import asyncio
import time

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.core import realtime
from apps.core.access import Permission
from apps.core.errors import AppError
from apps.core.realtime import listeners_active, listeners_track, realtime_group, realtime_publish_async
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


def _listeners(channel: str) -> list:
    return [item for item in listeners_active() if item.channel == channel]


@pytest.fixture
def member():
    return MembershipFactory(is_default=True)


@pytest.fixture(autouse=True)
def demo_family(monkeypatch):
    """`demo.*` channels: everyone may listen, except to `demo.secret`."""
    seen = []

    def authorize(request: realtime.ChannelRequest) -> None:
        seen.append(request)
        if request.channel == "demo.secret":
            raise AppError("Not for you.", code="channel_forbidden", details={"channel": request.channel})

    monkeypatch.setitem(realtime._families, "demo", realtime.ChannelFamily(authorize, Permission.VIEW_METRICS))
    redis.Redis.from_url(settings.REDIS_URL).delete(*[f"{realtime.TRACKING_PREFIX}:channels"])
    return seen


def test_subscribe_receive_event_heartbeat_and_cleanup(member):
    token = str(AccessToken.for_user(member.user))
    group = realtime_group(client_id=member.client_id, channel="demo.retention_rate")

    async def scenario():
        ws = _connect(f"/ws/?token={token}")
        connected, _ = await ws.connect()
        assert connected
        welcome = await ws.receive_json_from()
        assert welcome["type"] == "welcome" and welcome["client"] == member.client.code

        await ws.send_json_to({"action": "subscribe", "channel": "demo.retention_rate"})
        assert await _receive_until(ws, lambda m: m.get("type") == "subscribed") == {
            "type": "subscribed",
            "channel": "demo.retention_rate",
        }
        await realtime_publish_async(
            client_id=member.client_id,
            channel="demo.retention_rate",
            event={"metric": "retention_rate", "value": 0.9},
        )
        event = await _receive_until(ws, lambda m: "event" in m)
        assert event == {"channel": "demo.retention_rate", "event": {"metric": "retention_rate", "value": 0.9}}

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
            await ws.send_json_to({"action": "subscribe", "channel": "demo.revenue"})
            await _receive_until(ws, lambda m: m.get("type") == "subscribed")

        await realtime_publish_async(client_id=other.client_id, channel="demo.revenue", event={"value": 1})
        assert (await _receive_until(theirs, lambda m: "event" in m))["event"] == {"value": 1}

        seen = []
        await mine.send_json_to({"action": "subscribe", "channel": "demo.sentinel"})
        await mine.send_json_to({"action": "unsubscribe", "channel": "demo.revenue"})
        await _receive_until(mine, lambda m: seen.append(m) or m.get("type") == "unsubscribed")
        await realtime_publish_async(client_id=member.client_id, channel="demo.revenue", event={"value": 2})
        await realtime_publish_async(client_id=member.client_id, channel="demo.sentinel", event={"value": 3})
        # Events reach a socket in publish order: had the other tenant's event or
        # the unsubscribed one been delivered, they would precede the sentinel.
        await _receive_until(mine, lambda m: seen.append(m) or m.get("channel") == "demo.sentinel")
        assert [m["channel"] for m in seen if "event" in m] == ["demo.sentinel"]
        for ws in (mine, theirs):
            await ws.disconnect()

    async_to_sync(scenario)()


def test_bad_messages_get_named_errors_and_the_socket_stays_open(member):
    async def scenario():
        ws = _connect(f"/ws?token={AccessToken.for_user(member.user)}")
        assert (await ws.connect())[0]
        cases = [
            ({"text_data": '{"action": "subscribe", "channel": "Metric; DROP"}'}, "invalid_channel"),
            ({"text_data": '{"action": "dance"}'}, "unknown_action"),
            ({"text_data": '{"action": {"nested": true}}'}, "unknown_action"),
            ({"text_data": "not json"}, "invalid_json"),
            ({"text_data": "[1, 2, 3]"}, "invalid_message"),
            ({"text_data": '"subscribe"'}, "invalid_message"),
            ({"bytes_data": b"\x00\x01binary"}, "invalid_message"),
            ({"text_data": '{"action": "subscribe"}'}, "invalid_channel"),
            ({"text_data": "x" * 70_000}, "message_too_large"),
        ]
        for frame, code in cases:
            await ws.send_to(**frame)
            error = await _receive_until(ws, lambda m: m.get("type") == "error")
            assert error["error"]["code"] == code, (frame, error)
            assert error["error"]["message"]
        await ws.send_json_to({"action": "ping"})
        assert (await _receive_until(ws, lambda m: m.get("type") == "pong"))["ts"] > 0
        await ws.disconnect()

    async_to_sync(scenario)()


def test_channels_the_user_may_not_see_are_refused(member, demo_family):
    async def scenario():
        ws = _connect(f"/ws/?token={AccessToken.for_user(member.user)}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": "demo.secret"})
        error = await _receive_until(ws, lambda m: m.get("type") == "error")
        assert error["error"] == {
            "code": "channel_forbidden",
            "message": "Not for you.",
            "details": {"channel": "demo.secret"},
        }
        # A family nobody registered: refused, naming the families there are.
        await ws.send_json_to({"action": "subscribe", "channel": "payroll.salaries"})
        error = await _receive_until(ws, lambda m: m.get("type") == "error")
        assert error["error"]["code"] == "unknown_channel"
        assert "demo" in error["error"]["details"]["families"]
        # Refused subscriptions join no group: a publish there does not arrive.
        await realtime_publish_async(client_id=member.client_id, channel="demo.secret", event={"leak": True})
        await ws.send_json_to({"action": "ping"})
        assert (await _receive_until(ws, lambda m: m.get("type") in ("pong",) or "event" in m))["type"] == "pong"
        await ws.disconnect()

    async_to_sync(scenario)()
    assert [(r.channel, r.client_id, r.user_id, r.role) for r in demo_family] == [
        ("demo.secret", member.client_id, member.user_id, member.role)
    ]
    assert _group_members(realtime_group(client_id=member.client_id, channel="demo.secret")) == 0


def test_subscriptions_are_tracked_and_cleaned_up(member):
    other = MembershipFactory(client=member.client)

    async def scenario():
        first = _connect(f"/ws/?token={AccessToken.for_user(member.user)}")
        second = _connect(f"/ws/?token={AccessToken.for_user(other.user)}")
        for ws in (first, second):
            assert (await ws.connect())[0]
            await ws.send_json_to({"action": "subscribe", "channel": "demo.kpi"})
            await _receive_until(ws, lambda m: m.get("type") == "subscribed")
        await first.send_json_to({"action": "subscribe", "channel": "demo.other"})
        await _receive_until(first, lambda m: m.get("type") == "subscribed")

        (kpi,) = _listeners("demo.kpi")
        assert (kpi.client_id, kpi.count, kpi.users) == (
            member.client_id,
            2,
            tuple(sorted([member.user_id, other.user_id])),
        )
        assert [item.count for item in _listeners("demo.other")] == [1]

        await first.send_json_to({"action": "unsubscribe", "channel": "demo.kpi"})
        await _receive_until(first, lambda m: m.get("type") == "unsubscribed")
        assert [item.users for item in _listeners("demo.kpi")] == [(other.user_id,)]

        await second.disconnect()  # the only listener left: the channel has none now
        assert _listeners("demo.kpi") == []
        await first.disconnect()
        assert _listeners("demo.other") == []

    async_to_sync(scenario)()


class TrackingClock:
    """Stands in for the `time` module in apps.core.realtime (which reads only
    time.time(), for the tracking expiries): the test moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
def tracking_clock(monkeypatch) -> TrackingClock:
    clock = TrackingClock()
    monkeypatch.setattr(realtime, "time", clock)
    return clock


def test_a_crashed_servers_listeners_expire(member, settings, tracking_clock):
    """A server that died never unsubscribed: its entries lapse after the TTL."""
    settings.WS_TRACKING_TTL_SECONDS = 3
    listeners_track(client_id=member.client_id, channels=["demo.ghost"], connection="dead!1", user_id=member.user_id)
    assert [item.connections for item in _listeners("demo.ghost")] == [("dead!1",)]
    assert listeners_active(prefix="demo.", client_id=member.client_id + 1) == []
    tracking_clock.now += 2.9  # within the TTL
    assert [item.connections for item in _listeners("demo.ghost")] == [("dead!1",)]
    tracking_clock.now += 0.3  # 3.2 s after: past it
    assert _listeners("demo.ghost") == []
    connection = redis.Redis.from_url(settings.REDIS_URL)
    assert connection.zscore(f"{realtime.TRACKING_PREFIX}:channels", f"{member.client_id}:demo.ghost") is None


def test_heartbeats_keep_tracking_alive(member, settings, tracking_clock):
    settings.WS_TRACKING_TTL_SECONDS = 3  # refreshed every second by the heartbeat loop (0.2 s in tests)

    async def scenario():
        ws = _connect(f"/ws/?token={AccessToken.for_user(member.user)}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": "demo.live"})
        await _receive_until(ws, lambda m: m.get("type") == "subscribed")
        assert [item.count for item in _listeners("demo.live")] == [1]
        # Past the TTL of every record made so far: only a refresh by the
        # heartbeat loop (every TTL / 3 = 1 s of real time) lists it again.
        tracking_clock.now += 4.5
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while [item.count for item in _listeners("demo.live")] != [1]:
            assert loop.time() < deadline, "the heartbeat loop never refreshed the tracking"
            await asyncio.sleep(0.05)
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
