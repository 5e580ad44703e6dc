"""Mapper.build checks the mapping against the entity before any run: a
400 `invalid_mapping` whose details name every attribute at fault."""

from datetime import date

import pytest

from apps.connectors.types import SourceColumn
from apps.core.errors import AppError
from apps.ingestion.mapping import Mapper
from apps.ingestion.tests.mapping_fixtures import (
    ALL_TYPES,
    LIFECYCLE_1_MAPPING,
    POLICY_SNAPSHOT,
    POLICY_SOURCE_COLUMNS,
)


def _refused(mapping, *, entity=ALL_TYPES, source_columns=None) -> AppError:
    with pytest.raises(AppError) as caught:
        Mapper.build(entity=entity, mapping=mapping, source_columns=source_columns)
    assert caught.value.status_code == 400
    return caught.value


def _reason(mapping, attribute, **kwargs) -> str:
    error = _refused(mapping, **kwargs)
    assert error.code == "invalid_mapping"
    return error.details[attribute]


def test_the_lifecycle_1_mapping_is_accepted():
    mapper = Mapper.build(entity=POLICY_SNAPSHOT, mapping=LIFECYCLE_1_MAPPING, source_columns=POLICY_SOURCE_COLUMNS)
    assert mapper.sources == {
        "snapshot_date": "SNAP_DT",
        "policy_id": "POL_ID",
        "status": "STAT_CD",
        "start_date": "EFF_DT",
        "member_id": "MBR_NO",
    }


def test_unknown_attributes_are_named_with_close_matches():
    error = _refused({"fields": {"stauts": {"source": "x"}}, "value_maps": {"nope": {}}})
    assert set(error.details) == {"stauts", "nope"}
    assert "fields names 'stauts', which is not an attribute of the entity" in error.details["stauts"]
    error = _refused({"fields": {"gradee": {"source": "x"}}})
    assert error.details["gradee"].endswith("Did you mean grade?")
    assert error.message.startswith("The mapping does not fit entity 'measures': gradee: fields names 'gradee'")


@pytest.mark.parametrize(
    "spec",
    [{}, {"source": "a", "value": 1}, {"column": "a"}, "a", {"source": "a", "trim": True}],
)
def test_a_field_spec_is_exactly_one_of_source_expression_value(spec):
    assert _reason({"fields": {"label": spec}}, "label").startswith("fields.label must be exactly one of")


def test_a_source_must_name_a_field():
    assert _reason({"fields": {"label": {"source": ""}}}, "label").startswith("fields.label.source must be")


def test_expressions_are_refused_until_transformations_exist():
    error = _refused({"fields": {"label": {"expression": "upper(NAME)"}}})
    assert error.code == "expression_not_supported"
    assert "expressions are not available yet; they come with transformations" in error.details["label"]
    # with other problems the error is the general one, the expression still named
    error = _refused({"fields": {"label": {"expression": "x"}, "count": {"value": "many"}}})
    assert error.code == "invalid_mapping" and "transformations" in error.details["label"]


@pytest.mark.parametrize(
    ("attribute", "constant", "reason"),
    [
        ("count", "many", "fields.count.value: expected a number, got 'many'."),
        ("count", 1.5, "fields.count.value: expected a whole number, got 1.5."),
        ("flag", "perhaps", "fields.flag.value: expected a boolean (true/false, yes/no, Y/N, 1/0), got 'perhaps'."),
        ("grade", "Platinum", "fields.grade.value: 'Platinum' is not one of the allowed values: Gold, Silver, Bronze."),
        (
            "day",
            "31.01.2026",
            "fields.day.value: expected an ISO 8601 date (YYYY-MM-DD) or a format, got '31.01.2026'.",
        ),
    ],
)
def test_a_constant_must_fit_the_attribute(attribute, constant, reason):
    assert _reason({"fields": {attribute: {"value": constant}}}, attribute) == reason


def test_a_null_constant_for_a_required_attribute_is_refused():
    mapping = {**LIFECYCLE_1_MAPPING, "fields": {**LIFECYCLE_1_MAPPING["fields"], "policy_id": {"value": None}}}
    assert _reason(mapping, "policy_id", entity=POLICY_SNAPSHOT) == (
        "fields.policy_id.value: null, but the attribute is required."
    )


def test_a_default_must_fit_the_attribute():
    mapping = {"fields": {"grade": {"source": "g"}}, "defaults": {"grade": "Tin", "count": "x"}}
    error = _refused(mapping)
    assert error.details == {
        "grade": "defaults.grade: 'Tin' is not one of the allowed values: Gold, Silver, Bronze.",
        "count": "defaults.count: expected a number, got 'x'.",
    }


def test_value_map_targets_must_be_allowed_values():
    mapping = {"fields": {"grade": {"source": "g"}}, "value_maps": {"grade": {"G": "Gold", "P": "Platinum"}}}
    assert _reason(mapping, "grade") == (
        "value_maps.grade: 'P' -> 'Platinum' is not one of the allowed values: Gold, Silver, Bronze."
    )


def test_value_map_keys_that_collide_after_normalisation_are_refused():
    mapping = {"fields": {"grade": {"source": "g"}}, "value_maps": {"grade": {"g": "Gold", " G ": "Silver"}}}
    assert "are the same source value (case and spaces do not count)" in _reason(mapping, "grade")


def test_value_map_targets_are_typed_on_other_attributes():
    mapping = {"fields": {"flag": {"source": "f"}}, "value_maps": {"flag": {"J": "ja"}}}
    assert _reason(mapping, "flag").startswith("value_maps.flag: 'J' -> expected a boolean")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("%Q", "'%Q' is not a strptime pattern"),
        ("yyyyMMdd", "'yyyyMMdd' has no % directives"),
        ("%Y%", "'%Y%' is not a strptime pattern"),
        ("", "a format must be a strptime pattern such as '%Y%m%d', got ''"),
    ],
)
def test_bad_strptime_patterns_are_refused(pattern, reason):
    assert reason in _reason({"fields": {"day": {"source": "d"}}, "formats": {"day": pattern}}, "day")


def test_formats_apply_to_dates_and_timestamps_only():
    mapping = {"fields": {"count": {"source": "c"}}, "formats": {"count": "%Y"}}
    assert _reason(mapping, "count") == "formats apply to date and timestamp attributes; count is integer."
    assert "list of them" in _reason({"fields": {"day": {"source": "d"}}, "formats": {"day": []}}, "day")


def test_unknown_time_zones_are_refused_with_close_names():
    mapping = {"fields": {"observed_at": {"source": "t"}}, "time_zones": {"observed_at": "Europe/Zurick"}}
    assert _reason(mapping, "observed_at").startswith(
        "time_zones.observed_at: unknown time zone 'Europe/Zurick' (did you mean Europe/Zurich"
    )
    mapping = {"fields": {"day": {"source": "d"}}, "time_zones": {"day": "UTC"}}
    assert _reason(mapping, "day") == "time_zones apply to timestamp attributes; day is date."


def test_scales_need_a_number_and_a_numeric_attribute():
    assert _reason({"fields": {"label": {"source": "l"}}, "scales": {"label": 0.01}}, "label") == (
        "scales apply to integer and decimal attributes; label is string."
    )
    for factor in ("cents", True, None, "NaN"):
        reason = _reason({"fields": {"amount": {"source": "a"}}, "scales": {"amount": factor}}, "amount")
        assert reason.startswith("scales.amount must be a finite number")


def test_normalise_options_are_checked():
    for spec, expected in [
        ({"case": "shout"}, "normalise.label.case must be upper, lower, title or null, got 'shout'."),
        ({"trim": "yes"}, "normalise.label.trim must be true or false, got 'yes'."),
        ({"strip": True}, 'normalise.label must be {"trim": true|false, "case": "upper"|"lower"|"title"|null}'),
    ]:
        assert _reason({"fields": {"label": {"source": "l"}}, "normalise": {"label": spec}}, "label").startswith(
            expected
        )


def test_required_attributes_and_the_time_attribute_must_be_mapped_or_defaulted():
    error = _refused({"fields": {"status": {"source": "STAT_CD"}}}, entity=POLICY_SNAPSHOT)
    assert error.details == {
        "snapshot_date": "snapshot_date is required (the time attribute) and the mapping gives it no source field, "
        "constant or default.",
        "policy_id": "policy_id is required and the mapping gives it no source field, constant or default.",
    }
    # a default is enough
    mapping = {
        "fields": {"status": {"source": "STAT_CD"}},
        "defaults": {"snapshot_date": "2026-01-01", "policy_id": "?"},
    }
    mapper = Mapper.build(entity=POLICY_SNAPSHOT, mapping=mapping)
    assert mapper.apply({"STAT_CD": "active"}).values == {
        "snapshot_date": date(2026, 1, 1),
        "policy_id": "?",
        "status": "Active",
    }


def test_source_fields_must_be_columns_of_the_source_with_close_matches_named():
    mapping = {**LIFECYCLE_1_MAPPING, "fields": {**LIFECYCLE_1_MAPPING["fields"], "status": {"source": "STATUS_CD"}}}
    reason = _reason(mapping, "status", entity=POLICY_SNAPSHOT, source_columns=POLICY_SOURCE_COLUMNS)
    assert reason == (
        "fields.status: the source has no field 'STATUS_CD'. Close matches: STAT_CD. "
        "Its fields: POL_ID, STAT_CD, EFF_DT, SNAP_DT, MBR_NO."
    )
    mapping["fields"]["status"] = {"source": "stat_cd"}
    reason = _reason(mapping, "status", entity=POLICY_SNAPSHOT, source_columns=POLICY_SOURCE_COLUMNS)
    assert "Close matches: STAT_CD." in reason  # same letters, other case: names are exact
    # without source columns, any field name is taken
    Mapper.build(entity=POLICY_SNAPSHOT, mapping=mapping)
    Mapper.build(
        entity=ALL_TYPES, mapping={"fields": {"label": {"source": "x"}}}, source_columns=[SourceColumn("x", "string")]
    )


def test_the_mapping_itself_must_be_an_object_with_known_keys():
    assert _reason(["fields"], "_mapping").startswith("The mapping must be an object")
    assert _reason({"fields": {}, "value_map": {}}, "_mapping") == (
        "Unknown mapping key 'value_map'; the keys are fields, value_maps, formats, scales, defaults, time_zones, "
        "normalise. Did you mean value_maps?"
    )
    assert _reason({"fields": ["label"]}, "_mapping").startswith("'fields' must be an object")


def test_the_message_names_the_first_problems_and_counts_the_rest():
    mapping = {"fields": {code: {"value": "?"} for code in ("count", "amount", "flag", "day", "observed_at")}}
    error = _refused(mapping)
    assert len(error.details) == 5
    # in the entity's order of attributes
    assert error.message.startswith(
        "The mapping does not fit entity 'measures': observed_at: fields.observed_at.value:"
    )
    assert error.message.endswith("(and 2 more problem(s)).")


def test_an_empty_mapping_of_an_entity_with_nothing_required_maps_nothing():
    assert Mapper.build(entity=ALL_TYPES, mapping={}).apply({"a": 1}).values == {}
