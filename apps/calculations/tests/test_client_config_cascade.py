"""Client configuration changes cascading into the calculation engine
(docs/client-config.md), through the real event path: a PATCH of
/api/v1/client-config commits `client_config.changed` to the outbox, which is
relayed to its Redis stream at commit; the `calculations.config` consumer
group's real handler tells the WebSocket subscribers of each KPI. Reads follow
the configuration itself: the metrics API answers 409, live recalculation
(the `calculations.live` consumer group, after a real load) neither
recomputes nor pushes a deactivated KPI, and the client's
`live_recalculation` switch turns recalculation off."""

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.calculations.models import MetricHistory
from apps.calculations.realtime import live_periods_publish
from apps.calculations.tests.row_policy_fixtures import book_define, member_api, policy
from apps.calculations.tests.scenarios import RETENTION_METRICS, retention_define, retention_rows, rows_load
from apps.calculations.types import METRIC_CALCULATED
from apps.core.realtime import listeners_track, listeners_untrack
from apps.core.tests.factories import MembershipFactory
from apps.messaging.bus import bus_connection, envelope_decode, stream_key

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

CONFIG = "/api/v1/client-config"
ALL_KPIS = sorted(code for code, _, _ in RETENTION_METRICS)


@pytest.fixture
def member():
    return MembershipFactory(role="admin", is_default=True)


@pytest.fixture
def api(member):
    client = APIClient()
    client.force_authenticate(member.user)
    return client


def configure(api, **changes) -> dict:
    response = api.patch(CONFIG, changes, format="json")
    assert response.status_code == 200, response.content
    return response.json()


async def _next(ws, predicate, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await ws.receive_json_from(timeout=max(0.01, deadline - loop.time()))
        if predicate(message):
            return message


def _answer(message: dict) -> bool:
    return message.get("type") in ("error", "subscribed")


def published(topic: str = METRIC_CALCULATED) -> list:
    return [envelope_decode(fields) for _, fields in bus_connection().xrange(stream_key(topic))]


def test_deactivating_a_kpi_tells_its_listeners_refuses_new_ones_and_its_reads_until_reactivated(
    api, member, make_worker
):
    retention_define(api)
    config_group = make_worker("calculations.config")
    token = AccessToken.for_user(member.user)
    others = [code for code in ALL_KPIS if code != "retention_rate"]

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/?token={token}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": "metric.retention_rate"})
        assert (await _next(ws, _answer))["type"] == "subscribed"

        await sync_to_async(configure)(api, active_kpis=others)
        assert await sync_to_async(config_group.drain)() == 1  # the change's client_config.changed
        told = await _next(ws, lambda m: m.get("channel") == "metric.retention_rate")
        assert told["event"] == {
            "metric": "retention_rate",
            "status": "deactivated",
            "message": "KPI 'retention_rate' is deactivated for this client.",
        }

        # A new subscription is refused, naming why.
        late = WebsocketCommunicator(application, f"/ws/?token={token}")
        assert (await late.connect())[0]
        await late.send_json_to({"action": "subscribe", "channel": "metric.retention_rate"})
        refused = await _next(late, _answer)
        assert refused["type"] == "error" and refused["error"]["code"] == "kpi_deactivated"
        assert refused["error"]["message"] == "KPI 'retention_rate' is deactivated for this client."
        await late.send_json_to({"action": "subscribe", "channel": "metric.end_count"})  # the others are fine
        assert (await _next(late, _answer))["type"] == "subscribed"
        await late.disconnect()

        # Its reads answer 409; the others, and the metrics that use it, still answer.
        read = await sync_to_async(api.get)("/api/v1/metrics/retention_rate", {"start": "2026-03-01"})
        assert read.status_code == 409
        assert read.json()["error"] == {
            "code": "kpi_deactivated",
            "message": "KPI 'retention_rate' is deactivated for this client.",
            "details": {"kpi": "retention_rate", "reason": "deactivated", "value_chains": []},
        }
        history = await sync_to_async(api.get)("/api/v1/metrics/retention_rate/history")
        assert history.status_code == 409 and history.json()["error"]["code"] == "kpi_deactivated"
        assert (await sync_to_async(api.get)("/api/v1/metrics/end_count", {"start": "2026-03-01"})).status_code == 200

        # Reactivated: listeners are told, reads answer again, subscriptions are taken.
        await sync_to_async(configure)(api, active_kpis=ALL_KPIS)
        assert await sync_to_async(config_group.drain)() == 1
        told = await _next(ws, lambda m: m.get("channel") == "metric.retention_rate")
        assert told["event"]["status"] == "reactivated"
        read = await sync_to_async(api.get)("/api/v1/metrics/retention_rate", {"start": "2026-03-01"})
        assert read.status_code == 200, read.content
        await ws.send_json_to({"action": "unsubscribe", "channel": "metric.retention_rate"})
        await ws.send_json_to({"action": "subscribe", "channel": "metric.retention_rate"})
        assert (await _next(ws, _answer))["type"] == "subscribed"
        await ws.disconnect()

    async_to_sync(scenario)()


def test_a_subscriber_under_a_row_policy_is_told_on_its_restricted_channel(make_worker):
    """A viewer under `region = 'EU'` listens to `metric.revenue.r<fingerprint>`
    (never `metric.revenue`): deactivating and reactivating the KPI reach that
    channel too, as they reach the unrestricted one."""
    admin_membership = MembershipFactory(role="admin", is_default=True)
    admin = APIClient()
    admin.force_authenticate(admin_membership.user)
    client = admin_membership.client
    book_define(admin)
    policy(client, "region = 'EU'")
    _, viewer = member_api(client, "viewer")
    config_group = make_worker("calculations.config")

    async def scenario():
        restricted = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(viewer)}")
        unrestricted = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(admin_membership.user)}")
        assert (await restricted.connect())[0] and (await unrestricted.connect())[0]
        await restricted.send_json_to({"action": "subscribe", "channel": "metric.revenue"})
        refused = await _next(restricted, _answer)
        assert refused["error"]["code"] == "row_policy_restricted"
        channel = refused["error"]["details"]["restricted_channel"]
        await restricted.send_json_to({"action": "subscribe", "channel": channel})
        assert (await _next(restricted, _answer))["type"] == "subscribed"
        await unrestricted.send_json_to({"action": "subscribe", "channel": "metric.revenue"})
        assert (await _next(unrestricted, _answer))["type"] == "subscribed"

        await sync_to_async(configure)(admin, active_kpis=[])
        assert await sync_to_async(config_group.drain)() == 1
        told = await _next(restricted, lambda m: m.get("channel") == channel)
        assert told["event"] == {
            "metric": "revenue",
            "status": "deactivated",
            "message": "KPI 'revenue' is deactivated for this client.",
        }
        assert (await _next(unrestricted, lambda m: "event" in m))["event"]["status"] == "deactivated"

        await sync_to_async(configure)(admin, active_kpis=["revenue"])
        assert await sync_to_async(config_group.drain)() == 1
        assert (await _next(restricted, lambda m: m.get("channel") == channel))["event"]["status"] == "reactivated"
        await restricted.disconnect()
        await unrestricted.disconnect()

    async_to_sync(scenario)()


def test_a_deactivated_value_chain_deactivates_the_reads_of_its_kpis(api, member, make_worker):
    retention_define(api)
    chain = {"code": "retention", "name": "Retention", "metrics": ["retention_rate", "new_count"]}
    assert api.post("/api/v1/ontology/value-chains/", chain, format="json").status_code == 201
    config_group = make_worker("calculations.config")
    token = AccessToken.for_user(member.user)

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/?token={token}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": "metric.new_count"})
        assert (await _next(ws, _answer))["type"] == "subscribed"
        body = await sync_to_async(configure)(api, active_value_chains=[])
        assert [k["code"] for k in body["inactive_kpis"]] == ["new_count", "retention_rate"]
        assert await sync_to_async(config_group.drain)() == 1
        told = await _next(ws, lambda m: m.get("channel") == "metric.new_count")
        assert told["event"]["status"] == "deactivated"
        await ws.disconnect()

    async_to_sync(scenario)()
    read = api.get("/api/v1/metrics/new_count", {"start": "2026-03-01"})
    assert read.status_code == 409
    assert read.json()["error"]["message"] == (
        "KPI 'new_count' is deactivated for this client (its value chain 'retention' is inactive)."
    )
    assert api.get("/api/v1/metrics/start_count", {"start": "2026-03-01"}).status_code == 200  # in no value chain
    configure(api, active_value_chains=["retention"])
    assert api.get("/api/v1/metrics/new_count", {"start": "2026-03-01"}).status_code == 200


def test_live_recalculation_leaves_out_a_deactivated_kpi(api, member, make_worker, eager_celery):
    retention_define(api)
    configure(api, active_kpis=[code for code in ALL_KPIS if code != "new_count"])
    live = make_worker("calculations.live")
    rows_load(api, "policy_snapshot", retention_rows())
    assert live.drain() == 1  # the load's ingestion.completed: recalculated in the (eager) task

    recorded = set(MetricHistory.objects.filter(client_id=member.client_id).values_list("metric_code", flat=True))
    # retention_rate still uses new_count inside its formula; new_count itself is neither recorded nor published.
    assert recorded == {"start_count", "end_count", "retention_rate"}
    assert {e.payload["metric"] for e in published()} == {"start_count", "end_count", "retention_rate"}


def test_the_clients_live_recalculation_switch_turns_recalculation_off(api, member, make_worker, eager_celery):
    retention_define(api)
    configure(api, features={"live_recalculation": False})
    live = make_worker("calculations.live")
    rows_load(api, "policy_snapshot", retention_rows())
    assert live.drain() == 1  # the event is applied, and nothing is recalculated
    assert not MetricHistory.objects.filter(client_id=member.client_id).exists()
    assert published() == []

    configure(api, features={"live_recalculation": True})
    rows_load(api, "policy_snapshot", retention_rows(opening="2026-04-01", closing="2026-04-02"))
    assert live.drain() == 1
    assert MetricHistory.objects.filter(client_id=member.client_id, metric_code="retention_rate").exists()


def test_the_period_publisher_skips_a_deactivated_kpi(api, member):
    retention_define(api)
    listening = {"client_id": member.client_id, "channels": ["metric.end_count", "metric.start_count"],
                 "connection": "c1", "user_id": member.user_id}  # fmt: skip
    listeners_track(**listening)
    try:
        # Counted as a difference: sockets of other tests may still be listening to their own metrics.
        both = live_periods_publish().computed  # both, at the minute, hour and day grains
        configure(api, active_kpis=[code for code in ALL_KPIS if code != "start_count"])
        assert both - live_periods_publish().computed == 3  # start_count's three grains are left out
    finally:
        listeners_untrack(**listening)
