"""Mapper.apply: one source record -> one row of the entity (typed: dates,
aware UTC datetimes, exact Decimals) or the reasons by attribute; never an
exception for a bad record. `_value` shows dates, moments and numbers as
ISO / exact text so the expectations read as the stored values."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from apps.ingestion.mapping import MappedRow, Mapper
from apps.ingestion.tests.mapping_fixtures import (
    ALL_TYPES,
    LIFECYCLE_1_MAPPING,
    POLICY_SNAPSHOT,
    POLICY_SOURCE_COLUMNS,
)


def _one(attribute: str, spec: dict | None = None, **sections) -> Mapper:
    """A mapper of ALL_TYPES that takes `attribute` from source field "v"."""
    mapping = {"fields": {attribute: spec or {"source": "v"}}}
    mapping.update({name: {attribute: value} for name, value in sections.items()})
    return Mapper.build(entity=ALL_TYPES, mapping=mapping)


def _text(value):
    if isinstance(value, datetime):
        assert value.tzinfo is UTC, value  # moments leave in UTC
        return value.isoformat()
    if isinstance(value, date | Decimal):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value


def _value(mapper: Mapper, raw, attribute: str | None = None):
    attribute = attribute or next(iter(mapper.sources))
    mapped = mapper.apply({"v": raw})
    assert mapped.errors == {}, mapped.errors
    return _text(mapped.values[attribute])


def test_values_leave_typed_as_the_validator_and_copy_take_them():
    assert type(_one("day").apply({"v": "2026-01-15"}).values["day"]) is date
    assert _one("observed_at").apply({"v": "2026-01-15T09:30:00+01:00"}).values["observed_at"] == datetime(
        2026, 1, 15, 8, 30, tzinfo=UTC
    )
    assert _one("amount").apply({"v": "12.50"}).values["amount"].as_tuple() == Decimal("12.50").as_tuple()


def _error(mapper: Mapper, raw) -> str:
    mapped = mapper.apply({"v": raw})
    assert mapped.values is None
    (reason,) = mapped.errors.values()
    return reason


# --- Lifecycle 1 ---------------------------------------------------------------


def test_lifecycle_1_policy_records_map_onto_policy_snapshot():
    mapper = Mapper.build(entity=POLICY_SNAPSHOT, mapping=LIFECYCLE_1_MAPPING, source_columns=POLICY_SOURCE_COLUMNS)
    records = [
        {"POL_ID": "P-1", "STAT_CD": "A", "EFF_DT": "20260115", "SNAP_DT": date(2026, 3, 1), "MBR_NO": 7},
        {"POL_ID": "P-2", "STAT_CD": "T", "EFF_DT": "20251231", "SNAP_DT": date(2026, 3, 1), "MBR_NO": None},
        {"POL_ID": " P-3 ", "STAT_CD": " a ", "EFF_DT": "20260201", "SNAP_DT": date(2026, 3, 1), "MBR_NO": 8},
    ]
    assert [mapper.apply(r) for r in records] == [
        MappedRow(
            values={
                "snapshot_date": date(2026, 3, 1),
                "policy_id": "P-1",
                "status": "Active",
                "start_date": date(2026, 1, 15),
                "member_id": "7",
            }
        ),
        MappedRow(
            values={
                "snapshot_date": date(2026, 3, 1),
                "policy_id": "P-2",
                "status": "Terminated",
                "start_date": date(2025, 12, 31),
                "member_id": None,
            }
        ),
        MappedRow(
            values={
                "snapshot_date": date(2026, 3, 1),
                "policy_id": "P-3",
                "status": "Active",
                "start_date": date(2026, 2, 1),
                "member_id": "8",
            }
        ),
    ]
    assert mapper.sources["status"] == "STAT_CD" and mapper.source_fields[:2] == ("SNAP_DT", "POL_ID")


def test_lifecycle_1_an_unknown_status_code_is_an_error_naming_the_value_and_the_field():
    mapper = Mapper.build(entity=POLICY_SNAPSHOT, mapping=LIFECYCLE_1_MAPPING)
    mapped = mapper.apply({"POL_ID": "P-1", "STAT_CD": "X", "EFF_DT": "20260115", "SNAP_DT": "2026-03-01"})
    assert mapped == MappedRow(
        values=None,
        errors={"status": "value 'X' of source field STAT_CD is not in the value map: add it or a default"},
    )


# --- Value maps and allowed values -------------------------------------------------


@pytest.mark.parametrize("raw", ["A", "a", " a ", "\tA\n"])
def test_value_map_matching_ignores_case_and_surrounding_whitespace(raw):
    assert _value(_one("grade", value_maps={"A": "Gold"}), raw) == "Gold"


def test_value_map_keys_are_matched_whitespace_insensitively_too():
    mapper = _one("grade", value_maps={" g  1 ": "Gold"})
    assert _value(mapper, "G 1") == "Gold"


def test_a_source_value_already_allowed_passes_in_its_canonical_spelling():
    mapper = _one("grade", value_maps={"G": "Gold"})
    assert _value(mapper, "Silver") == "Silver"
    assert _value(mapper, " bronze ") == "Bronze"


def test_allowed_values_without_a_value_map_are_matched_the_same_way_and_others_refused():
    mapper = _one("grade")
    assert _value(mapper, "GOLD") == "Gold"
    assert _error(mapper, "Platinum") == (
        "value 'Platinum' of source field v is not one of the allowed values (Gold, Silver, Bronze): "
        "add it to the value map or add a default"
    )


def test_a_default_takes_the_values_the_value_map_does_not_know():
    mapper = Mapper.build(
        entity=ALL_TYPES,
        mapping={
            "fields": {"grade": {"source": "v"}},
            "value_maps": {"grade": {"G": "Gold"}},
            "defaults": {"grade": "Bronze"},
        },
    )
    assert _value(mapper, "X") == "Bronze"
    assert _value(mapper, None) == "Bronze"


def test_numeric_source_codes_are_mapped_by_their_text():
    mapper = _one("grade", value_maps={"1": "Gold", "2": "Silver"})
    assert _value(mapper, 1) == "Gold"
    assert _value(mapper, Decimal("2")) == "Silver"


def test_value_maps_on_an_attribute_without_allowed_values_recode_and_keep_the_rest():
    flag = _one("flag", value_maps={"J": True, "N": False})
    assert _value(flag, "j") is True and _value(flag, "yes") is True  # unmapped: read as a boolean
    label = _one("label", value_maps={"CH": "Switzerland"})
    assert _value(label, "ch") == "Switzerland" and _value(label, "DE") == "DE"


# --- Blank, defaults, normalisation -------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_null_or_blank_takes_the_default(raw):
    assert _value(_one("count", defaults=0), raw) == 0


def test_a_missing_source_field_is_null():
    mapped = _one("label").apply({})
    assert mapped.values == {"label": None}


def test_a_required_attribute_with_a_blank_value_and_no_default_is_an_error():
    mapper = Mapper.build(entity=POLICY_SNAPSHOT, mapping=LIFECYCLE_1_MAPPING)
    mapped = mapper.apply({"POL_ID": "  ", "STAT_CD": "A", "EFF_DT": "20260115", "SNAP_DT": "2026-03-01"})
    assert mapped.errors == {
        "policy_id": "required, and source field POL_ID is empty: map a field that has a value or add a default"
    }


def test_a_default_of_an_attribute_with_no_source_field_is_a_constant():
    mapper = Mapper.build(entity=ALL_TYPES, mapping={"fields": {"label": {"source": "v"}}, "defaults": {"count": 3}})
    assert mapper.apply({"v": "x"}).values == {"count": 3, "label": "x"}


def test_strings_are_trimmed_by_default_and_cased_on_request():
    assert _value(_one("label"), "  a b  ") == "a b"
    assert _value(_one("label", normalise={"trim": False}), "  a b  ") == "  a b  "
    assert _value(_one("label", normalise={"case": "upper"}), " ab ") == "AB"
    assert _value(_one("label", normalise={"case": "lower"}), "AB") == "ab"
    assert _value(_one("label", normalise={"case": "title"}), "ANNA MEIER") == "Anna Meier"


def test_constants_are_stored_typed():
    mapper = Mapper.build(
        entity=ALL_TYPES,
        mapping={"fields": {"label": {"source": "v"}, "grade": {"value": "gold"}, "count": {"value": "5"}}},
    )
    assert mapper.apply({"v": "x"}).values == {"grade": "Gold", "count": 5, "label": "x"}


# --- Numbers and scales --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(12, 12), ("12", 12), (" 12 ", 12), (12.0, 12), (Decimal("12.000"), 12), ("1e3", 1000), (-(2**63), -(2**63))],
)
def test_integers(raw, expected):
    assert _value(_one("count"), raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (12.5, "expected a whole number, got 12.5 (source field v)"),
        ("abc", "expected a number, got 'abc' (source field v)"),
        (True, "expected an integer, got true (source field v)"),
        (2**63, f"out of range for an integer (64-bit): {2**63} (source field v)"),
        ({"a": 1}, "expected a number, got an object (source field v)"),
    ],
)
def test_integers_refused(raw, reason):
    assert _error(_one("count"), raw) == reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(12, 12), ("12.50", "12.50"), (Decimal("0.1"), "0.1"), (0.1, "0.1"), (" 3.5 ", "3.5")],
)
def test_decimals_leave_as_exact_text(raw, expected):
    assert _value(_one("amount"), raw) == expected


@pytest.mark.parametrize("raw", ["NaN", float("inf"), "12,5", [1]])
def test_decimals_refused(raw):
    assert "(source field v)" in _error(_one("amount"), raw)


def test_a_scale_multiplies_exactly():
    cents = _one("amount", scales=0.01)
    assert _value(cents, 12345) == "123.45"
    assert _value(cents, "1234567890123456789012345678901") == "12345678901234567890123456789.01"  # beyond 28 digits
    assert _value(cents, 0.1) == "0.001"
    assert _value(_one("count", scales=1000), "1.5") == 1500
    assert _error(_one("count", scales="0.1"), 15) == "expected a whole number, got 15 (source field v)"


# --- Booleans -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(True, True), (False, False), ("true", True), ("FALSE", False), (1, True), (0, False)],
        *[("1", True), ("0", False), ("yes", True), ("No", False), ("Y", True), ("n", False)],
    ],
)
def test_booleans(raw, expected):
    assert _value(_one("flag"), raw) is expected


@pytest.mark.parametrize("raw", ["maybe", 2, 1.0])
def test_booleans_refused(raw):
    assert _error(_one("flag"), raw).startswith("expected a boolean")


# --- Dates and timestamps -------------------------------------------------------------


def test_dates_from_objects_iso_text_and_formats():
    assert _value(_one("day"), date(2026, 1, 15)) == "2026-01-15"
    assert _value(_one("day"), datetime(2026, 1, 15, 9, 30)) == "2026-01-15"
    assert _value(_one("day"), "2026-01-15") == "2026-01-15"
    assert _value(_one("day", formats="%Y%m%d"), "20260115") == "2026-01-15"
    assert _value(_one("day", formats="%Y%m%d"), 20260115) == "2026-01-15"
    assert _value(_one("day", formats="%d.%m.%Y"), "5.1.2026") == "2026-01-05"  # strptime decides


def test_several_formats_are_tried_in_order():
    mapper = _one("day", formats=["%d.%m.%Y", "%Y/%m/%d"])
    assert _value(mapper, "15.01.2026") == "2026-01-15"
    assert _value(mapper, "2026/01/15") == "2026-01-15"
    assert _error(mapper, "Jan 15") == (
        "expected a date as %d.%m.%Y (e.g. 31.01.2026) or %Y/%m/%d (e.g. 2026/01/31), got 'Jan 15' (source field v)"
    )


def test_a_date_that_does_not_exist_is_refused():
    assert "expected a date" in _error(_one("day", formats="%Y%m%d"), "20260231")
    assert "expected an ISO 8601 date" in _error(_one("day"), "2026-02-31")


def test_naive_timestamps_are_utc_by_default():
    mapper = _one("observed_at")
    assert _value(mapper, "2026-01-15T09:30:00") == "2026-01-15T09:30:00+00:00"
    assert _value(mapper, "2026-01-15 09:30:00Z") == "2026-01-15T09:30:00+00:00"
    assert _value(mapper, datetime(2026, 1, 15, 9, 30)) == "2026-01-15T09:30:00+00:00"
    assert _value(mapper, date(2026, 1, 15)) == "2026-01-15T00:00:00+00:00"


def test_naive_timestamps_are_read_in_the_mapping_s_zone_and_stored_in_utc():
    mapper = _one("observed_at", formats="%d.%m.%Y %H:%M", time_zones="Europe/Zurich")
    assert _value(mapper, "15.01.2026 09:30") == "2026-01-15T08:30:00+00:00"  # winter: UTC+1
    assert _value(mapper, "15.07.2026 09:30") == "2026-07-15T07:30:00+00:00"  # summer: UTC+2
    zurich = _one("observed_at", time_zones="Europe/Zurich")
    assert _value(zurich, datetime(2026, 1, 15, 9, 30)) == "2026-01-15T08:30:00+00:00"
    # an explicit offset wins over the zone
    assert _value(zurich, datetime(2026, 1, 15, 9, 30, tzinfo=timezone(timedelta(hours=-5)))) == (
        "2026-01-15T14:30:00+00:00"
    )
    assert _value(zurich, "2026-01-15T09:30:00+00:00") == "2026-01-15T09:30:00+00:00"


def test_a_time_the_clocks_skipped_is_refused_and_a_repeated_one_is_the_first():
    zurich = _one("observed_at", time_zones="Europe/Zurich")
    assert "does not exist in Europe/Zurich" in _error(zurich, "2026-03-29T02:30:00")
    assert _value(zurich, "2026-10-25T02:30:00") == "2026-10-25T00:30:00+00:00"  # still summer time (UTC+2)


def test_timestamps_beyond_the_years_of_utc_are_refused():
    assert _error(_one("observed_at"), datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))) == (
        "out of range for a timestamp in UTC: 9999-12-31 23:00:00-05:00 (source field v)"
    )
    zurich = _one("observed_at", time_zones="Europe/Zurich")
    assert _error(zurich, "0001-01-01T00:30:00").startswith("out of range for a timestamp in UTC: 0001-01-01 00:30:00")


def test_timestamps_refused():
    assert "expected an ISO 8601 timestamp" in _error(_one("observed_at"), "yesterday")
    assert _error(_one("observed_at"), 1767225600) == "expected a timestamp, got 1767225600 (source field v)"


# --- Text and JSON ---------------------------------------------------------------------


def test_text_from_scalars():
    mapper = _one("label")
    assert [_value(mapper, raw) for raw in (7, Decimal("1.50"), 2.5, True, date(2026, 1, 2))] == [
        "7",
        "1.50",
        "2.5",
        "true",
        "2026-01-02",
    ]
    assert _error(mapper, {"a": 1}) == "expected text, got an object (source field v)"


def test_json_takes_any_value():
    mapper = _one("extra")
    assert _value(mapper, {"a": [1, 2]}) == {"a": [1, 2]}
    assert _value(mapper, Decimal("2.5")) == 2.5
    assert _value(mapper, datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "2026-01-02T03:04:00+00:00"
    assert _error(mapper, Decimal("NaN")) == "JSON cannot hold NaN or Infinity (source field v)"  # found by Hypothesis


# --- Records -----------------------------------------------------------------------------


def test_every_bad_attribute_of_a_record_is_reported_and_no_values_returned():
    mapper = Mapper.build(
        entity=ALL_TYPES,
        mapping={"fields": {"count": {"source": "c"}, "flag": {"source": "f"}, "label": {"source": "l"}}},
    )
    mapped = mapper.apply({"c": "x", "f": "maybe", "l": "ok"})
    assert mapped.values is None and set(mapped.errors) == {"count", "flag"}


def test_a_record_that_is_not_an_object_is_an_error_not_an_exception():
    mapper = _one("label")
    assert mapper.apply(["a"]) == MappedRow(
        values=None, errors={"_row": "expected a record (field: value), got an array"}
    )
