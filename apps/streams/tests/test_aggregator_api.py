"""The stream aggregator from the outside: readings through the real bus,
the "current" API (authentication, tenancy, bad parameters), the flush task
on a real Celery worker, the rebuild command, and the live push on /ws/."""

import asyncio
from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.core.tests.factories import MembershipFactory
from apps.messaging.services import publish_message
from apps.streams.aggregator.live import live_buckets, live_push_claim, unix_second
from apps.streams.aggregator.selectors import telemetry_current
from apps.streams.aggregator.services import aggregator_flush_all
from apps.streams.models import AggregatorState, TelemetryDirtySecond, TelemetrySecond
from apps.streams.tests.test_aggregator import land, raw_totals

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/streams/telemetry/current"


@pytest.fixture
def member():
    return MembershipFactory(role="viewer", is_default=True)


@pytest.fixture
def api(member):
    client = APIClient()
    client.force_authenticate(member.user)
    return client


def recent(seconds_ago: float):
    return timezone.now() - timedelta(seconds=seconds_ago)


def test_the_current_view_needs_authentication():
    response = APIClient().get(URL, {"sensor": "pressure"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_the_current_view_shows_the_callers_client_only(api, member):
    other = MembershipFactory(role="admin", is_default=True)
    for index in range(3):
        land(member.client_id, recent(3 + index), 1.5 + index, device=f"pump-{index % 2}")
    land(other.client_id, recent(3), 1000.0)  # the same sensor name in another client

    response = api.get(URL, {"sensor": "pressure", "seconds": 60})
    assert response.status_code == 200, response.content
    body = response.json()
    count, total, low, high = raw_totals(member.client_id, recent(3600), recent(-3600))
    assert body["totals"] == {"count": count, "sum": total, "min": low, "max": high, "avg": total / count}
    assert count == 3 and high == 3.5  # the other client's 1000 is not there
    assert {b["source"] for b in body["buckets"]} == {"live"} and body["watermark"] is None
    assert (body["sensor"], body["device_id"], body["grain"]) == ("pressure", None, "second")

    one = api.get(URL, {"sensor": "pressure", "device_id": "pump-1", "grain": "minute"}).json()
    assert (one["totals"]["count"], one["totals"]["sum"]) == (1, 2.5)

    # Naming the other client is refused; asking for a sensor of its own shows nothing of theirs.
    refused = api.get(URL, {"sensor": "pressure"}, HTTP_X_CLIENT=other.client.code)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "client_forbidden"
    theirs = APIClient()
    theirs.force_authenticate(other.user)
    assert theirs.get(URL, {"sensor": "pressure"}).json()["totals"]["sum"] == 1000.0


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "sensor"),
        ({"sensor": ""}, "sensor"),
        ({"sensor": "x" * 101}, "sensor"),
        ({"sensor": "pressure", "device_id": "d" * 101}, "device_id"),
        ({"sensor": "pressure", "seconds": "0"}, "seconds"),
        ({"sensor": "pressure", "seconds": "86401"}, "seconds"),
        ({"sensor": "pressure", "seconds": "five"}, "seconds"),
        ({"sensor": "pressure", "grain": "hour"}, "grain"),
        ({"sensor": "pressure", "seconds": "3601"}, "seconds"),  # over 3,600 buckets at second grain
    ],
)
def test_bad_parameters_are_400s_naming_them(api, params, named):
    response = api.get(URL, params)
    assert response.status_code == 400, response.content
    assert named in response.json()["error"]["details"], response.json()


def test_a_day_is_asked_for_by_the_minute(api):
    response = api.get(URL, {"sensor": "pressure", "seconds": "86400", "grain": "minute"})
    assert response.status_code == 200 and response.json()["totals"]["count"] == 0


def test_an_unknown_parameter_is_refused_by_name(api):
    response = api.get(URL, {"sensor": "pressure", "second": "60"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_parameter"
    assert response.json()["error"]["details"] == {"parameters": ["second"]}


def test_a_reading_published_on_the_bus_feeds_the_aggregator(member, make_worker):
    streams = make_worker("streams")
    at = recent(2)
    reading = {"device_id": "pump-7", "sensor": "pressure", "value": 3.25, "recorded_at": at.isoformat()}
    publish_message("telemetry.reading", reading, tenant=member.client.code)
    assert streams.drain() == 1

    (bucket,) = live_buckets(
        client_id=member.client_id, sensor="pressure", min_second=unix_second(at), max_second=unix_second(at) + 1
    )
    assert (bucket.device_id, bucket.count, bucket.sum) == ("pump-7", 1, 3.25)
    assert TelemetryDirtySecond.objects.filter(client_id=member.client_id, device_id="pump-7").count() == 1
    assert telemetry_current(client_id=member.client_id, sensor="pressure", seconds=60).count == 1


@pytest.mark.celery_worker
def test_the_flush_task_runs_on_the_real_worker(member, celery_worker_process, settings):
    from apps.streams.tasks import aggregator_flush_task

    # Four distinct seconds, from one reading of the clock.
    base = recent(20).replace(microsecond=0)
    for index in range(4):
        land(member.client_id, base - timedelta(seconds=index), float(index), device=f"pump-{index}")
    before = timezone.now()
    outcome = aggregator_flush_task.apply_async().get(timeout=60)
    after = timezone.now()

    assert outcome["seconds"] >= 4 and str(member.client_id) in outcome["watermarks"]
    assert TelemetrySecond.objects.filter(client_id=member.client_id).count() == 4
    watermark = AggregatorState.objects.get(client_id=member.client_id).watermark
    # now - lag in whole seconds, "now" being when the task ran: past the readings, whatever the task took.
    lag = timedelta(seconds=settings.AE_STREAM_FLUSH_LAG_SECONDS)
    assert base < watermark
    assert (before - lag).replace(microsecond=0) <= watermark <= after - lag
    assert not TelemetryDirtySecond.objects.filter(client_id=member.client_id).exists()
    assert live_buckets(client_id=member.client_id, sensor="pressure", min_second=0, max_second=2**40) == []
    view = telemetry_current(client_id=member.client_id, sensor="pressure", seconds=120)
    assert (view.count, view.sum, {b.source for b in view.buckets}) == (4, 6.0, {"history"})


def test_the_rebuild_command_recomputes_a_client(member):
    # Three distinct seconds, from one reading of the clock: readings placed
    # from the clock at different moments can share a second.
    base = recent(30).replace(microsecond=0)
    for index in range(3):
        land(member.client_id, base - timedelta(seconds=index), 2.0, device="pump-7")
    with connection.cursor() as cursor:  # what was there before the aggregator: raw rows only
        cursor.execute("DELETE FROM streams_telemetry_dirty WHERE client_id = %s", [member.client_id])
    out = StringIO()
    since = recent(3600).isoformat()
    call_command("streams_aggregator_rebuild", "--client", member.client.code, "--since", since, stdout=out)
    assert "3 seconds recomputed" in out.getvalue()
    assert sum(TelemetrySecond.objects.filter(client_id=member.client_id).values_list("count", flat=True)) == 3

    with pytest.raises(CommandError, match="no client"):
        call_command("streams_aggregator_rebuild", "--client", "nobody", "--since", since)


async def _next(ws, predicate, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await ws.receive_json_from(timeout=max(0.01, deadline - loop.time()))
        if predicate(message):
            return message


def test_members_listening_to_a_sensor_get_its_updated_second(member, settings):
    settings.AE_STREAM_PUSH_INTERVAL_MS = 60_000  # one push per series in this test, whatever its speed
    at = recent(1)

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(member.user)}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": "telemetry.pressure.daily"})
        refused = await _next(ws, lambda m: m.get("type") in ("error", "subscribed"))
        assert refused["type"] == "error" and refused["error"]["code"] == "unknown_channel"
        await ws.send_json_to({"action": "subscribe", "channel": "telemetry.pressure"})
        assert (await _next(ws, lambda m: m.get("type") in ("error", "subscribed")))["type"] == "subscribed"

        await sync_to_async(land)(member.client_id, at, 4.0)
        await sync_to_async(land)(member.client_id, at + timedelta(microseconds=1), 6.0)  # throttled
        pushed = await _next(ws, lambda m: "event" in m)
        await ws.disconnect()
        return pushed

    pushed = async_to_sync(scenario)()
    assert pushed["channel"] == "telemetry.pressure"
    event = pushed["event"]
    assert (event["device_id"], event["count"], event["sum"], event["source"]) == ("pump-7", 1, 4.0, "live")
    assert event["bucket"] == at.replace(microsecond=0).isoformat()
    # The throttle is shared through Redis: the series is claimed until the interval passes.
    assert live_push_claim(client_id=member.client_id, sensor="pressure", device_id="pump-7") is False
    assert live_push_claim(client_id=member.client_id, sensor="pressure", device_id="pump-8") is True


def test_the_flush_advances_clients_independently(member):
    other = MembershipFactory(is_default=True)
    land(member.client_id, recent(10), 1.0)
    land(other.client_id, recent(10), 2.0)
    results = {r.client_id: r for r in aggregator_flush_all()}
    assert results[member.client_id].seconds == 1 and results[other.client_id].seconds == 1
    rows = TelemetrySecond.objects.values_list("client_id", "sum").order_by("client_id")
    assert sorted(rows) == sorted([(member.client_id, 1.0), (other.client_id, 2.0)])
