"""Row policies (apps.governance, docs/access.md "Row policies") on every
read path of the engine: a viewer under `region = 'EU'` sees only EU
numbers through the metrics API, the ad-hoc query, history, the
WebSocket (refused: pushes are unrestricted) and the preview, even after
an unrestricted user warmed the cache; relationship predicates, IN,
placeholders, group/role/user subjects, OR across policies, joined
entities, rollup vs raw, and keys per context."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from analytics_engine.asgi import application
from apps.calculations.live import live_recalculate
from apps.calculations.models import MetricHistory
from apps.calculations.orchestrator import CalculationOrchestrator
from apps.calculations.realtime import live_periods_publish
from apps.calculations.rollups.services import rollup_create, rollup_refresh
from apps.calculations.selectors import access_context_for
from apps.calculations.tests.row_policy_fixtures import (
    EU,
    HEALTH_MOTOR,
    MARCH,
    MARCH_RANGE,
    NORTH,
    SOLD_BY_EU,
    TOTAL,
    book_define,
    book_load,
    member_api,
    policy,
)
from apps.calculations.tests.scenarios import rows_load
from apps.calculations.types import AccessContext, Granularity, MetricQuery
from apps.core.tests.factories import MembershipFactory
from apps.identity.models import DirectoryGroup, DirectoryMembership, DirectoryUser, ExternalIdentity, IdentityProvider

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])


@pytest.fixture
def book():
    """An admin (unrestricted) who defined and loaded the book, and the client."""
    membership = MembershipFactory(role="admin", is_default=True)
    admin = APIClient()
    admin.force_authenticate(membership.user)
    book_define(admin)
    book_load(admin)
    return admin, membership.client


def revenue(api: APIClient, **params) -> dict:
    response = api.get("/api/v1/metrics/revenue/", {**MARCH, **params})
    assert response.status_code == 200, response.content
    return response.json()


def total(api: APIClient, **params) -> float | None:
    series = revenue(api, **params)["series"]
    return sum(p["value"] for p in series if p["value"] is not None) if series else None


def test_metrics_api_restricted_after_an_unrestricted_user_warmed_the_cache(book):
    admin, client = book
    policy(client, "region = 'EU'")
    viewer, _ = member_api(client, "viewer")
    assert total(admin) == TOTAL
    assert revenue(admin)["cached"] is True  # warmed
    answer = revenue(viewer)
    assert answer["cached"] is False and total(viewer) == EU  # not the admin's cached answer
    assert revenue(viewer)["cached"] is True and total(viewer) == EU  # cached under the viewer's context
    assert total(admin) == TOTAL
    by_region = revenue(viewer, group_by="region")["series"]
    assert {p["dims"]["region"] for p in by_region} == {"EU"}


def test_another_viewer_with_the_same_policies_shares_the_cached_answer(book):
    _, client = book
    policy(client, "region = 'EU'")
    first, _ = member_api(client, "viewer")
    second, _ = member_api(client, "viewer")
    assert total(first) == EU
    assert revenue(second)["cached"] is True and total(second) == EU


def test_adhoc_query_is_restricted(book):
    admin, client = book
    policy(client, "region = 'EU'")
    viewer, _ = member_api(client, "viewer")
    payload = {
        "entity": "orders",
        "measures": {"total": "SUM(amount)", "orders": "COUNT(order_id)"},
        "range": {"start": "2026-03-01", "end": "2026-04-01"},
        "granularity": "month",
    }
    for api, expected in ((admin, [TOTAL, 5]), (viewer, [EU, 2]), (admin, [TOTAL, 5])):
        response = api.post("/api/v1/query/", payload, format="json")
        assert response.status_code == 200, response.content
        rows = response.json()["rows"]
        assert [float(v) for v in rows[0][-2:]] == expected


def test_history_gives_a_restricted_user_numbers_under_their_policy_never_the_stored_ones(book):
    admin, client = book
    policy(client, "region = 'EU'")
    viewer, _ = member_api(client, "viewer")
    assert total(admin) == TOTAL  # recorded in metric_history
    stored = MetricHistory.objects.filter(client=client, metric_code="revenue").count()
    assert stored > 0
    params = {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z", "granularity": "month"}
    admin_points = admin.get("/api/v1/metrics/revenue/history/", params).json()["results"]
    viewer_points = viewer.get("/api/v1/metrics/revenue/history/", params).json()["results"]
    assert [p["value"] for p in admin_points] == [TOTAL]
    assert [p["value"] for p in viewer_points] == [EU]
    assert total(viewer) == EU
    # The viewer's computations are never recorded.
    assert MetricHistory.objects.filter(client=client, metric_code="revenue").count() == stored
    assert (
        sorted(MetricHistory.objects.filter(client=client, metric_code="revenue").values_list("value", flat=True))[-1]
        == TOTAL
    )


async def _next(ws, predicate) -> dict:
    while True:
        message = await ws.receive_json_from(timeout=5)
        if predicate(message):
            return message


async def _subscribe(ws, channel: str) -> dict:
    await ws.send_json_to({"action": "subscribe", "channel": channel})
    return await _next(ws, lambda m: m.get("type") in ("error", "subscribed"))


def _now_orders(moment) -> list[dict]:
    return [
        {"ordered_at": moment.isoformat(), "order_id": f"n{i}", "region": region, "lob": "Health",
         "person_id": "s1", "amount": amount}
        for i, (region, amount) in enumerate((("EU", "10.00"), ("US", "1000.00")))
    ]  # fmt: skip


def test_websocket_a_restricted_subscriber_gets_only_values_computed_under_their_policy(book):
    admin, client = book
    policy(client, "region = 'EU'")
    viewer = MembershipFactory(client=client, role="viewer", is_default=True).user
    analyst = MembershipFactory(client=client, role="analyst", is_default=True).user
    now = timezone.now().replace(microsecond=0)
    minute = now.replace(second=0)
    rows_load(admin, "orders", _now_orders(minute + timedelta(seconds=1)))

    async def scenario():
        restricted = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(viewer)}")
        unrestricted = WebsocketCommunicator(application, f"/ws/?token={AccessToken.for_user(analyst)}")
        assert (await restricted.connect())[0] and (await unrestricted.connect())[0]
        refused = await _subscribe(restricted, "metric.revenue")  # unrestricted values: refused
        assert refused["type"] == "error" and refused["error"]["code"] == "row_policy_restricted"
        channel = refused["error"]["details"]["restricted_channel"]
        assert channel.startswith("metric.revenue.r")
        assert (await _subscribe(restricted, channel))["type"] == "subscribed"
        assert (await _subscribe(restricted, "metric.revenue.r0123456789abcdef"))["type"] == "error"
        assert (await _subscribe(unrestricted, channel))["error"]["code"] == "unknown_channel"  # not theirs
        assert (await _subscribe(unrestricted, "metric.revenue"))["type"] == "subscribed"

        round_ = await sync_to_async(live_periods_publish)(now=now)
        assert round_.failed == 0 and round_.computed == 6  # minute, hour and day, for each context
        got = {}
        for ws, name in ((restricted, "restricted"), (unrestricted, "unrestricted")):
            message = await _next(ws, lambda m: "event" in m and m["event"]["granularity"] == "minute")
            got[name] = (message["channel"], message["event"]["value"])
        # live recalculation after a load pushes under the policy too
        await sync_to_async(live_recalculate)(client_id=client.pk, entity="orders", time_min=minute, time_max=minute)
        recalculated = await _next(restricted, lambda m: "event" in m and m["event"]["source"] == "recalculation")
        others = await _next(unrestricted, lambda m: "event" in m and m["event"]["source"] == "recalculation")
        await restricted.disconnect()
        await unrestricted.disconnect()
        return channel, got, recalculated, others

    channel, got, recalculated, others = async_to_sync(scenario)()
    assert got == {"restricted": (channel, 10.0), "unrestricted": ("metric.revenue", 1010.0)}
    assert recalculated["channel"] == channel and recalculated["event"]["value"] == 10.0
    assert others["channel"] == "metric.revenue" and others["event"]["value"] == 1010.0


def test_a_relationship_predicate(book):
    admin, client = book
    policy(client, "sold_by.home_region = 'EU'")
    viewer, _ = member_api(client, "viewer")
    assert total(admin) == TOTAL
    assert total(viewer) == SOLD_BY_EU


def test_in_list_and_or_across_policies(book):
    _, client = book
    policy(client, "lob IN ('Health', 'Motor')")
    viewer, _ = member_api(client, "viewer")
    assert total(viewer) == HEALTH_MOTOR
    policy(client, "region = 'APAC'")  # a second policy for the same role and entity: OR
    other, _ = member_api(client, "viewer")
    assert total(other) == HEALTH_MOTOR + 1600.0


def _directory_user(client, user, *, attributes: dict, groups: tuple[str, ...] = (), removed_groups=()) -> None:
    provider = IdentityProvider.objects.create(
        client=client, name=f"AAD {user.pk}", tenant_id=f"tid-{user.pk}", application_id="app"
    )
    ExternalIdentity.objects.create(
        user=user, provider=provider, tenant_id=provider.tenant_id, object_id=f"oid-{user.pk}"
    )
    directory_user = DirectoryUser.objects.create(
        client=client, provider=provider, object_id=f"oid-{user.pk}", attributes=attributes
    )
    for object_id in (*groups, *removed_groups):
        group = DirectoryGroup.objects.create(client=client, provider=provider, object_id=object_id)
        if object_id in removed_groups:
            group.removed_at = group.created_at
            group.save()
        DirectoryMembership.objects.create(group=group, user=directory_user)


def test_a_user_placeholder_binds_the_directory_attribute_and_fails_closed_without_it(book):
    _, client = book
    policy(client, "sold_by.department = {user.department}")
    north, north_user = member_api(client, "viewer")
    _directory_user(client, north_user, attributes={"department": "north"})
    assert total(north) == NORTH
    nobody, _ = member_api(client, "viewer")  # no directory attributes: no department
    assert total(nobody) is None
    injected, injected_user = member_api(client, "viewer")
    _directory_user(client, injected_user, attributes={"department": "x' OR '1'='1"})
    assert total(injected) is None  # a value, bound: it matches no department


def test_group_and_user_subjects(book):
    admin, client = book
    policy(client, "region = 'EU'", kind="group", value="grp-eu")
    in_group, in_group_user = member_api(client, "analyst")
    _directory_user(client, in_group_user, attributes={}, groups=("grp-eu",))
    assert total(in_group) == EU
    removed, removed_user = member_api(client, "analyst")
    _directory_user(client, removed_user, attributes={}, removed_groups=("grp-eu",))
    assert total(removed) == TOTAL  # a removed group counts for nothing
    named, named_user = member_api(client, "analyst")
    policy(client, "region = 'US'", kind="user", value=str(named_user.pk))
    assert total(named) == 1200.0
    assert total(admin) == TOTAL


def test_a_policy_on_a_joined_entity_restricts_the_rows_read_through_the_join(book):
    _, client = book
    policy(client, "department = 'north'", entity="people")
    viewer, _ = member_api(client, "viewer")
    # orders has no policy of its own: unrestricted when the join is not read
    assert total(viewer) == TOTAL
    series = revenue(viewer, group_by="sold_by.department")["series"]
    assert {p["dims"]["sold_by.department"]: p["value"] for p in series} == {"north": NORTH}


def _rollup(client_id: int, *, now=None) -> None:
    rollup = rollup_create(
        client_id=client_id,
        entity="orders",
        grain="day",
        dimensions=["region", "lob"],
        measures=[{"attribute": "amount", "states": ["sum", "count"]}],
    )
    rollup_refresh(rollup=rollup, now=now or MARCH_RANGE[1].replace(day=10))


def test_rollup_under_a_policy_on_a_dimension_and_raw_on_another_attribute(book):
    admin, client = book
    _rollup(client.pk)
    assert revenue(admin)["route"] == "rollup"
    on_dimension = policy(client, "region = 'EU'")
    viewer, _ = member_api(client, "viewer")
    answer = revenue(viewer)
    assert answer["route"] == "rollup" and total(viewer) == EU
    assert total(viewer, route="raw") == EU  # the raw rows under the policy agree
    on_dimension.delete()
    policy(client, "person_id = 's1'")  # not a dimension of the rollup
    other, _ = member_api(client, "viewer")
    explained = revenue(other, explain="true")
    assert explained["route"] == "raw" and "person_id" in explained["explain"]["scans"][0]["reason"]
    assert total(other) == SOLD_BY_EU


def test_rollup_plus_raw_tail_under_a_policy_on_a_dimension_equals_the_raw_answer(book):
    """The day rollup refreshed on March 11 (its watermark March 10 or 11):
    March is answered from it up to the watermark plus the raw rows after it
    (route `rollup+raw`). Under
    `region = 'US'` each part holds rows in and out of the policy (o3 in the
    rollup, o4 in the tail; EU and APAC out): the answer equals the raw one
    under the same policy, totalled and per line of business."""
    admin, client = book
    _rollup(client.pk, now=MARCH_RANGE[0].replace(day=11))
    policy(client, "region = 'US'")
    viewer, _ = member_api(client, "viewer")
    assert revenue(admin)["route"] == "rollup+raw"  # each part holds rows
    merged = revenue(viewer, explain="true")
    assert merged["route"] == "rollup+raw", merged["explain"]
    raw = revenue(viewer, route="raw")
    assert raw["route"] == "raw"
    assert total(viewer) == total(viewer, route="raw") == 400.0 + 800.0
    by_lob = {p["dims"]["lob"]: p["value"] for p in revenue(viewer, group_by="lob")["series"]}
    assert by_lob == {p["dims"]["lob"]: p["value"] for p in revenue(viewer, group_by="lob", route="raw")["series"]}
    assert by_lob == {"Health": 400.0, "Motor": 800.0}
    assert revenue(viewer, group_by="lob")["route"] == "rollup+raw"


def test_single_flight_and_cache_keys_differ_per_context_and_match_for_equal_ones(book):
    _, client = book
    policy(client, "region = 'EU'")
    viewer = MembershipFactory(client=client, role="viewer").user
    other = MembershipFactory(client=client, role="viewer").user
    query = MetricQuery(metric="revenue", start=MARCH_RANGE[0], end=MARCH_RANGE[1], granularity=Granularity.MONTH)

    def key(context: AccessContext) -> str:
        orchestrator = CalculationOrchestrator(context=context)
        return orchestrator._result_key(orchestrator.compile(query), query)  # the single flight's key too

    unrestricted = AccessContext(client_id=client.pk)
    restricted = access_context_for(client_id=client.pk, user_id=viewer.pk)
    assert restricted.restricted and not access_context_for(client_id=client.pk, user_id=None).restricted
    assert key(unrestricted) != key(restricted)
    assert key(restricted) == key(access_context_for(client_id=client.pk, user_id=other.pk))


def test_preview_shows_what_a_member_would_see(book):
    admin, client = book
    policy(client, "region = 'EU'")
    viewer, viewer_user = member_api(client, "viewer")
    body = {"user": viewer_user.username, "metric": "revenue", **MARCH}
    response = admin.post("/api/v1/row-policies/preview/", body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["restricted"] is True and data["policies"] == [{"entity": "orders", "predicates": ["region = 'EU'"]}]
    assert data["restricted_result"]["series"][0]["value"] == EU
    assert data["unrestricted_result"]["series"][0]["value"] == TOTAL
    by_id = admin.post("/api/v1/row-policies/preview/", {**body, "user": str(viewer_user.pk)}, format="json")
    assert by_id.json()["restricted_result"]["series"][0]["value"] == EU
    assert viewer.post("/api/v1/row-policies/preview/", body, format="json").status_code == 403
    missing = admin.post("/api/v1/row-policies/preview/", {**body, "user": "nobody"}, format="json")
    assert missing.status_code == 404


def test_a_stored_predicate_that_no_longer_compiles_hides_the_entity(book):
    admin, client = book
    policy(client, "retired_attribute = 'EU'")  # saved before the attribute went away
    viewer, _ = member_api(client, "viewer")
    response = viewer.get("/api/v1/metrics/revenue/", MARCH)
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "permission_denied"
    assert "retired_attribute" in response.json()["error"]["message"]
    assert total(admin) == TOTAL
