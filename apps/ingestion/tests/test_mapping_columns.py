"""Mapper.apply_columns (a run's batches, column by column) against
Mapper.apply (record by record): the same values for every record, and None
exactly when some record cannot be mapped. The whole-column shortcuts
(repeated text converted once per spelling, typed columns passed through)
must never change a value: Decimal digits, time zones and all."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from apps.ingestion.mapping import Mapper
from apps.ingestion.tests.mapping_fixtures import ALL_TYPES, attribute, entity
from apps.ingestion.tests.test_mapping_properties import MAPPER as MAPPED_SCALED_ZONED
from apps.ingestion.tests.test_mapping_properties import values

REQUIRED = entity(  # a null in one of these fails its record
    "required",
    *(attribute(a.code, a.data_type, nullable=a.code not in ("observed_at", "label")) for a in ALL_TYPES.attributes),
)
PLAIN = {"fields": {a.code: {"source": a.code.upper()} for a in ALL_TYPES.attributes}}
MAPPERS = [
    MAPPED_SCALED_ZONED,  # value maps, formats, a zone, scales, a default, a case
    Mapper.build(entity=ALL_TYPES, mapping=PLAIN),  # typed columns pass through
    Mapper.build(entity=REQUIRED, mapping={**PLAIN, "value_maps": {"grade": {"G": "Gold"}}}),  # nulls fail
]
PLUS_TWO = timezone(timedelta(hours=2))
MOMENTS = {"min_value": datetime(1900, 1, 1), "max_value": datetime(9000, 1, 1)}
codes = st.sampled_from(["A", "G", " g ", "S", "Gold", "", "2026-01-15", "15.01.2026", "1.5", "yes"])
# Columns as a SQL source gives them: every value of the attribute's type (or null).
OF_TYPE = {
    "timestamp": [
        st.datetimes(**MOMENTS, timezones=st.sampled_from([UTC, PLUS_TWO, None])),
        st.datetimes(**MOMENTS, timezones=st.just(PLUS_TWO)),
        st.datetimes(**MOMENTS, timezones=st.just(UTC)),
        st.datetimes(**MOMENTS),
    ],
    "date": [st.dates()],
    "string": [codes],
    "integer": [
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1]),
    ],  # 64-bit edges
    "decimal": [
        st.decimals(allow_nan=False, allow_infinity=False, places=3),
        st.integers(-(10**6), 10**6),
        st.decimals(),
    ],
    "boolean": [st.booleans()],
    "json": [values],
}
# ... and at their edges, where the mapping refuses values or the zone arithmetic overflows.
edges = st.one_of(st.decimals(), st.integers(), st.datetimes(timezones=st.just(PLUS_TWO)), codes)
TYPES = {a.code.upper(): a.data_type for a in ALL_TYPES.attributes}


@st.composite
def batches(draw, every_field: bool):
    size = draw(st.integers(min_value=1, max_value=6))
    fields = draw(st.lists(st.sampled_from(list(TYPES)), unique=True, max_size=3))
    if every_field:  # the required ones
        fields = list(dict.fromkeys(["OBSERVED_AT", "LABEL", *fields]))
    columns = {}
    for field in fields:
        kind = draw(st.sampled_from(["own"] * 5 + ["one", "mixed", "edges"]))
        if kind == "one":  # one value repeated: the per-spelling shortcut, a single-type column
            columns[field] = [draw(st.one_of(*OF_TYPE[TYPES[field]], values))] * size
            continue
        if kind == "own":
            own = draw(st.sampled_from(OF_TYPE[TYPES[field]]))
            of_kind = own | st.none() if draw(st.booleans()) else own
        else:
            of_kind = edges if kind == "edges" else values
        columns[field] = draw(st.lists(of_kind, min_size=size, max_size=size))
    return columns, size


def _shown(row):
    return {key: repr(value) for key, value in row.items()}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_batch_by_column_maps_as_its_records_do(data):
    which = data.draw(st.sampled_from(range(len(MAPPERS))))
    mapper = MAPPERS[which]
    columns, size = data.draw(batches(every_field=which == 2))  # the required attributes have a field
    records = [{field: column[i] for field, column in columns.items()} for i in range(size)]
    one_by_one = [mapper.apply(record) for record in records]
    mapped = mapper.apply_columns(columns, size)
    if any(row.values is None for row in one_by_one):
        assert mapped is None
        return
    event("every record mapped")
    assert mapped is not None
    by_column = [{attribute: column[i] for attribute, column in mapped.items()} for i in range(size)]
    assert [_shown(row) for row in by_column] == [_shown(row.values) for row in one_by_one]


def test_repeated_codes_are_converted_once_per_spelling_and_typed_columns_pass_through():
    mapper = MAPPERS[1]
    moments = tuple(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(4))
    amounts = (Decimal("1.50"), Decimal("2"), None, Decimal("-0.001"))
    mapped = mapper.apply_columns(
        {"OBSERVED_AT": moments, "AMOUNT": amounts, "GRADE": ["Gold", "Gold", None, "Silver"]}, 4
    )
    assert mapped["observed_at"] is moments  # as the source gave them, not copied
    assert [repr(a) for a in mapped["amount"]] == [repr(a) for a in amounts]
    assert mapped["grade"] == ["Gold", "Gold", None, "Silver"]
    assert mapped["day"] == [None] * 4  # a field the batch lacks is empty in every record
    naive = (datetime(2026, 1, 1, 9),)
    assert MAPPED_SCALED_ZONED.apply_columns({"OBSERVED_AT": naive}, 1)["observed_at"] == [
        datetime(2026, 1, 1, 8, tzinfo=UTC)  # read in the mapping's zone, Europe/Zurich
    ]
    assert mapper.apply_columns({"OBSERVED_AT": (datetime(2026, 1, 1, 9, tzinfo=PLUS_TWO),)}, 1)["observed_at"] == [
        datetime(2026, 1, 1, 7, tzinfo=UTC)
    ]
    assert mapper.apply_columns({"OBSERVED_AT": (datetime(2026, 1, 1, 9),)}, 1)["observed_at"] == [
        datetime(2026, 1, 1, 9, tzinfo=UTC)  # naive is UTC when the mapping names no zone
    ]
    # typed columns are still checked whole: one value out of range sends the batch record by record
    assert mapper.apply_columns({"DAY": [date(2026, 1, 1), "not a date"]}, 2) is None
    assert mapper.apply_columns({"COUNT": (1, 2**63)}, 2) is None
    assert mapper.apply_columns({"AMOUNT": (Decimal(1), Decimal("NaN"))}, 2) is None
    assert mapper.apply_columns({"AMOUNT": (Decimal(1), Decimal("1E+131072"))}, 2) is None
