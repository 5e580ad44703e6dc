"""Issue 14 item 1: every attribute code the ontology accepts works in
formulas, `group_by=`, `filter[<code>]=`, the ad-hoc query and rollups. Codes
are drawn from every key word PostgreSQL (pg_get_keywords()) and sqlglot
know, the formula's function names, and random identifiers; the entity
validator decides which are accepted, and each accepted one must then
compute, against the real database."""

import itertools
from datetime import UTC, datetime

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot.tokens import Tokenizer

from apps.calculations.rollups.services import rollup_create, rollup_refresh
from apps.calculations.tests.scenarios import created, rows_load
from apps.calculations.tests.test_rollups import admin_api
from apps.core.errors import AppError
from apps.ontology.formula import FUNCTIONS, formula_parse
from apps.ontology.identifiers import code_validate

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "readonly"])

DAY = {"start": "2026-03-02", "end": "2026-03-03", "granularity": "day"}


def accepted(word: str) -> bool:
    try:
        code_validate(word, what="attribute")
    except AppError:
        return False
    return True


def key_words() -> list[str]:
    """Every single-word key word of PostgreSQL and of sqlglot's tokenizer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT word FROM pg_get_keywords()")
        words = {row[0] for row in cursor.fetchall()}
    words |= {word.lower() for word in Tokenizer.KEYWORDS if word.replace("_", "").isalnum()}
    words |= {name.lower() for name in FUNCTIONS}  # `sum`, `count`, `min`: names unless "(" follows
    return sorted(words)


@pytest.fixture
def api(api_client, analyst):
    api_client.force_authenticate(analyst.user)
    api_client.raise_request_exception = False
    return api_client


def test_every_accepted_key_word_is_a_name_in_every_name_position(db):
    """No code is accepted by the validator and refused by the formula language."""
    words = [w for w in key_words() if accepted(w)]
    assert {"temp", "date", "time", "text", "number", "range", "rows", "filter"} <= set(words)
    refused = []
    for word in words:
        formulas = [
            f"SUM({word})",
            f"COUNT({word})",
            f"AVG({word}) WHERE {word} = 'a'",
            f"COUNT(*) WHERE {word} IS NOT NULL AND NOT {word} IN ('a', 'b') OR {word} BETWEEN 1 AND 2",
            f"CASE WHEN MAX({word}) > 1 THEN SUM({word}) ELSE 0 END",
        ]
        for formula in formulas:
            try:
                formula_parse(formula, attributes={word})
            except AppError as exc:
                refused.append((formula, exc.message))
        for formula in (word, f"{word} / 2", f"({word} + {word}) * 2"):  # a metric named so
            try:
                formula_parse(formula, is_metric=lambda name, word=word: name == word)
            except AppError as exc:
                refused.append((formula, exc.message))
    assert refused == []


def test_the_formula_language_key_words_are_refused_as_codes(api):
    """`between` is not an SQL reserved word but is a formula key word: refused at definition, named."""
    for word in ("between", "like", "where", "and"):
        entity = {
            "code": "weather", "name": "Weather", "kind": "reference",
            "attributes": [{"code": word, "data_type": "string"}],
        }  # fmt: skip
        response = api.post("/api/v1/ontology/entities/", entity, format="json")
        assert response.status_code == 400, response.content
        assert word in response.json()["error"]["message"]


def test_the_issues_weather_columns_compute_end_to_end(api):
    """`AVG(temp)` over daily weather with a `date` time column, grouped and filtered by `text`."""
    entity = {
        "code": "weather", "name": "Weather", "kind": "time_series", "time_attribute": "date",
        "attributes": [
            {"code": "date", "data_type": "date", "nullable": False},
            {"code": "temp", "data_type": "decimal"},
            {"code": "text", "data_type": "string"},
            {"code": "range", "data_type": "decimal"},
        ],
    }  # fmt: skip
    created(api.post("/api/v1/ontology/entities/", entity, format="json"))
    rows_load(
        api,
        "weather",
        [
            {"date": "2026-03-02", "temp": "10", "text": "sunny", "range": "4"},
            {"date": "2026-03-02", "temp": "20", "text": "rain", "range": "6"},
        ],
    )
    for code, formula in (("avg_temp", "AVG(temp)"), ("sum_date", "COUNT(date) WHERE text = 'rain'")):
        payload = {"code": code, "name": code, "formula": formula, "entity": "weather"}
        created(api.post("/api/v1/ontology/metrics/", payload, format="json"))
    body = api.get("/api/v1/metrics/avg_temp", {**DAY, "group_by": "text", "filter[text]": "rain,sunny"}).json()
    assert [(p["dims"], p["value"]) for p in body["series"]] == [({"text": "rain"}, 20.0), ({"text": "sunny"}, 10.0)]
    assert api.get("/api/v1/metrics/sum_date", DAY).json()["series"][0]["value"] == 1
    query = {
        "entity": "weather", "measures": {"t": "AVG(temp)", "r": "SUM(range) WHERE text = 'sunny'"},
        "group_by": ["text"], "filters": {"text": ["sunny"]}, "range": {"start": DAY["start"], "end": DAY["end"]},
    }  # fmt: skip
    adhoc = api.post("/api/v1/query/", query, format="json")
    assert adhoc.status_code == 200, adhoc.content
    assert adhoc.json()["rows"] == [["2026-03-02T00:00:00+00:00", "sunny", 10.0, 4.0]]


def test_any_accepted_code_computes_in_formulas_group_by_filters_and_queries(api):
    words = [w for w in key_words() if accepted(w)]
    random_codes = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True).filter(accepted)
    codes = st.one_of(st.sampled_from(words), random_codes)
    entities = (f"e{n}" for n in itertools.count())

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(names=st.lists(codes, min_size=3, max_size=3, unique=True), time_type=st.sampled_from(["date", "timestamp"]))
    def check(names, time_type):
        t, s, x = names
        entity = next(entities)
        definition = {
            "code": entity, "name": entity, "kind": "time_series", "time_attribute": t,
            "attributes": [
                {"code": t, "data_type": time_type, "nullable": False},
                {"code": s, "data_type": "string"},
                {"code": x, "data_type": "decimal"},
            ],
        }  # fmt: skip
        created(api.post("/api/v1/ontology/entities/", definition, format="json"))
        rows_load(
            api,
            entity,
            [{t: "2026-03-02", s: "a", x: "1.5"}, {t: "2026-03-02", s: "b", x: "2"}, {t: "2026-03-02", s: "a", x: 3}],
        )
        expected = {"SUM": 6.5, "COUNT": 3, "FILTERED": 2}
        formulas = {"SUM": f"SUM({x})", "COUNT": f"COUNT({x})", "FILTERED": f"COUNT({t}) WHERE {s} = 'a'"}
        for name, formula in formulas.items():
            code = f"{entity}_{name.lower()}"
            payload = {"code": code, "name": code, "formula": formula, "entity": entity}
            created(api.post("/api/v1/ontology/metrics/", payload, format="json"))
            plain = api.get(f"/api/v1/metrics/{code}", DAY)
            assert plain.status_code == 200, (names, formula, plain.content)
            assert [p["value"] for p in plain.json()["series"]] == [expected[name]], (names, formula)
        grouped = api.get(f"/api/v1/metrics/{entity}_sum", {**DAY, "group_by": s, f"filter[{s}]": "a"})
        assert grouped.status_code == 200, (names, grouped.content)
        assert [(p["dims"], p["value"]) for p in grouped.json()["series"]] == [({s: "a"}, 4.5)], names
        measure = next(name for name in ("m", "mm", "mmm", "mmmm") if name not in names)  # not a column's name
        query = {
            "entity": entity, "measures": {measure: f"SUM({x}) WHERE {s} = 'b'"}, "group_by": [s],
            "filters": {s: ["b"]}, "range": {"start": DAY["start"], "end": DAY["end"]},
        }  # fmt: skip
        adhoc = api.post("/api/v1/query/", query, format="json")
        assert adhoc.status_code == 200, (names, adhoc.content)
        assert [row[1:] for row in adhoc.json()["rows"]] == [["b", 2.0]], names

    check()


def test_rollups_over_key_word_codes_answer_like_the_raw_rows():
    """Hourly temperatures as downloaded: `time`, `text`, `temp`, rolled up by hour and read by day."""
    api, client_id = admin_api()
    entity = {
        "code": "hourly_temps", "name": "Hourly temperatures", "kind": "time_series", "time_attribute": "time",
        "attributes": [
            {"code": "time", "data_type": "timestamp", "nullable": False},
            {"code": "text", "data_type": "string"},
            {"code": "temp", "data_type": "decimal"},
        ],
    }  # fmt: skip
    created(api.post("/api/v1/ontology/entities/", entity, format="json"))
    rows = [
        {"time": f"2026-03-02T{hour:02d}:00:00+00:00", "text": "rain" if hour % 3 else "sun", "temp": str(hour)}
        for hour in range(24)
    ]
    rows_load(api, "hourly_temps", rows)
    payload = {"code": "temp_sum", "name": "temp_sum", "formula": "SUM(temp)", "entity": "hourly_temps"}
    created(api.post("/api/v1/ontology/metrics/", payload, format="json"))
    rollup = rollup_create(
        client_id=client_id,
        entity="hourly_temps",
        grain="hour",
        dimensions=["text"],
        measures=[{"attribute": "temp", "states": ["sum", "count"]}],
    )
    rollup_refresh(rollup=rollup, now=datetime(2026, 3, 4, tzinfo=UTC))
    query = {**DAY, "group_by": "text", "explain": "1"}
    rolled = api.get("/api/v1/metrics/temp_sum", query)
    raw = api.get("/api/v1/metrics/temp_sum", {**query, "route": "raw"})
    assert rolled.status_code == 200 and raw.status_code == 200, (rolled.content, raw.content)
    assert rolled.json()["route"] == "rollup", rolled.json()["explain"]
    expected = [({"text": "rain"}, float(sum(h for h in range(24) if h % 3))), ({"text": "sun"}, 84.0)]
    for body in (rolled.json(), raw.json()):
        assert [(p["dims"], p["value"]) for p in body["series"]] == expected
