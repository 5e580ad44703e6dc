"""The result cache against the real Redis: keys, TTLs, round trips, the
generation check that keeps raced results out, and invalidation by data loads
(in-process hook and bus event)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from apps.calculations import cache
from apps.calculations.events import ingestion_completed_invalidate
from apps.calculations.types import AccessContext, Granularity, MetricQuery, MetricResult, Point, RowFilter
from apps.core.tests.factories import ClientFactory
from apps.messaging.registry import handlers_discover, handlers_for
from apps.messaging.services import event_apply
from apps.messaging.types import Envelope
from apps.ontology.services.data_load import entity_rows_load
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create
from apps.ontology.services.hooks import rows_loaded_listeners
from apps.ontology.types import INGESTION_COMPLETED, IngestionCompletedV1, RowsLoaded

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def redis_client():
    client = cache.cache_connection()

    def clean():
        keys = list(client.scan_iter(match="ae:calc:*", count=1000))
        if keys:
            client.delete(*keys)

    clean()
    yield client
    clean()


def query(metric="revenue", start=JAN, end=FEB, **kwargs) -> MetricQuery:
    return MetricQuery(metric=metric, start=start, end=end, **kwargs)


def result(**kwargs) -> MetricResult:
    values = {
        "metric": "revenue",
        "unit": "EUR",
        "granularity": "day",
        "route": "rollup",
        "cached": False,
        "computed_at": datetime(2026, 2, 2, 8, 30, 15, 123456, tzinfo=UTC),
        "series": (
            Point(bucket=JAN, dims={"region": "north", "lob": 3}, value=1250.5),
            Point(bucket=JAN + timedelta(days=1), dims={"region": "north", "lob": 3}, value=None),
            Point(bucket=None, dims={}, value=7.0),
        ),
        "domain": "finance",
        "entities": ("orders",),
    }
    return MetricResult(**{**values, **kwargs})


def store(key, *, client_id=1, entities=("orders",), start=JAN, end=FEB, ttl=600, value=None) -> bool:
    return cache.result_store(
        key=key,
        result=value or result(),
        client_id=client_id,
        entities=entities,
        start=start,
        end=end,
        ttl=ttl,
        generations_seen=cache.generations(client_id=client_id, entities=entities),
    )


def cached(client_id: int, start: datetime, end: datetime, entity="orders", metric="revenue") -> str:
    """A stored result of `entity` for a client over [start, end); its key."""
    key = cache.result_cache_key(
        query=query(metric=metric, start=start, end=end), context=AccessContext(client_id=client_id), version="1"
    )
    assert store(key, client_id=client_id, entities=(entity,), start=start, end=end)
    return key


# --- keys --------------------------------------------------------------------------


def test_the_key_names_tenant_and_metric_and_is_stable():
    key = cache.result_cache_key(query=query(), context=AccessContext(client_id=7), version="3")
    assert key.startswith("ae:calc:7:revenue:")
    assert len(key.rsplit(":", 1)[1]) == 64
    same = cache.result_cache_key(query=query(), context=AccessContext(client_id=7), version="3")
    assert same == key


@pytest.mark.parametrize(
    ("other_query", "other_context", "other_version"),
    [
        (query(), AccessContext(client_id=8), "3"),  # another tenant
        (query(), AccessContext(client_id=7, row_filters=(RowFilter("region", "in", ("north",)),)), "3"),
        (query(granularity=Granularity.MONTH), AccessContext(client_id=7), "3"),
        (query(filters=(("region", ("north",)),)), AccessContext(client_id=7), "3"),
        (query(group_by=("region",)), AccessContext(client_id=7), "3"),
        (query(end=MAR), AccessContext(client_id=7), "3"),
        (query(), AccessContext(client_id=7), "4"),  # the metric's definition changed
    ],
    ids=["tenant", "row-filters", "granularity", "filters", "group-by", "range", "version"],
)
def test_the_key_differs_by_every_input(other_query, other_context, other_version):
    key = cache.result_cache_key(query=query(), context=AccessContext(client_id=7), version="3")
    assert cache.result_cache_key(query=other_query, context=other_context, version=other_version) != key


def test_row_filters_of_two_users_give_two_keys():
    north = AccessContext(client_id=7, row_filters=(RowFilter("region", "in", ("north",)),))
    south = AccessContext(client_id=7, row_filters=(RowFilter("region", "in", ("south",)),))
    assert cache.result_cache_key(query=query(), context=north, version="1") != cache.result_cache_key(
        query=query(), context=south, version="1"
    )


# --- TTL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "expected"),
    [("finance", 300), ("supply_chain", 3600), ("Supply Chain", 3600), ("supply-chain", 3600), ("hr", 86400)],
)
def test_ttl_by_domain_reaches_redis(redis_client, domain, expected):
    assert cache.cache_ttl(domain) == expected
    assert store("ae:calc:1:revenue:ttl", ttl=cache.cache_ttl(domain))
    assert expected - 5 <= redis_client.ttl("ae:calc:1:revenue:ttl") <= expected


def test_ttl_settings_are_read_at_call_time(settings):
    settings.AE_CALC_CACHE_TTL_BY_DOMAIN = {"Finance": 60}
    settings.AE_CALC_CACHE_TTL_DEFAULT = 900
    assert cache.cache_ttl("finance") == 60
    assert cache.cache_ttl("supply_chain") == 900
    assert cache.cache_ttl("") == 900


def test_a_zero_ttl_or_a_disabled_cache_stores_nothing(settings):
    assert not store("ae:calc:1:revenue:zero", ttl=0)
    settings.AE_CALC_CACHE_ENABLED = False
    assert not store("ae:calc:1:revenue:off")
    settings.AE_CALC_CACHE_ENABLED = True
    assert cache.result_get("ae:calc:1:revenue:zero") is None
    assert cache.result_get("ae:calc:1:revenue:off") is None


# --- round trip --------------------------------------------------------------------


def test_a_stored_result_comes_back_equal_and_marked_cached(redis_client):
    original = result()
    assert store("ae:calc:1:revenue:trip", value=original)
    assert redis_client.get("ae:calc:1:revenue:trip").startswith(b"{")  # JSON, not pickle
    back = cache.result_get("ae:calc:1:revenue:trip")
    assert back == MetricResult(**{**original.__dict__, "cached": True})
    assert back.computed_at.tzinfo is not None
    assert back.series[0] == Point(bucket=JAN, dims={"region": "north", "lob": 3}, value=1250.5)
    assert back.series[1].value is None
    assert back.series[2].bucket is None
    assert isinstance(back.series[2].value, float)


def test_a_miss_and_an_unreadable_entry_read_as_none(redis_client):
    assert cache.result_get("ae:calc:1:revenue:missing") is None
    redis_client.set("ae:calc:1:revenue:garbage", b"\x80not json")
    assert cache.result_get("ae:calc:1:revenue:garbage") is None


# --- generations -------------------------------------------------------------------


def test_generations_start_at_zero_and_move_with_each_load():
    assert cache.generations(client_id=1, entities=["orders", "shipments"]) == (0, 0)
    cache.results_invalidate(client_id=1, entity="shipments", time_min=None, time_max=None)
    assert cache.generations(client_id=1, entities=["orders", "shipments"]) == (0, 1)
    assert cache.generations(client_id=2, entities=["shipments"]) == (0,)
    assert cache.generations(client_id=1, entities=[]) == ()


def test_a_result_computed_while_its_data_was_loaded_is_not_cached():
    entities = ("orders", "customers")
    seen = cache.generations(client_id=1, entities=entities)
    cache.results_invalidate(client_id=1, entity="customers", time_min=JAN, time_max=FEB)  # the load lands
    stored = cache.result_store(
        key="ae:calc:1:revenue:raced",
        result=result(),
        client_id=1,
        entities=entities,
        start=JAN,
        end=FEB,
        ttl=600,
        generations_seen=seen,
    )
    assert stored is False
    assert cache.result_get("ae:calc:1:revenue:raced") is None


def test_a_load_of_another_client_or_entity_does_not_block_storing():
    seen = cache.generations(client_id=1, entities=("orders",))
    cache.results_invalidate(client_id=2, entity="orders", time_min=None, time_max=None)
    cache.results_invalidate(client_id=1, entity="shipments", time_min=None, time_max=None)
    assert cache.result_store(
        key="ae:calc:1:revenue:ok",
        result=result(),
        client_id=1,
        entities=("orders",),
        start=JAN,
        end=FEB,
        ttl=600,
        generations_seen=seen,
    )


# --- invalidation ------------------------------------------------------------------


def test_a_load_deletes_only_overlapping_results_of_its_client_and_entity(redis_client):
    january = cached(1, JAN, FEB)
    march = cached(1, MAR, APR)
    other_client = cached(2, JAN, FEB)
    other_entity = cached(1, JAN, FEB, entity="shipments", metric="deliveries")

    deleted = cache.results_invalidate(
        client_id=1, entity="orders", time_min=JAN + timedelta(days=10), time_max=JAN + timedelta(days=12)
    )

    assert deleted == 1
    assert cache.result_get(january) is None
    assert redis_client.hkeys("ae:calc:idx:1:orders") == [march.encode()]
    for key in (march, other_client, other_entity):
        assert cache.result_get(key) is not None


def test_range_edges_time_max_is_inclusive_and_result_end_exclusive():
    january = cached(1, JAN, FEB)
    february = cached(1, FEB, MAR, metric="margin")
    # Rows exactly at FEB belong to February's range [FEB, MAR), not January's.
    assert cache.results_invalidate(client_id=1, entity="orders", time_min=FEB, time_max=FEB) == 1
    assert cache.result_get(february) is None
    assert cache.result_get(january) is not None


def test_unbounded_loads_delete_every_result_of_the_entity():
    keys = [cached(1, JAN, FEB), cached(1, MAR, APR)]
    other_client = cached(2, JAN, FEB)
    assert cache.results_invalidate(client_id=1, entity="orders", time_min=None, time_max=None) == 2
    assert all(cache.result_get(key) is None for key in keys)
    assert cache.result_get(other_client) is not None


def test_a_half_open_range_is_open_on_its_missing_side():
    january, march = cached(1, JAN, FEB), cached(1, MAR, APR)
    assert cache.results_invalidate(client_id=1, entity="orders", time_min=MAR, time_max=None) == 1
    assert cache.result_get(march) is None
    assert cache.result_get(january) is not None


def test_invalidation_walks_a_large_index(redis_client):
    keys = [cached(1, JAN + timedelta(minutes=i), JAN + timedelta(minutes=i + 1), metric=f"m{i}") for i in range(1200)]
    assert cache.results_invalidate(client_id=1, entity="orders", time_min=JAN, time_max=FEB) == 1200
    assert redis_client.exists(*keys) == 0
    assert redis_client.hlen("ae:calc:idx:1:orders") == 0


def test_the_index_lives_at_least_as_long_as_its_results(redis_client):
    cached(1, JAN, FEB)
    store("ae:calc:1:revenue:long", ttl=86400)
    assert redis_client.ttl("ae:calc:idx:1:orders") >= 86400 - 5
    store("ae:calc:1:revenue:short", ttl=60)  # a shorter TTL does not cut the index's
    assert redis_client.ttl("ae:calc:idx:1:orders") >= 86400 - 5


# --- data loads --------------------------------------------------------------------


def test_the_rows_loaded_listener_invalidates_the_loaded_range():
    january, march = cached(1, JAN, FEB), cached(1, MAR, APR)
    assert cache.results_invalidate_on_rows_loaded in rows_loaded_listeners()
    listener = next(f for f in rows_loaded_listeners() if f is cache.results_invalidate_on_rows_loaded)
    listener(
        RowsLoaded(
            event_id=str(uuid.uuid4()),
            client_id=1,
            entity="orders",
            inserted=10,
            time_min=JAN + timedelta(days=3),
            time_max=JAN + timedelta(days=4),
            correlation_id="corr-1",
        )
    )
    assert cache.result_get(january) is None
    assert cache.result_get(march) is not None


def ingestion_event(tenant: str | None, *, time_min=JAN, time_max=JAN + timedelta(days=1)) -> Envelope:
    payload = IngestionCompletedV1(
        entity="orders", load_id=1, inserted=5, rejected=0, time_min=time_min, time_max=time_max, source="api"
    )
    return Envelope(
        type=INGESTION_COMPLETED, topic=INGESTION_COMPLETED, tenant=tenant, payload=payload.model_dump(mode="json")
    )


@pytest.mark.django_db
def test_the_bus_handler_invalidates_the_tenants_results():
    acme, other = ClientFactory(code="acme"), ClientFactory(code="other")
    january, march, others = cached(acme.pk, JAN, FEB), cached(acme.pk, MAR, APR), cached(other.pk, JAN, FEB)

    ingestion_completed_invalidate(ingestion_event("acme"))

    assert cache.result_get(january) is None
    assert cache.result_get(march) is not None
    assert cache.result_get(others) is not None


@pytest.mark.django_db
def test_the_bus_handler_runs_in_the_calculations_group():
    acme = ClientFactory(code="acme")
    january = cached(acme.pk, JAN, FEB)
    handlers_discover()
    names = [r.func for r in handlers_for(topic=INGESTION_COMPLETED, group="calculations")]
    assert ingestion_completed_invalidate in names

    assert event_apply(envelope=ingestion_event("acme", time_min=None, time_max=None), group="calculations")
    assert cache.result_get(january) is None


@pytest.mark.django_db
def test_an_event_of_an_unknown_tenant_changes_nothing():
    acme = ClientFactory(code="acme")
    january = cached(acme.pk, JAN, FEB)
    ingestion_completed_invalidate(ingestion_event("nobody"))
    ingestion_completed_invalidate(ingestion_event(None))
    assert cache.result_get(january) is not None


@pytest.mark.django_db
def test_loading_rows_invalidates_the_cached_results_they_touch(django_capture_on_commit_callbacks):
    client_id = ClientFactory().pk
    orders = entity_create(
        client_id=client_id,
        data=EntityInput(
            code="orders",
            name="Orders",
            kind="time_series",
            time_attribute="ordered_at",
            attributes=[
                AttributeInput("ordered_at", "timestamp", nullable=False),
                AttributeInput("amount", "decimal"),
            ],
        ),
    )
    january, march = cached(client_id, JAN, FEB), cached(client_id, MAR, APR)

    with django_capture_on_commit_callbacks(execute=True):
        entity_rows_load(entity=orders, rows=[{"ordered_at": "2026-01-15T10:00:00Z", "amount": "12.50"}])

    assert cache.result_get(january) is None
    assert cache.result_get(march) is not None
