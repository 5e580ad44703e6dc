"""A small sales book for row-policy tests: orders by region, line of
business and salesperson, sales people with their own region and
department. Totals for March 2026: all 3100; region EU 300 (100 + 200);
lob Health or Motor 1500; sold by an EU salesperson (s1) 100; sold by
department north (s1, s3) 1300."""

from datetime import UTC, datetime

from rest_framework.test import APIClient

from apps.calculations.tests.scenarios import created, rows_load
from apps.core.tests.factories import MembershipFactory
from apps.governance.models import RowPolicy

PEOPLE = {
    "code": "people",
    "name": "People",
    "kind": "reference",
    "attributes": [
        {"code": "person_id", "data_type": "string", "nullable": False},
        {"code": "home_region", "data_type": "string"},
        {"code": "department", "data_type": "string"},
    ],
}
ORDERS = {
    "code": "orders",
    "name": "Orders",
    "kind": "time_series",
    "time_attribute": "ordered_at",
    "attributes": [
        {"code": "ordered_at", "data_type": "timestamp", "nullable": False},
        {"code": "order_id", "data_type": "string", "nullable": False},
        {"code": "region", "data_type": "string", "enum_values": ["EU", "US", "APAC"]},
        {"code": "lob", "data_type": "string", "enum_values": ["Health", "Motor", "Life"]},
        {"code": "person_id", "data_type": "string"},
        {"code": "amount", "data_type": "decimal"},
    ],
}
PEOPLE_ROWS = [("s1", "EU", "north"), ("s2", "US", "south"), ("s3", "US", "north"), ("s4", "APAC", "east")]
ORDER_ROWS = [
    ("2026-03-02T10:00:00+00:00", "o1", "EU", "Health", "s1", "100.00"),
    ("2026-03-05T10:00:00+00:00", "o2", "EU", "Motor", "s2", "200.00"),
    ("2026-03-09T10:00:00+00:00", "o3", "US", "Health", "s3", "400.00"),
    ("2026-03-12T10:00:00+00:00", "o4", "US", "Motor", "s3", "800.00"),
    ("2026-03-20T10:00:00+00:00", "o5", "APAC", "Life", "s4", "1600.00"),
]
TOTAL, EU, HEALTH_MOTOR, SOLD_BY_EU, NORTH = 3100.0, 300.0, 1500.0, 100.0, 1300.0
MARCH = {"start": "2026-03-01", "end": "2026-04-01", "granularity": "month"}
MARCH_RANGE = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def book_define(api: APIClient) -> None:
    created(api.post("/api/v1/ontology/entities/", PEOPLE, format="json"))
    created(api.post("/api/v1/ontology/entities/", ORDERS, format="json"))
    relationship = {
        "code": "sold_by", "name": "Sold by", "source_entity": "orders", "target_entity": "people",
        "kind": "many_to_one", "source_attribute": "person_id", "target_attribute": "person_id",
    }  # fmt: skip
    created(api.post("/api/v1/ontology/relationships/", relationship, format="json"))
    metric = {"code": "revenue", "name": "Revenue", "formula": "SUM(amount)", "entity": "orders", "unit": "EUR"}
    created(api.post("/api/v1/ontology/metrics/", {**metric, "domain": "finance"}, format="json"))


def book_load(api: APIClient) -> None:
    rows_load(api, "people", [{"person_id": p, "home_region": r, "department": d} for p, r, d in PEOPLE_ROWS])
    rows = [
        {"ordered_at": t, "order_id": o, "region": r, "lob": lob, "person_id": p, "amount": a}
        for t, o, r, lob, p, a in ORDER_ROWS
    ]
    rows_load(api, "orders", rows)


def member_api(client, role: str) -> tuple[APIClient, object]:
    membership = MembershipFactory(client=client, role=role, is_default=True)
    api = APIClient()
    api.force_authenticate(membership.user)
    return api, membership.user


def policy(client, predicate: str, *, kind: str = "role", value: str = "viewer", entity: str = "orders") -> RowPolicy:
    """Stored directly (the API's save check is tested on its own)."""
    return RowPolicy.objects.create(
        client=client,
        name=f"{kind}:{value}:{predicate}",
        subject_kind=kind,
        subject_value=value,
        entity_code=entity,
        predicate=predicate,
    )
