"""Live KPIs after a load (apps/calculations/live.py): the dependent metrics,
the range and breakdowns recalculated, the history rows, the
`metric.calculated` events and the WebSocket push, from a load through the
API to a subscriber, with the real bus consumer, Redis and Postgres."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.calculations.live import (
    live_group_bys,
    live_recalculate,
    metrics_reading,
    recalculation_range,
)
from apps.calculations.models import MetricHistory
from apps.calculations.tests.scenarios import (
    created,
    retention_define,
    retention_rows,
    rows_load,
    sales_define,
    sales_load,
)
from apps.calculations.thresholds.services import threshold_rule_create
from apps.calculations.types import METRIC_CALCULATED
from apps.core.tests.factories import MembershipFactory
from apps.messaging.bus import bus_connection, envelope_decode, stream_key
from apps.ontology.catalog import catalog_load

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])


@pytest.fixture
def member():
    return MembershipFactory(role="admin", is_default=True)


@pytest.fixture
def api(member):
    client = APIClient()
    client.force_authenticate(member.user)
    return client


def published(topic: str = METRIC_CALCULATED) -> list:
    return [envelope_decode(fields) for _, fields in bus_connection().xrange(stream_key(topic))]


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_metrics_reading_an_entity_directly_through_joins_and_through_other_metrics(api, member):
    retention_define(api)
    sales_define(api)
    catalog = catalog_load(client_id=member.client_id)
    assert metrics_reading(catalog=catalog, entity="policy_snapshot") == [
        "end_count", "new_count", "retention_rate", "start_count",
    ]  # fmt: skip
    # revenue / headcount reads both; headcount alone has no time (a reference entity): no buckets to record.
    assert metrics_reading(catalog=catalog, entity="sales_orders") == ["revenue", "sales_efficiency"]
    assert metrics_reading(catalog=catalog, entity="sales_people") == ["sales_efficiency"]


def test_the_recalculated_range_is_whole_days_capped_and_defaulted(settings):
    assert recalculation_range(day("2026-03-30T00:00:00"), day("2026-03-31T00:00:00")) == (
        day("2026-03-30T00:00:00"),
        day("2026-04-01T00:00:00"),
    )
    assert recalculation_range(day("2026-03-30T13:05:00"), day("2026-03-30T23:59:59")) == (
        day("2026-03-30T00:00:00"),
        day("2026-03-31T00:00:00"),
    )
    settings.AE_LIVE_RECALC_MAX_DAYS = 7
    assert recalculation_range(day("2025-01-01T00:00:00"), day("2026-03-30T10:00:00")) == (
        day("2026-03-24T00:00:00"),
        day("2026-03-31T00:00:00"),
    )
    settings.AE_CALC_DEFAULT_RANGE_DAYS = 30
    start, end = recalculation_range(None, None)  # a reference entity's load: the default range
    assert end - start == timedelta(days=30) and start <= timezone.now() < end


def test_breakdowns_come_from_rules_history_and_unmentioned_enum_attributes(api, member):
    retention_define(api)
    created(
        api.post(
            "/api/v1/ontology/entities/",
            {
                "code": "tickets", "name": "Tickets", "kind": "time_series", "time_attribute": "opened_at",
                "attributes": [
                    {"code": "opened_at", "data_type": "timestamp", "nullable": False},
                    {"code": "priority", "data_type": "string", "enum_values": ["High", "Low"]},
                    {"code": "channel", "data_type": "string", "enum_values": ["Phone", "Mail"]},
                    {"code": "team", "data_type": "string"},
                ],
            },
            format="json",
        )
    )  # fmt: skip
    for code, formula in [("tickets_opened", "COUNT(*)"), ("urgent_tickets", "COUNT(*) WHERE priority = 'High'")]:
        metric = {"code": code, "name": code, "formula": formula, "entity": "tickets"}
        created(api.post("/api/v1/ontology/metrics/", metric, format="json"))
    start, end = day("2026-03-31T00:00:00"), day("2026-04-01T00:00:00")

    def group_bys(metric: str) -> list:
        return live_group_bys(catalog=catalog_load(client_id=member.client_id), metric=metric, start=start, end=end)

    # Enum attributes nobody filters on are breakdowns; `status` (filtered on) and `lob` (no enum) are not.
    assert group_bys("tickets_opened") == [(), ("channel",), ("priority",)]
    assert group_bys("urgent_tickets") == [(), ("channel",)]
    assert group_bys("retention_rate") == [()]

    # A threshold rule on a breakdown asks for it.
    threshold_rule_create(
        client_id=member.client_id, name="Health", metric="retention_rate", operator="<", threshold=0.85,
        webhook_url="http://127.0.0.1:9/hook", dims={"lob": "Health"},
    )  # fmt: skip
    assert group_bys("retention_rate") == [(), ("lob",)]
    # So does a breakdown recorded in the history near the range (a dashboard asked for it).
    rows_load(api, "policy_snapshot", retention_rows())
    api.get("/api/v1/metrics/end_count", {"start": "2026-03-01", "end": "2026-04-01", "group_by": "lob,status"})
    assert group_bys("end_count") == [(), ("lob", "status")]


def test_a_load_through_the_api_is_recalculated_recorded_published_and_pushed(
    api,
    member,
    make_worker,
    eager_celery,
):
    retention_define(api)
    # A rule on the Health line asks for the lob breakdown (and does not fire: 0.9 is not below 0.85).
    threshold_rule_create(
        client_id=member.client_id, name="Health retention", metric="retention_rate", operator="<",
        threshold=0.85, webhook_url="http://127.0.0.1:9/hook", dims={"lob": "Health"},
    )  # fmt: skip
    live = make_worker("calculations.live")
    token = AccessToken.for_user(member.user)

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/?token={token}")
        assert (await ws.connect())[0]
        await ws.send_json_to({"action": "subscribe", "channel": "metric.retention_rate"})
        while (await ws.receive_json_from(timeout=3)).get("type") != "subscribed":
            pass

        await sync_to_async(rows_load)(api, "policy_snapshot", retention_rows())
        assert await sync_to_async(live.drain)() == 1  # the load's ingestion.completed

        pushed = []
        while len(pushed) < 6:  # retention_rate: 2 days x (whole, Health, Motor)
            message = await ws.receive_json_from(timeout=5)
            if "event" in message:
                assert message["channel"] == "metric.retention_rate"
                pushed.append(message["event"])
        await ws.disconnect()
        return pushed

    pushed = async_to_sync(scenario)()
    on_31st = {tuple(sorted(p["dims"].items())): p["value"] for p in pushed if p["bucket"].startswith("2026-03-31")}
    assert on_31st == {(): 0.9, (("lob", "Health"),): 0.9, (("lob", "Motor"),): 0.9}
    health = next(p for p in pushed if p["dims"] == {"lob": "Health"} and p["bucket"].startswith("2026-03-31"))
    assert {"metric": "retention_rate", "value": 0.9, "dims": {"lob": "Health"}}.items() <= health.items()
    assert health["bucket"] == "2026-03-31T00:00:00Z" and health["granularity"] == "day"
    assert health["source"] == "recalculation"

    # Recorded: every dependent metric, by each breakdown, for both days.
    history = MetricHistory.objects.filter(client_id=member.client_id, granularity="day")
    assert set(history.values_list("metric_code", flat=True)) == {"start_count", "end_count", "new_count",
                                                                   "retention_rate"}  # fmt: skip
    row = history.get(metric_code="retention_rate", bucket=day("2026-03-31T00:00:00"), dims={"lob": "Health"})
    assert row.value == pytest.approx(0.9)
    assert history.get(metric_code="end_count", bucket=day("2026-03-31T00:00:00"), dims={}).value == 950

    # Published on the bus, one event per point, for the tenant.
    events = published()
    assert {e.tenant for e in events} == {member.client.code}
    assert len(events) == history.count()
    (event,) = [
        e
        for e in events
        if e.payload["metric"] == "retention_rate"
        and e.payload["dims"] == {"lob": "Health"}
        and e.payload["bucket"].startswith("2026-03-31")
    ]
    assert {"metric", "value", "dims", "bucket"} <= set(event.payload)
    assert event.payload["value"] == 0.9 and event.version == 1


def test_a_reference_entity_load_recalculates_the_metrics_that_join_it(api, member, settings):
    sales_define(api)
    sales_load(api)
    settings.AE_CALC_DEFAULT_RANGE_DAYS = 400  # the orders of March 2026 lie in the default range
    done = live_recalculate(client_id=member.client_id, entity="sales_people", time_min=None, time_max=None)
    assert done.metrics == ("sales_efficiency",)
    by_day = {p["bucket"][:10]: p["value"] for p in done.points if p["dims"] == {}}
    # The day's revenue over the headcount of the whole reference table (6 people).
    assert by_day["2026-03-02"] == pytest.approx(250 / 6) and by_day["2026-04-01"] == pytest.approx(200 / 6)
    assert len(by_day) == 6  # the six days with orders
    assert not done.failed


def test_a_breakdown_a_metric_cannot_take_is_skipped_and_the_others_go_on(api, member):
    retention_define(api)
    rows_load(api, "policy_snapshot", retention_rows())
    threshold_rule_create(
        client_id=member.client_id, name="By lob", metric="retention_rate", operator="<", threshold=0.5,
        webhook_url="http://127.0.0.1:9/hook", dims={"lob": "Health"},
    )  # fmt: skip
    # The attribute goes away from the definition (the table keeps the column): that breakdown fails to compile.
    entity = api.get("/api/v1/ontology/entities/policy_snapshot").json()
    entity["attributes"] = [a for a in entity["attributes"] if a["code"] != "lob"]
    response = api.put("/api/v1/ontology/entities/policy_snapshot", entity, format="json")
    if response.status_code != 200:
        pytest.skip(f"the ontology refuses dropping an attribute here: {response.content[:200]}")
    done = live_recalculate(
        client_id=member.client_id,
        entity="policy_snapshot",
        time_min=day("2026-03-31T00:00:00"),
        time_max=day("2026-03-31T00:00:00"),
    )
    assert any(f.startswith("retention_rate by lob") for f in done.failed)
    assert {p["metric"] for p in done.points} == {"start_count", "end_count", "new_count", "retention_rate"}
