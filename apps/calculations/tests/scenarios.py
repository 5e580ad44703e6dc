"""The spec's lifecycles as test data, defined and loaded through the API
(the same paths integrations use)."""

from rest_framework.test import APIClient

POLICY_SNAPSHOT = {
    "code": "policy_snapshot",
    "name": "Policy snapshot",
    "kind": "time_series",
    "time_attribute": "snapshot_date",
    "attributes": [
        {"code": "snapshot_date", "data_type": "date", "nullable": False},
        {"code": "policy_id", "data_type": "string", "nullable": False},
        {"code": "status", "data_type": "string", "enum_values": ["Active", "Terminated"]},
        {"code": "start_date", "data_type": "date"},
        {"code": "lob", "data_type": "string"},
        {"code": "premium", "data_type": "decimal"},
    ],
}
RETENTION_METRICS = [
    ("start_count", "AT_START(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "count"),
    ("end_count", "AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "count"),
    (
        "new_count",
        "AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active' AND start_date >= PERIOD_START())",
        "count",
    ),
    ("retention_rate", "(EndCount - NewCount) / StartCount", "ratio"),
]

SALES_PEOPLE = {
    "code": "sales_people",
    "name": "Sales people",
    "kind": "reference",
    "attributes": [
        {"code": "salesperson_id", "data_type": "string", "nullable": False},
        {"code": "name", "data_type": "string"},
        {"code": "region", "data_type": "string"},
    ],
}
SALES_ORDERS = {
    "code": "sales_orders",
    "name": "Sales orders",
    "kind": "time_series",
    "time_attribute": "ordered_at",
    "attributes": [
        {"code": "ordered_at", "data_type": "timestamp", "nullable": False},
        {"code": "order_id", "data_type": "string", "nullable": False},
        {"code": "salesperson_id", "data_type": "string"},
        {"code": "amount", "data_type": "decimal"},
    ],
}
SALES_METRICS = [
    ("revenue", "SUM(amount)", "sales_orders", "EUR", "finance"),
    ("headcount", "COUNT_DISTINCT(salesperson_id)", "sales_people", "people", "sales"),
    ("sales_efficiency", "Revenue / Headcount", None, "EUR per person", "sales"),
]


def created(response) -> dict:
    assert response.status_code == 201, response.content
    return response.json()


def rows_load(api: APIClient, entity: str, rows: list[dict]) -> dict:
    response = api.post(f"/api/v1/data/{entity}/rows/", rows, format="json")
    assert response.status_code in (200, 201), response.content
    body = response.json()
    assert body["rejected"] == [], body["rejected"][:3]
    return body


def retention_define(api: APIClient, *, domain: str = "health") -> None:
    created(api.post("/api/v1/ontology/entities/", POLICY_SNAPSHOT, format="json"))
    for code, formula, unit in RETENTION_METRICS:
        payload = {"code": code, "name": code.replace("_", " ").title(), "formula": formula, "unit": unit}
        created(
            api.post(
                "/api/v1/ontology/metrics/",
                {**payload, "entity": "policy_snapshot", "domain": domain},
                format="json",
            )
        )


def snapshot(day: str, policy: str, status: str, lob: str, start_date: str = "2025-01-01") -> dict:
    return {
        "snapshot_date": day,
        "policy_id": policy,
        "status": status,
        "start_date": start_date,
        "lob": lob,
        "premium": "100.00",
    }


def retention_rows(*, opening: str = "2026-03-30", closing: str = "2026-03-31", scale: int = 1) -> list[dict]:
    """S = 1000, E = 950, N = 50 between the two snapshot days (times
    `scale`): Health 600 -> 540 kept + 30 new, Motor 400 -> 360 kept + 20
    new; the 100 dropped policies appear as Terminated on the closing day.
    Retention (E - N) / S = 0.90 overall and in each line of business."""
    rows = []
    for lob, count, kept, new in (("Health", 600, 540, 30), ("Motor", 400, 360, 20)):
        count, kept, new = count * scale, kept * scale, new * scale
        for i in range(count):
            policy = f"{lob[0]}{i:05d}"
            rows.append(snapshot(opening, policy, "Active", lob))
            rows.append(snapshot(closing, policy, "Active" if i < kept else "Terminated", lob))
        for i in range(new):
            rows.append(snapshot(closing, f"{lob[0]}N{i:04d}", "Active", lob, start_date=closing))
    return rows


def sales_define(api: APIClient) -> None:
    created(api.post("/api/v1/ontology/entities/", SALES_PEOPLE, format="json"))
    created(api.post("/api/v1/ontology/entities/", SALES_ORDERS, format="json"))
    created(
        api.post(
            "/api/v1/ontology/relationships/",
            {
                "code": "sold_by",
                "name": "Sold by",
                "source_entity": "sales_orders",
                "target_entity": "sales_people",
                "kind": "many_to_one",
                "source_attribute": "salesperson_id",
                "target_attribute": "salesperson_id",
            },
            format="json",
        )
    )
    for code, formula, entity, unit, domain in SALES_METRICS:
        payload = {"code": code, "name": code.replace("_", " ").title(), "formula": formula, "unit": unit}
        if entity:
            payload["entity"] = entity
        created(api.post("/api/v1/ontology/metrics/", {**payload, "domain": domain}, format="json"))


PEOPLE = [("s1", "EU"), ("s2", "EU"), ("s3", "US"), ("s4", "US"), ("s5", "US"), ("s6", "APAC")]
# March 2026: EU sells 600 (2 people -> 300 each), US 1500 (3 people -> 500 each); April: EU 200 (-> 100).
ORDERS = [
    ("2026-03-02T10:00:00+00:00", "o1", "s1", "250.00"),
    ("2026-03-15T10:00:00+00:00", "o2", "s2", "350.00"),
    ("2026-03-03T09:00:00+00:00", "o3", "s3", "500.00"),
    ("2026-03-20T09:00:00+00:00", "o4", "s4", "700.00"),
    ("2026-03-31T23:59:00+00:00", "o5", "s5", "300.00"),
    ("2026-04-01T00:00:00+00:00", "o6", "s1", "200.00"),
]


def sales_load(api: APIClient) -> None:
    rows_load(api, "sales_people", [{"salesperson_id": p, "name": p.upper(), "region": r} for p, r in PEOPLE])
    rows = [{"ordered_at": t, "order_id": o, "salesperson_id": p, "amount": a} for t, o, p, a in ORDERS]
    rows_load(api, "sales_orders", rows)
