"""An entity with one attribute of each ontology type (and rows), for the
formula type tests (test_formula_types_api.py, test_formula_properties.py)."""

from datetime import UTC, datetime, timedelta

from rest_framework.test import APIClient

from apps.calculations.tests.scenarios import created, rows_load

ATTRIBUTE_TYPES = {
    "ts": "timestamp", "s": "string", "i": "integer", "d": "decimal", "b": "boolean", "dt": "date", "j": "json",
}  # fmt: skip
EVERY_TYPE = {
    "code": "thing", "name": "Thing", "kind": "time_series", "time_attribute": "ts",
    "attributes": [{"code": code, "data_type": data_type, "nullable": code != "ts"}
                   for code, data_type in ATTRIBUTE_TYPES.items()],
}  # fmt: skip
ROWS = [
    {"ts": "2026-03-02T10:00:00+00:00", "s": "a", "i": 3, "d": "1.5", "b": True, "dt": "2026-03-01", "j": {"a": 1}},
    {"ts": "2026-03-03T10:00:00+00:00", "s": "b", "i": -7, "d": "0", "b": False, "dt": "2026-03-02", "j": [1, 2]},
    {"ts": "2026-03-04T10:00:00+00:00", "s": None, "i": None, "d": None, "b": None, "dt": None, "j": None},
]
MONTH = {"start": "2026-03-01", "end": "2026-04-01", "granularity": "month"}


def every_type_define(api: APIClient) -> None:
    """The entity, its rows in March 2026, and one two days ago (in the KPI pages' last-30-days window)."""
    created(api.post("/api/v1/ontology/entities/", EVERY_TYPE, format="json"))
    recent = {**ROWS[0], "ts": (datetime.now(UTC) - timedelta(days=2)).isoformat()}
    rows_load(api, "thing", [*ROWS, recent])
