"""`metric.<code>` channels on /ws/ and the period publisher
(apps/calculations/realtime.py): who may listen, and what listeners get
every minute, with the real ASGI stack, channel layer, tracking and database."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.calculations.realtime import live_periods_publish
from apps.calculations.tests.scenarios import retention_define, rows_load, sales_define
from apps.core.realtime import listeners_track
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])


@pytest.fixture
def member():
    return MembershipFactory(role="analyst", is_default=True)


@pytest.fixture
def api(member):
    client = APIClient()
    client.force_authenticate(member.user)
    return client


async def _next(ws, predicate, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await ws.receive_json_from(timeout=max(0.01, deadline - loop.time()))
        if predicate(message):
            return message


def test_only_the_clients_own_metrics_may_be_listened_to(api, member):
    retention_define(api)
    stranger = APIClient()
    stranger.force_authenticate(MembershipFactory(role="admin", is_default=True).user)
    sales_define(stranger)  # another client's metric: `revenue`
    viewer = MembershipFactory(client=member.client, role="viewer")

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(viewer.user)}")
        assert (await ws.connect())[0]
        for channel in ("metric.revenue", "metric.no_such_metric", "metric.retention_rate.daily", "metric"):
            await ws.send_json_to({"action": "subscribe", "channel": channel})
            answer = await _next(ws, lambda m: m.get("type") in ("error", "subscribed"))
            assert answer["type"] == "error" and answer["error"]["code"] == "unknown_channel", (channel, answer)
            assert answer["error"]["details"]["channel"] == channel
        # Any member, a viewer too, may listen to one of the client's metrics.
        await ws.send_json_to({"action": "subscribe", "channel": "metric.retention_rate"})
        assert (await _next(ws, lambda m: m.get("type") in ("error", "subscribed")))["type"] == "subscribed"
        await ws.disconnect()

    async_to_sync(scenario)()


def _orders(*moments_and_amounts) -> list[dict]:
    return [
        {"ordered_at": moment.isoformat(), "order_id": f"o{i}-{moment.timestamp()}", "salesperson_id": "s1",
         "amount": str(amount)}
        for i, (moment, amount) in enumerate(moments_and_amounts)
    ]  # fmt: skip


def test_the_period_publisher_pushes_changed_buckets_of_watched_metrics(api, member):
    sales_define(api)
    now = timezone.now().replace(microsecond=0)
    minute = now.replace(second=0)
    rows_load(api, "sales_orders", _orders((minute + timedelta(seconds=1), 100), (minute - timedelta(minutes=1), 7)))

    # Nobody listens: nothing is computed.
    assert live_periods_publish(now=now).computed == 0

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(member.user)}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": "metric.revenue"})
        await _next(ws, lambda m: m.get("type") == "subscribed")

        first = await sync_to_async(live_periods_publish)(now=now)
        assert first.computed == 3 and first.failed == 0  # one metric by minute, hour and day
        pushed = []
        while len(pushed) < first.pushed:
            pushed.append((await _next(ws, lambda m: "event" in m))["event"])

        # Unchanged: nothing pushed again.
        assert (await sync_to_async(live_periods_publish)(now=now)).pushed == 0

        # A new order in the current minute changes the current bucket of every grain.
        await sync_to_async(rows_load)(api, "sales_orders", _orders((minute + timedelta(seconds=2), 50)))
        third = await sync_to_async(live_periods_publish)(now=now)
        changed = []
        while len(changed) < third.pushed:
            changed.append((await _next(ws, lambda m: "event" in m))["event"])
        await ws.disconnect()
        return pushed, changed

    pushed, changed = async_to_sync(scenario)()
    by_grain = {(p["granularity"], p["bucket"]): p["value"] for p in pushed}
    assert all(p["metric"] == "revenue" and p["source"] == "period" and p["dims"] == {} for p in pushed)
    at = lambda moment: moment.astimezone(UTC).isoformat().replace("+00:00", "Z")  # noqa: E731
    assert by_grain[("minute", at(minute))] == 100.0
    assert by_grain[("minute", at(minute - timedelta(minutes=1)))] == 7.0  # the minute that just closed
    hour, today = minute.replace(minute=0), minute.replace(hour=0, minute=0)
    if minute - timedelta(minutes=1) >= hour:  # both orders in this hour (not at hh:00)
        assert by_grain[("hour", at(hour))] == 107.0
    if minute - timedelta(minutes=1) >= today:
        assert by_grain[("day", at(today))] == 107.0
    assert {p["granularity"] for p in changed} == {"minute", "hour", "day"}
    assert {p["bucket"] for p in changed if p["granularity"] == "minute"} == {at(minute)}
    assert next(p["value"] for p in changed if p["granularity"] == "minute") == 150.0


def test_the_publisher_skips_listeners_of_metrics_that_are_gone(api, member):
    retention_define(api)
    listeners_track(client_id=member.client_id, channels=["metric.deleted_kpi"], connection="c!1", user_id=1)
    done = live_periods_publish(now=datetime(2026, 3, 31, 12, 0, tzinfo=UTC))
    assert done.channels >= 1 and (done.computed, done.pushed, done.failed) == (0, 0, 0)
