"""Issue #14 item 7: archived ranges are never silently missing. Retention
drops the oldest chunks of a temperature series; a metric answer over a range
partly archived lists the archived ranges (answer and explain), and a result
cached before the drop is not served after it."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.calculations.models import Rollup
from apps.calculations.rollups.services import rollup_refresh
from apps.calculations.tests.scenarios import created, rows_load
from apps.warehouse.retention import RetentionManager
from apps.warehouse.selectors import archived_ranges

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

TEMPERATURES = {
    "code": "temperatures",
    "name": "Temperatures",
    "kind": "time_series",
    "time_attribute": "observed_at",
    "attributes": [
        {"code": "observed_at", "data_type": "timestamp", "nullable": False},
        {"code": "station", "data_type": "string"},
        {"code": "reading", "data_type": "decimal"},
    ],
}
FIRST = datetime(2020, 1, 1, 12, tzinfo=UTC)
DAYS = 60  # 2020-01-01 .. 2020-02-29, one reading a day at noon, reading = day index
RANGE = {"start": "2020-01-01", "end": "2020-03-01", "granularity": "month", "route": "raw"}


@pytest.fixture
def api(api_client, analyst):
    analyst.role = "admin"
    analyst.save()
    api_client.force_authenticate(analyst.user)
    created(api_client.post("/api/v1/ontology/entities/", TEMPERATURES, format="json"))
    metric = {"code": "temp_total", "name": "Total", "formula": "SUM(reading)", "entity": "temperatures"}
    created(api_client.post("/api/v1/ontology/metrics/", metric, format="json"))
    readings = [{"observed_at": (FIRST + timedelta(days=d)).isoformat(), "reading": d} for d in range(DAYS)]
    rows_load(api_client, "temperatures", readings)
    return api_client


def answer(api, **params) -> dict:
    query = {key: value for key, value in {**RANGE, **params}.items() if value is not None}
    response = api.get("/api/v1/metrics/temp_total", query)
    assert response.status_code == 200, response.content
    return response.json()


def values(body: dict) -> dict[str, float]:
    return {point["bucket"][:7]: point["value"] for point in body["series"]}


def january_drop(table: str) -> list:
    """What an action=drop policy does to the chunks wholly before February."""
    return (
        RetentionManager()
        .run(
            table_schema="analytics_data",
            table_name=table,
            action="drop",
            older_than=datetime(2020, 2, 1, tzinfo=UTC),
            range_start=None,
            range_end=None,
            lakehouse_target="default",
            batch_size=10,
            policy=None,
        )
        .dropped
    )


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_drop_is_listed_in_the_answer_and_invalidates_the_cached_result(api):
    before = answer(api)
    assert values(before) == {"2020-01": sum(range(31)), "2020-02": sum(range(31, 60))}
    assert before["archived"] == [] and before["cached"] is False
    assert answer(api)["cached"] is True

    table = api.get("/api/v1/ontology/entities/temperatures").json()["table"].split(".")[1]
    dropped = january_drop(table)
    assert dropped
    # The ledger's ranges, as a person reads them: adjacent chunks are one archived range.
    [gone] = archived_ranges(table_schema="analytics_data", table_name=table)
    gone_from, gone_to = gone.start, gone.end
    assert gone_from <= FIRST < gone_to <= datetime(2020, 2, 1, tzinfo=UTC)

    after = answer(api, explain="true")
    assert after["cached"] is False  # the result cached before the drop is not served
    kept = [d for d in range(DAYS) if FIRST + timedelta(days=d) >= gone_to]
    assert values(after) == {
        "2020-01": sum(d for d in kept if d < 31),
        "2020-02": sum(range(31, 60)),
    }
    archived = [{"start": iso(max(gone_from, datetime(2020, 1, 1, tzinfo=UTC))), "end": iso(gone_to)}]
    assert after["archived"] == archived
    assert after["explain"]["archived"] == archived
    assert answer(api)["cached"] is True and answer(api)["archived"] == archived  # cached with its ranges

    # The example of docs/metrics-api.md ("Archived ranges"), with the ontology's 7-day chunks.
    assert archived == [{"start": "2020-01-01T00:00:00Z", "end": "2020-01-30T00:00:00Z"}]
    assert after["series"][0] == {"bucket": "2020-01-01T00:00:00Z", "dims": {}, "value": 59.0}
    assert (after["route"], after["explain"]["route"]) == ("raw", "raw")

    february = answer(api, start="2020-02-01")
    assert february["archived"] == [] and values(february) == {"2020-02": sum(range(31, 60))}

    # The history keeps January as computed from all its rows, before the drop.
    history = api.get("/api/v1/metrics/temp_total/history", {"granularity": "month"}).json()["results"]
    assert {p["bucket"][:7]: p["value"] for p in history} == {"2020-01": 465.0, "2020-02": 1305.0}


def test_a_rollup_materialized_before_the_drop_still_answers_the_archived_months(api):
    rollup = {"entity": "temperatures", "grain": "day", "measures": [{"attribute": "reading", "states": ["sum"]}]}
    created(api.post("/api/v1/calculations/rollups/", rollup, format="json"))
    for spec in Rollup.objects.all():
        rollup_refresh(rollup=spec, now=datetime(2020, 3, 5, tzinfo=UTC))
    table = api.get("/api/v1/ontology/entities/temperatures").json()["table"].split(".")[1]
    assert january_drop(table)

    routed = answer(api, route=None, explain="1")
    raw = answer(api)
    assert (routed["route"], raw["route"]) == ("rollup", "raw")
    # The rollup kept January's partial states: nothing is missing, nothing is listed.
    assert values(routed) == {"2020-01": sum(range(31)), "2020-02": sum(range(31, 60))}
    assert routed["archived"] == routed["explain"]["archived"] == []
    assert values(raw)["2020-01"] == 59.0 and raw["archived"] != []
