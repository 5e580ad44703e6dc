"""Properties of Mapper.apply over arbitrary records: it never raises; it
gives values or errors, never both; the values are JSON-ready and the
entity's own row validator accepts them (the load's rules still apply, and
they never reject what the mapper produced)."""

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apps.core.errors import AppError
from apps.ingestion.mapping import MappedRow, Mapper, mapping_validate
from apps.ingestion.tests.mapping_fixtures import ALL_TYPES
from apps.ontology.row_validation import RowValidator
from apps.ontology.row_validation.converters import AttributeRule

MAPPING = {
    "fields": {a.code: {"source": a.code.upper()} for a in ALL_TYPES.attributes},
    "value_maps": {"grade": {"G": "Gold", "S": "Silver"}, "flag": {"J": True}},
    "formats": {"day": ["%Y%m%d", "%d.%m.%Y"], "observed_at": "%d.%m.%Y %H:%M"},
    "time_zones": {"observed_at": "Europe/Zurich"},
    "scales": {"amount": "0.01", "count": 100},
    "defaults": {"label": "n/a"},
    "normalise": {"label": {"case": "upper"}},
}
MAPPER = Mapper.build(entity=ALL_TYPES, mapping=MAPPING)
VALIDATOR = RowValidator([AttributeRule(a.code, a.data_type, a.nullable, a.enum_values) for a in ALL_TYPES.attributes])

# Text without NUL (the validator refuses it, with its own reason; tested there).
texts = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=6,
)
telling = st.sampled_from(
    [
        "20260115",
        "15.01.2026",
        "31.02.2026",
        "29.03.2026 02:30",
        "25.10.2026 02:30",
        "2026-01-15T09:30:00",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59-05:00",
        " g ",
        "gold",
        "j",
        "1e3",
        "12.345",
        "1e999999",
        "-0",
        "   ",
        "",
    ]
)
python_values = (
    st.decimals(allow_nan=True, allow_infinity=True)
    | st.dates()
    | st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-14))]))
)
values = json_values | telling | python_values
records = st.dictionaries(st.sampled_from([a.code.upper() for a in ALL_TYPES.attributes] + ["OTHER"]), values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
@example({"OBSERVED_AT": datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14))), "EXTRA": Decimal("sNaN")})
def test_any_record_gives_values_or_errors_never_an_exception(record):
    mapped = MAPPER.apply(record)
    assert isinstance(mapped, MappedRow)
    assert (mapped.values is None) == bool(mapped.errors)
    if mapped.values is None:
        assert set(mapped.errors) <= {a.code for a in ALL_TYPES.attributes}
        assert all(isinstance(reason, str) and reason for reason in mapped.errors.values())
        return
    assert set(mapped.values) == {a.code for a in ALL_TYPES.attributes}
    json.dumps(mapped.values, allow_nan=False, default=str)  # nothing but JSON values, dates, moments and Decimals
    run = VALIDATOR.json_rows([mapped.values])
    accepted = list(run)
    assert len(accepted) == 1, run.rejected


@settings(max_examples=100, deadline=None)
@given(st.one_of(values, st.lists(values, max_size=2)).filter(lambda v: not isinstance(v, dict)))
def test_a_record_that_is_not_an_object_is_an_error(record):
    mapped = MAPPER.apply(record)
    assert mapped.values is None and list(mapped.errors) == ["_row"]


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)), st.integers(0, 23), st.integers(0, 59))
def test_zoned_timestamps_read_back_as_the_same_wall_clock_time(day, hour, minute):
    from zoneinfo import ZoneInfo

    wall = datetime(day.year, day.month, day.day, hour, minute)
    mapped = MAPPER.apply({"OBSERVED_AT": wall.strftime("%d.%m.%Y %H:%M")})
    if mapped.values is None:  # only a time the clocks skipped
        assert "does not exist in Europe/Zurich" in mapped.errors["observed_at"]
        return
    stored = mapped.values["observed_at"]
    assert stored.utcoffset() == timedelta(0)
    assert stored.astimezone(ZoneInfo("Europe/Zurich")).replace(tzinfo=None) == wall


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12))
def test_scaled_amounts_are_exact(amount):
    mapped = MAPPER.apply({"AMOUNT": str(amount)})
    assert Decimal(mapped.values["amount"]) == amount * Decimal("0.01")


codes = st.sampled_from([a.code for a in ALL_TYPES.attributes] + ["nope"])
field_specs = st.one_of(
    st.fixed_dictionaries({"source": st.one_of(texts, json_values)}),
    st.fixed_dictionaries({"value": json_values}),
    st.fixed_dictionaries({"expression": texts}),
    json_values,
)
mappings = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "fields": st.dictionaries(codes, field_specs, max_size=4),
            "value_maps": st.dictionaries(codes, st.dictionaries(texts, json_values, max_size=3) | json_values),
            "formats": st.dictionaries(codes, st.sampled_from(["%Y%m%d", "%Q", "", "x"]) | json_values),
            "time_zones": st.dictionaries(
                codes, st.sampled_from(["Europe/Zurich", "../etc/passwd", "x" * 300]) | texts
            ),
            "scales": st.dictionaries(codes, json_values | st.sampled_from(["1e999999999", "0.01", "NaN"])),
            "defaults": st.dictionaries(codes, json_values),
            "normalise": st.dictionaries(codes, st.dictionaries(st.sampled_from(["trim", "case", "x"]), json_values)),
            "value_map": json_values,
        },
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mappings)
def test_any_mapping_is_reported_or_refused_with_a_400_never_an_exception(mapping):
    report = mapping_validate(entity=ALL_TYPES, mapping=mapping, source_columns=None, sample_records=[{"V": 1}])
    try:
        Mapper.build(entity=ALL_TYPES, mapping=mapping)
    except AppError as exc:
        assert not report.ok and exc.status_code == 400
        assert set(exc.details) == {issue.attribute for issue in report.errors}
    else:
        assert report.ok
