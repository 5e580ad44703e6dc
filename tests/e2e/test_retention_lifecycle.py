"""Lifecycle 1 end to end (issue #7, part 5): a health insurer's retention,
from definitions to a Slack alert, with every part of the stack in its own
process, as production runs it: the API (in the test process), a real
Celery worker, a real `run_consumers`, a real daphne serving /ws/ to a real
socket client, real Redis and TimescaleDB. Nothing of ours is mocked.

The story, step by step:

1. an admin defines Member, Policy, policy_snapshot (with the relationship
   to Policy) and the retention metrics through the API, and a threshold
   rule "Health retention below 85%" on `{"lob": "Health"}` (which also
   makes `lob` a breakdown of the live recalculation);
2. a WebSocket client subscribes to `metric.retention_rate` on daphne;
3. the Health Retention scenario runs (POST /simulation/runs/, the worker
   generates 1000 / 950 / 50 for one day and loads it through the bulk-load
   path, which publishes `ingestion.completed`);
4. the consumer hears it and queues the recalculation; the worker records
   it in `metric_history`, publishes `metric.calculated` and pushes it to
   the subscriber: 0.9 for `{"lob": "Health"}`;
5. the recalculation left the fresh result in the cache for 24 h (the
   metrics' domain, `health`, takes the default TTL), so the metric API's
   first read is a cache hit; the history API shows the point;
6. a worse day (80% of the book kept) is loaded; the recalculated 0.8
   breaches the rule and the Slack-style receiver gets the alert; the
   history API's trend shows 0.9 then 0.8.

The recalculation computes fresh (a result cached before the load never
passes for a new one) and stores what it computed (`refresh_cache`): the
dashboard's next read of the same query is a hit.
"""

from datetime import UTC, datetime

import pytest
from django.db import connections
from psycopg import sql
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.calculations import cache
from apps.calculations.models import MetricHistory
from apps.calculations.tests.scenarios import snapshot
from apps.core.tests.factories import MembershipFactory
from apps.core.tests.ws_client import Closed, RawWebSocket
from apps.messaging.bus import bus_connection, envelope_decode, stream_key

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.timeout(600),
    pytest.mark.django_db(transaction=True, databases=["default", "readonly"]),
]

OPENING_DAY, DAY, WORSE_DAY = "2026-03-30", "2026-03-31", "2026-04-01"  # the scenario loads the opening book too
HEALTH = {"lob": "Health"}

ENTITIES = [
    {"code": "member", "name": "Member", "kind": "reference", "attributes": [
        {"code": "member_id", "data_type": "string", "nullable": False},
        {"code": "region", "data_type": "string"}]},
    {"code": "policy", "name": "Policy", "kind": "reference", "attributes": [
        {"code": "policy_id", "data_type": "string", "nullable": False},
        {"code": "member_id", "data_type": "string"},
        {"code": "lob", "data_type": "string", "enum_values": ["Health", "Motor"]}]},
    # The shape the Health Retention scenario writes (it reuses a compatible definition).
    {"code": "policy_snapshot", "name": "Policy snapshot", "kind": "time_series",
     "time_attribute": "snapshot_date", "attributes": [
        {"code": "snapshot_date", "data_type": "date", "nullable": False},
        {"code": "policy_id", "data_type": "string", "nullable": False},
        {"code": "status", "data_type": "string", "enum_values": ["Active", "Terminated"]},
        {"code": "start_date", "data_type": "date"},
        {"code": "lob", "data_type": "string"},
        {"code": "premium", "data_type": "decimal"}]},
]  # fmt: skip
RELATIONSHIPS = [
    {"code": "snapshot_policy", "source_entity": "policy_snapshot", "target_entity": "policy",
     "kind": "many_to_one", "source_attribute": "policy_id", "target_attribute": "policy_id"},
    {"code": "policy_member", "source_entity": "policy", "target_entity": "member",
     "kind": "many_to_one", "source_attribute": "member_id", "target_attribute": "member_id"},
]  # fmt: skip
METRICS = [
    ("start_count", "AT_START(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "count"),
    ("end_count", "AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "count"),
    ("new_count", "AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active' AND start_date >= PERIOD_START())",
     "count"),
    ("retention_rate", "(EndCount - NewCount) / StartCount", "ratio"),
]  # fmt: skip


@pytest.fixture
def admin():
    return MembershipFactory(role="admin", is_default=True)


@pytest.fixture
def api(admin):
    client = APIClient()
    client.force_authenticate(admin.user)
    return client


def created(response) -> dict:
    assert response.status_code in (201, 202), response.content
    return response.json()


def define(api: APIClient) -> None:
    for path, payloads in (("entities", ENTITIES), ("relationships", RELATIONSHIPS)):
        for payload in payloads:
            created(api.post(f"/api/v1/ontology/{path}/", payload, format="json"))
    for code, formula, unit in METRICS:
        metric = {"code": code, "name": code.replace("_", " ").capitalize(), "formula": formula,
                  "entity": "policy_snapshot", "unit": unit, "domain": "health"}  # fmt: skip
        created(api.post("/api/v1/ontology/metrics/", metric, format="json"))


def is_point(frame: dict, *, value: float | None = None, bucket: str, dims: dict) -> bool:
    event = frame.get("event") or {}
    return (
        frame.get("channel") == "metric.retention_rate"
        and event.get("metric") == "retention_rate"
        and event.get("dims") == dims
        and str(event.get("bucket", "")).startswith(bucket)
        and (value is None or event.get("value") == pytest.approx(value))
    )


def frames_until(ws: RawWebSocket, predicate, seen: list, timeout: float) -> dict | None:
    """Read frames (heartbeats included) until one matches; None on the timeout."""
    try:
        return ws.recv_until(lambda frame: seen.append(frame) or predicate(frame), timeout=timeout)
    except (TimeoutError, Closed) as exc:
        seen.append({"stopped": repr(exc)})
        return None


def bus_points(**match) -> list[dict]:
    events = [envelope_decode(fields) for _, fields in bus_connection().xrange(stream_key("metric.calculated"))]
    return [
        {"tenant": e.tenant, "version": e.version, **e.payload}
        for e in events
        if all(e.payload.get(key) == value for key, value in match.items())
    ]


def active_policies(client_id: int, day: str) -> list[tuple[str, str]]:
    """(policy_id, start_date) of the policies Active on `day`, read back as a dashboard would."""
    table = sql.Identifier("analytics_data", f"c{client_id}_policy_snapshot")
    query = sql.SQL("SELECT policy_id, start_date::text FROM {} WHERE snapshot_date = %s AND status = 'Active'")
    with connections["readonly"].cursor() as cursor:
        cursor.execute(query.format(table), [day])
        return sorted(cursor.fetchall())


def test_health_retention_from_definitions_to_a_slack_alert(
    api,
    admin,
    worker,
    consumers,
    server,
    wait_for,
    stack_tail,
    slack,
):
    # 1. Definitions and the rule, through the API.
    define(api)
    rule = created(
        api.post(
            "/api/v1/calculations/threshold-rules/",
            {"name": "Health retention below 85%", "metric": "retention_rate", "dims": HEALTH, "operator": "<",
             "threshold": 0.85, "webhook_url": slack.url, "cooldown_seconds": 3600,
             "message": "{rule}: {metric} is {value} ({value_percent}) on {bucket}{dims_text}"},
            format="json",
        )
    )  # fmt: skip

    # 2. A real socket client of the real server subscribes.
    ws = RawWebSocket("127.0.0.1", server["port"], f"/ws/?token={AccessToken.for_user(admin.user)}")
    seen: list = []
    try:
        ws.send_json({"action": "subscribe", "channel": "metric.retention_rate"})
        answer = frames_until(ws, lambda f: f.get("type") in ("subscribed", "error"), seen, 10)
        assert answer and answer["type"] == "subscribed", seen[-3:]

        # 3. The Health Retention scenario, one day: Start 1000, End 950, New 50, in the worker.
        run = created(
            api.post(
                "/api/v1/simulation/runs/",
                {"scenario": "health_retention", "start": DAY, "end": WORSE_DAY,
                 "params": {"period": "day", "lobs": {"Health": {"start": 1000, "end": 950, "new": 50}}}},
                format="json",
            )
        )  # fmt: skip
        finished = wait_for(
            lambda: (
                (r := api.get(f"/api/v1/simulation/runs/{run['id']}/").json())["status"] in ("succeeded", "failed")
                and r
            ),
            what=f"simulation run {run['id']} to finish",
        )
        assert finished["status"] == "succeeded", finished
        assert {"entity policy_snapshot", "metric retention_rate"} <= set(finished["summary"]["ontology"]["reused"]), (
            finished["summary"]["ontology"]
        )

        # 4. ingestion.completed -> consumer -> worker -> the WebSocket subscriber.
        frame = frames_until(ws, lambda f: is_point(f, bucket=DAY, dims=HEALTH), seen, 90)
        assert frame is not None, f"no Health point on {DAY} over /ws/; last frames: {seen[-3:]}\n{stack_tail()}"
        assert {"metric": "retention_rate", "value": 0.9, "dims": {"lob": "Health"}}.items() <= frame["event"].items()
        assert frame["event"]["source"] == "recalculation" and frame["event"]["granularity"] == "day"

        # The recalculation was the one the load's ingestion.completed queued (its id is the task's cause).
        loads = [
            e.event_id
            for e in (envelope_decode(f) for _, f in bus_connection().xrange(stream_key("ingestion.completed")))
            if e.tenant == admin.client.code and e.payload.get("entity") == "policy_snapshot"
        ]
        assert loads, "the scenario's load published no ingestion.completed"
        wait_for(
            lambda: any(f"'cause': '{event_id}'" in worker.read_text(errors="replace") for event_id in loads),
            what=f"a calculations.live_recalculate caused by {loads} in the worker's log",
        )

        # ... published on the bus for the tenant,
        (published,) = bus_points(metric="retention_rate", dims=HEALTH, bucket=f"{DAY}T00:00:00Z")
        assert published["value"] == 0.9 and published["tenant"] == admin.client.code and published["version"] == 1
        # ... and recorded in metric_history.
        row = MetricHistory.objects.get(
            client_id=admin.client_id, metric_code="retention_rate", granularity="day", dims=HEALTH,
            bucket=datetime.fromisoformat(DAY).replace(tzinfo=UTC),
        )  # fmt: skip
        assert row.value == pytest.approx(0.9)

        # 5. The recalculation cached it for 24 h (domain "health": the default TTL) ...
        redis = cache.cache_connection()
        keys = [  # the results, not the single-flight hand-over keys (`<key>:flight:<token>`)
            key
            for key in redis.scan_iter(match=f"{cache.PREFIX}:{admin.client_id}:retention_rate:*")
            if b":flight:" not in key and not key.endswith(b":lock")
        ]
        assert keys, "the recalculation stored no retention_rate result in the cache"
        ttls = [redis.ttl(key) for key in keys]
        assert all(23 * 3600 < ttl <= 24 * 3600 for ttl in ttls), ttls
        # ... so the metric API's first read of the days the load touched is a hit.
        params = {"start": OPENING_DAY, "end": WORSE_DAY, "group_by": "lob"}
        first = api.get("/api/v1/metrics/retention_rate", params).json()
        assert first["cached"] is True, first
        assert {"bucket": f"{DAY}T00:00:00Z", "dims": HEALTH, "value": 0.9} in first["series"], first

        # ... and its history (the trend) holds the recorded point.
        history = api.get(
            "/api/v1/metrics/retention_rate/history", {"start": DAY, "end": WORSE_DAY, "granularity": "day"}
        )
        assert history.status_code == 200, history.content
        trend = {(tuple(sorted(p["dims"].items())), p["bucket"][:10]): p["value"] for p in history.json()["results"]}
        assert trend[((("lob", "Health"),), DAY)] == pytest.approx(0.9), trend
        assert not slack.messages  # 0.9 is not below 0.85: nothing fired

        # 6. A worse day: 760 of the 950 policies stay (0.8, below 85%), loaded through the API.
        active = active_policies(admin.client_id, DAY)
        assert len(active) == 950
        worse = [
            snapshot(WORSE_DAY, policy, "Active" if i < 760 else "Terminated", "Health", start_date)
            for i, (policy, start_date) in enumerate(active)
        ]
        loaded = api.post("/api/v1/data/policy_snapshot/rows/", worse, format="json")
        assert loaded.status_code == 201 and loaded.json()["rejected"] == [], loaded.content[:500]

        frame = frames_until(ws, lambda f: is_point(f, bucket=WORSE_DAY, dims=HEALTH), seen, 90)
        assert frame is not None, f"no point for {WORSE_DAY} over /ws/; last frames: {seen[-3:]}\n{stack_tail()}"
        assert frame["event"]["value"] == pytest.approx(0.8)
    finally:
        ws.close()

    # The rule fired once, and the Slack-style receiver got the alert.
    messages = wait_for(lambda: slack.messages, what="the threshold alert at the Slack receiver", timeout=60)
    (message,) = messages
    assert message.path == "/services/T000/B000/XXXXSECRET" and message.content_type.startswith("application/json")
    text = message.body["text"]
    assert "Health retention below 85%" in text and "retention_rate" in text, text
    assert "0.8" in text and "80.0%" in text and "(lob=Health)" in text and WORSE_DAY in text, text
    alerts = wait_for(
        lambda: [
            a
            for a in api.get(f"/api/v1/calculations/threshold-rules/{rule['id']}/alerts/").json()["results"]
            if a["status"] == "sent"
        ],
        what="the alert recorded as sent",
    )
    assert [(a["metric"], a["dims"], a["value"]) for a in alerts] == [("retention_rate", HEALTH, 0.8)]

    # The trend over both days, as the metric API's history shows it: 0.9, then 0.8.
    history = api.get("/api/v1/metrics/retention_rate/history", {"start": DAY, "end": "2026-04-02"}).json()
    health = [(p["bucket"][:10], p["value"]) for p in history["results"] if p["dims"] == HEALTH]
    assert health == [(DAY, pytest.approx(0.9)), (WORSE_DAY, pytest.approx(0.8))], history
