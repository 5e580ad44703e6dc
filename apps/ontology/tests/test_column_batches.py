"""Batches given by column (an ingestion job's): the validator's whole-column
checks must accept exactly what its row-by-row converters accept, give the
same stored values, and reject the same rows with the same reasons."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from apps.core.tests.factories import ClientFactory
from apps.ontology.row_validation import RowValidator
from apps.ontology.row_validation.converters import AttributeRule
from apps.ontology.services.data_load import entity_batches_stream_load
from apps.ontology.services.entities import AttributeInput, EntityInput, entity_create
from apps.ontology.types.loads import ColumnBatch

PARIS = timezone(timedelta(hours=1))
# Per type: values the column check should vouch for, and values only the converter can judge.
POOLS = {
    "string": ["A", "Active", "", " x ", "é", "a\x00b", "\ud800", None, 12, True, "Terminated"],
    "integer": [0, 1, -(2**63), 2**63 - 1, 2**63, True, 12.0, Decimal("3"), "7", "x", None],
    "decimal": [Decimal("1.25"), Decimal("-0"), Decimal("NaN"), Decimal("1E+131072"), Decimal("1E-5"), 3, 2.5, "4.5",
                "bad", None, False],
    "boolean": [True, False, None, "yes", 1, 0, "maybe"],
    "date": [date(2026, 1, 1), date(1, 1, 1), datetime(2026, 1, 1, tzinfo=UTC), "2026-02-03", "x", None, 20260101],
    "timestamp": [datetime(2026, 1, 1, 9, tzinfo=UTC), datetime(2026, 1, 1, 9, tzinfo=PARIS), datetime(2026, 1, 1, 9),
                  "2026-01-01T09:00:00Z", date(2026, 1, 1), "x", None],
    "json": [{"a": 1}, [1, 2], "s", 1.5, None, Decimal("2.5"), float("nan")],
}  # fmt: skip
RULES = [
    AttributeRule("s_enum", "string", True, ("A", "Active", "Terminated")),
    AttributeRule("s_req", "string", False),
    AttributeRule("i", "integer", True),
    AttributeRule("i_req", "integer", False),
    AttributeRule("d", "decimal", True),
    AttributeRule("b", "boolean", False),
    AttributeRule("day", "date", True),
    AttributeRule("at", "timestamp", False),
    AttributeRule("j", "json", True),
]


def _column(rule: AttributeRule, size: int):
    pool = POOLS[rule.data_type]
    return st.one_of(
        st.lists(st.sampled_from(pool), min_size=size, max_size=size),
        # a column of one good native value repeated: the whole-column check's own path
        st.sampled_from([v for v in pool if v is not None]).map(lambda v: [v] * size),
    )


@st.composite
def batches(draw):
    size = draw(st.integers(min_value=0, max_value=6))
    rules = draw(st.lists(st.sampled_from(RULES), min_size=1, max_size=4, unique_by=lambda r: r.code))
    # the batch may leave out a nullable attribute (null in every row)
    given = [rule for rule in rules if not rule.nullable or draw(st.booleans())]
    return rules, {rule.code: draw(_column(rule, size)) for rule in given}, size


def _outcome(run):
    return [tuple(map(repr, row)) for row in run], run.rejected, run.accepted, run.time_min, run.time_max


@settings(max_examples=400, deadline=None)
@given(batches())
def test_a_column_batch_is_judged_exactly_as_its_rows_would_be(batch):
    rules, columns, size = batch
    validator = RowValidator(rules, time_attribute="at" if any(r.code == "at" for r in rules) else None)
    by_column = _outcome(validator.batches([ColumnBatch(columns, size)]))
    by_row = _outcome(validator.json_rows(ColumnBatch(columns, size).rows()))
    assert by_column == by_row


def test_row_indexes_count_across_batches_of_both_kinds():
    validator = RowValidator(RULES[:2])
    run = validator.batches(
        [
            ColumnBatch({"s_enum": ["A", "A"], "s_req": ["x", "y"]}, 2),
            [{"s_req": "z"}, {"s_enum": "nope", "s_req": "z"}],
            ColumnBatch({"s_enum": ["A", "B"], "s_req": ["x", None]}, 2),  # not vouched for: row by row
        ]
    )
    assert len(list(run)) == 4
    assert [r["row"] for r in run.rejected] == [3, 5]
    assert "not one of the allowed values" in run.rejected[0]["errors"]["s_enum"]
    assert "Required" in run.rejected[1]["errors"]["s_req"]


@pytest.mark.django_db
def test_column_batches_are_stored_with_their_time_range():
    entity = entity_create(
        client_id=ClientFactory().id,
        data=EntityInput(
            code="reading",
            name="Reading",
            kind="time_series",
            time_attribute="at",
            attributes=[AttributeInput("at", "timestamp", nullable=False), AttributeInput("v", "decimal")],
        ),
    )
    moments = [datetime(2026, 3, d, tzinfo=UTC) for d in (5, 1, 9)]
    result = entity_batches_stream_load(
        entity=entity,
        batches=[ColumnBatch({"at": moments, "v": [Decimal("1.50"), None, Decimal("2")]}, 3), ColumnBatch({}, 0)],
    )
    assert (result.inserted, result.rejected_count) == (3, 0)
    assert (result.time_min, result.time_max) == (moments[1], moments[2])
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT v::text FROM {} ORDER BY at").format(sql.Identifier("analytics_data", entity.table_name))
        )
        assert [r[0] for r in cursor.fetchall()] == [None, "1.50", "2"]
