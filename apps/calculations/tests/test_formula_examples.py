"""Every example of docs/formulas.md, defined through the API and computed on
the Lifecycle 1 and 2 data, against values worked out by hand. A formula
added to (or changed in) the docs' table without a case here fails the
first test."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from apps.calculations.tests.scenarios import (
    retention_define,
    retention_rows,
    rows_load,
    sales_define,
    sales_load,
    snapshot,
)
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

DAY = {"start": "2026-03-31", "end": "2026-04-01"}
MARCH_BY_REGION = {"start": "2026-03-01", "end": "2026-04-01", "granularity": "month", "group_by": "region"}
MARCH = {"start": "2026-03-01", "end": "2026-04-01", "granularity": "month"}

# On 2026-03-31: 1,000 policies open the day (yesterday's snapshot), 950 are
# active at its end, 50 of them new; 1,050 rows of the retention data at
# premium 100 plus two terminated Motor policies at premium 1,500 (1,052 rows).
# March orders: 250, 350 (EU, 2 people), 500, 700, 300 (US, 3 people).
CASES = [
    ("COUNT_DISTINCT(policy_id) WHERE status = 'Active'", "policy_snapshot", DAY, [950]),
    ("AT_START(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "policy_snapshot", DAY, [1000]),
    ("AT_END(COUNT_DISTINCT(policy_id) WHERE status = 'Active')", "policy_snapshot", DAY, [950]),
    ("AT_END(COUNT_DISTINCT(policy_id) WHERE start_date >= PERIOD_START())", "policy_snapshot", DAY, [50]),
    ("1 - ((StartCount - EndCount) / StartCount)", None, DAY, [0.95]),
    ("(EndCount - NewCount) / StartCount", None, DAY, [0.9]),
    ("Revenue / Headcount", None, MARCH_BY_REGION, [300.0, 500.0]),
    ("SUM(premium) / COUNT(policy_id)", "policy_snapshot", DAY, [(1050 * 100 + 2 * 1500) / 1052]),
    ("(COUNT(policy_id) WHERE lob = 'Health') / COUNT(policy_id)", "policy_snapshot", DAY, [630 / 1052]),
    ("PERCENTILE(amount, 0.95)", "sales_orders", MARCH, [500 + 0.8 * 200]),
    ("SUM(CASE WHEN premium > 1000 THEN premium ELSE 0 END)", "policy_snapshot", DAY, [3000.0]),
]


def documented_formulas() -> set[str]:
    text = (Path(settings.BASE_DIR) / "docs" / "formulas.md").read_text()
    table = text.split("## Examples", 1)[1].split("\n## ", 1)[0]
    return {f for line in table.splitlines() if line.startswith("| ") for f in re.findall(r"`([^`]+)`", line)}


def test_every_documented_example_has_a_case():
    assert documented_formulas() == {formula for formula, *_ in CASES}


@pytest.fixture
def api(api_client):
    membership = MembershipFactory(role="analyst", is_default=True)
    api_client.force_authenticate(membership.user)
    retention_define(api_client)
    rows = retention_rows()
    rows += [{**snapshot("2026-03-31", f"X{i}", "Terminated", "Motor"), "premium": "1500.00"} for i in (1, 2)]
    rows_load(api_client, "policy_snapshot", rows)
    sales_define(api_client)
    sales_load(api_client)
    return api_client


def test_each_documented_example_computes_what_it_says(api):
    for index, (formula, entity, params, expected) in enumerate(CASES):
        payload = {"code": f"example_{index}", "name": f"Example {index}", "formula": formula}
        if entity:
            payload["entity"] = entity
        response = api.post("/api/v1/ontology/metrics/", payload, format="json")
        assert response.status_code == 201, (formula, response.content)
        result = api.get(f"/api/v1/metrics/example_{index}", params)
        assert result.status_code == 200, (formula, result.content)
        values = [point["value"] for point in result.json()["series"]]
        assert values == pytest.approx(expected), formula
