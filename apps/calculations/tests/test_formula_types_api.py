"""No 500 for formulas (issue 15, "input"): a formula PostgreSQL could not
run is refused at definition with a 400 naming the attribute and its type;
one stored before the checks, or whose value overflows, answers a 4xx on the
metrics API, the ad-hoc query, batches and the KPI pages."""

import pytest
from django.apps import apps
from django.urls import reverse

from apps.calculations.orchestrator import CalculationOrchestrator
from apps.calculations.tests.typed_fixtures import MONTH, every_type_define
from apps.calculations.types import AccessContext, Granularity, MetricQuery
from apps.core.tests.assertions import assert_error

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

# (formula, words the message must contain)
ILL_TYPED = [
    ("SUM(s)", ["SUM needs a number", "s is a string"]),
    ("AVG(ts)", ["AVG needs a number", "ts is a timestamp"]),
    ("PERCENTILE(s, 0.5)", ["PERCENTILE", "s is a string"]),
    ("SUM(b)", ["SUM", "b is a boolean"]),
    ("SUM(j)", ["SUM", "j is a json"]),
    ("MIN(b)", ["MIN", "b is a boolean"]),
    ("COUNT(i) WHERE i LIKE 'x%'", ["LIKE needs a string", "i is an integer"]),
    ("COUNT(i) WHERE d LIKE s", ["LIKE", "d is a decimal"]),
    ("SUM(i + ts)", ["needs a number", "ts is a timestamp"]),
    ("SUM(d * dt)", ["needs a number", "dt is a date"]),
    ("SUM(i - 'x')", ["needs numbers", "'x'"]),
    ("COUNT(i) WHERE ts BETWEEN 1 AND 'x'", ["ts", "timestamp", "1"]),
    ("COUNT(i) WHERE ts BETWEEN '2026-01-01' AND 'x'", ["'x'", "timestamp"]),
    ("COUNT(i) WHERE dt > 'tomorrow'", ["'tomorrow'", "date"]),
    ("COUNT(i) WHERE b = 'maybe'", ["'maybe'", "boolean"]),
    ("COUNT(i) WHERE i = 'three'", ["'three'", "number"]),
    ("COUNT(i) WHERE s = 1", ["s (a string)", "1 (a number)"]),
    ("COUNT(i) WHERE s IN ('a', 2)", ["s (a string)", "2"]),
    ("COUNT(i) WHERE j = 'not json'", ["JSON", "j"]),
    ("COUNT(i) WHERE j > '1'", ["order", "j"]),
    ("COUNT(i) WHERE b < TRUE", ["order", "b"]),
    ("COUNT(i) WHERE i", ["condition", "i is an integer"]),
    ("COUNT(i) WHERE s AND b", ["AND", "s is a string"]),
    ("COUNT(i) WHERE NOT dt", ["NOT", "dt is a date"]),
    ("SUM(CASE WHEN b THEN i ELSE s END)", ["CASE", "s (a string)"]),
    ("SUM(IF(b, d, ts))", ["IF", "ts (a timestamp)"]),
    ("SUM(COALESCE(i, dt))", ["COALESCE", "dt (a date)"]),
    ("SUM(ABS(s))", ["ABS", "s is a string"]),
    ("ROUND(SUM(d), 'x')", ["ROUND", "'x'"]),
    ("ROUND(SUM(d), 1e30)", ["ROUND", "digits"]),
    ("MIN(s)", ["must be a number", "string"]),
    ("MAX(dt)", ["must be a number", "date"]),
    ("LAST(ts)", ["must be a number", "timestamp"]),
    ("COUNT(i) > 1", ["must be a number", "boolean"]),
    ("SUM(i) * 1e400", ["1E+400", "out of range"]),
    ("SUM(i) * 1" + "0" * 400, ["out of range"]),
    ("SUM(i) * 1e-400", ["out of range"]),
    # Beside a whole number (an integer attribute, COUNT, MIN of one, 2) PostgreSQL reads a 'literal' as bigint.
    ("COALESCE(COUNT(*), '2.5')", ["'2.5'", "whole number"]),
    ("COALESCE(COUNT_DISTINCT(s), '1e3')", ["'1e3'", "whole number"]),
    ("COUNT(i) WHERE i = '2.5'", ["'2.5'", "whole number", "i (an integer)"]),
    ("IF(COUNT(*) > 1, MIN(i), '0.5')", ["'0.5'", "whole number"]),
    ("COUNT(i) WHERE i IN (1, '99999999999999999999')", ["whole number"]),
]


@pytest.fixture
def api(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    api_client.raise_request_exception = False  # a 500 is an answer to assert on, not an exception here
    every_type_define(api_client)
    return api_client


def _define(api, code: str, formula: str):
    return api.post(
        "/api/v1/ontology/metrics/", {"code": code, "name": code, "formula": formula, "entity": "thing"}, format="json"
    )


def _stored_unchecked(client_id: int, code: str, formula: str) -> None:
    """A metric as an older release stored it, before formulas were type-checked: a row
    written past the ontology's services (models by name: calculations imports no ontology model)."""
    entities, metrics = apps.get_model("ontology", "EntityDefinition"), apps.get_model("ontology", "MetricDefinition")
    entity = entities.objects.get(client_id=client_id, code="thing")
    metrics.objects.create(client_id=client_id, code=code, name=code, formula=formula, entity=entity)


@pytest.mark.parametrize(("formula", "needles"), ILL_TYPED, ids=[f for f, _ in ILL_TYPED])
def test_an_ill_typed_formula_is_refused_at_definition_naming_the_attribute_and_its_type(api, formula, needles):
    response = _define(api, "bad", formula)
    assert response.status_code == 400, response.content
    error = assert_error(response)
    assert error["code"] in ("type_mismatch", "number_out_of_range"), error
    for needle in needles:
        assert needle in error["message"], (needle, error)
    # The ad-hoc query checks its measures the same way.
    query = {"entity": "thing", "measures": {"m": formula}, "range": {"start": MONTH["start"], "end": MONTH["end"]},
             "granularity": "month"}  # fmt: skip
    adhoc = api.post("/api/v1/query/", query, format="json")
    assert adhoc.status_code == 400, adhoc.content
    assert assert_error(adhoc)["code"] in ("type_mismatch", "number_out_of_range")


WELL_TYPED = [
    "SUM(i) + SUM(d)",
    "COUNT(s) WHERE ts >= '2026-03-01' AND dt < '2026-03-02'",
    "COUNT(*) WHERE ts BETWEEN '2026-03-01' AND '2026-03-03T12:00:00Z'",
    "COUNT(i) WHERE i = '3' OR d IN (1.5, '0')",
    "COUNT(b) WHERE b = 'yes' OR b IS NULL",
    "COUNT(j) WHERE j = '{\"a\": 1}'",
    "COUNT_DISTINCT(j) + COUNT_DISTINCT(dt) + COUNT_DISTINCT(b)",
    "COUNT(s) WHERE s LIKE 'a%' AND dt = ts",
    "MAX(i) - MIN(d)",
    "SUM(CASE WHEN b THEN i ELSE d END) / COUNT(*)",
    "ROUND(AVG(i), 2) + ABS(SUM(d))",
    "SUM(i) / 0",
    "LAST(i) + FIRST(d)",
    "COUNT(*) WHERE COALESCE(s, 'none') = 'none'",
    "COALESCE(COUNT(*), '2')",
    "COALESCE(SUM(d), '2.5')",
    "COALESCE(SUM(i), '2.5')",
    "COALESCE(MAX(d), '2.5') + COALESCE(1, 2.5)",
]


@pytest.mark.parametrize("formula", WELL_TYPED)
def test_a_well_typed_formula_is_stored_and_computes(api, formula):
    assert _define(api, "good", formula).status_code == 201
    response = api.get("/api/v1/metrics/good", MONTH)
    assert response.status_code == 200, response.content


LEGACY = [
    "SUM(s)",
    "AVG(ts)",
    "COUNT(i) WHERE i LIKE 'x'",
    "SUM(i + ts)",
    "COUNT(i) WHERE ts BETWEEN 1 AND 'x'",
    "MIN(s)",
    "SUM(i) * 1e400",
]


@pytest.mark.parametrize("formula", LEGACY)
def test_a_stored_ill_typed_metric_answers_4xx_everywhere_it_computes(api, analyst, console_client, formula):
    _stored_unchecked(analyst.client_id, "legacy", formula)
    response = api.get("/api/v1/metrics/legacy", MONTH)
    assert 400 <= response.status_code < 500, response.content
    assert_error(response)
    batch = CalculationOrchestrator(context=AccessContext(client_id=analyst.client_id)).calculate_batch(
        [_month_query("legacy")]
    )
    assert batch[0].error is not None and 400 <= batch[0].error.status_code < 500
    page = console_client.get(reverse("web:kpi_tab", args=["legacy", "overview"]))
    assert page.status_code == 200 and "Cannot be computed" in page.content.decode()


def _month_query(code: str) -> MetricQuery:
    from apps.calculations.api.params import moment_parse

    return MetricQuery(
        metric=code,
        start=moment_parse(MONTH["start"], name="start"),
        end=moment_parse(MONTH["end"], name="end"),
        granularity=Granularity.MONTH,
    )


@pytest.fixture
def console_client(client, analyst):
    client.force_login(analyst.user)
    client.raise_request_exception = False
    return client


OVERFLOWING = ["SUM(d) * 1e300 * 1e300", "SUM(i) * 1e300 * 1e300 * 1e300", "AVG(i) * 1e300 / 1e-300"]


@pytest.mark.parametrize("formula", OVERFLOWING)
def test_a_value_that_is_not_a_finite_number_is_422_naming_the_metric(api, console_client, formula):
    assert _define(api, "huge", formula).status_code == 201
    response = api.get("/api/v1/metrics/huge", MONTH)
    assert response.status_code == 422, response.content
    error = assert_error(response)
    assert error["code"] == "calculation_failed" and "huge" in error["message"], error
    query = {"entity": "thing", "measures": {"big": formula}, "range": {"start": MONTH["start"], "end": MONTH["end"]},
             "granularity": "month"}  # fmt: skip
    adhoc = api.post("/api/v1/query/", query, format="json")
    assert adhoc.status_code == 422, adhoc.content
    assert assert_error(adhoc)["code"] == "calculation_failed"
    # The KPI pages that compute show their error state.
    overview = console_client.get(reverse("web:kpi_tab", args=["huge", "overview"]))
    assert overview.status_code == 200 and "Cannot be computed" in overview.content.decode()
    assert console_client.get(reverse("web:kpi_tab", args=["huge", "benchmarks"])).status_code == 200
    preview = console_client.get(reverse("web:kpi_preview", args=["huge"]), HTTP_HX_REQUEST="true")
    assert preview.status_code == 200 and "could not be calculated" in preview.content.decode()
    assert console_client.get(reverse("web:kpis"), {"metric": "huge"}).status_code == 200
