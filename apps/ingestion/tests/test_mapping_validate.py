"""mapping_validate: what the Data Mapper page shows while a mapping is
edited; lists the problems instead of raising."""

from apps.connectors.types import SourceColumn
from apps.ingestion.mapping import mapping_validate
from apps.ingestion.tests.mapping_fixtures import (
    ALL_TYPES,
    LIFECYCLE_1_MAPPING,
    POLICY_SNAPSHOT,
    POLICY_SOURCE_COLUMNS,
)
from apps.ingestion.types import MappingIssue, MappingReport

SAMPLE = [
    {"POL_ID": "P-1", "STAT_CD": "A", "EFF_DT": "20260115", "SNAP_DT": "2026-03-01", "MBR_NO": 1},
    {"POL_ID": "P-2", "STAT_CD": " t ", "EFF_DT": "20260116", "SNAP_DT": "2026-03-01", "MBR_NO": 2},
    {"POL_ID": "P-3", "STAT_CD": "S", "EFF_DT": "2026-01-17", "SNAP_DT": "2026-03-01", "MBR_NO": 3},
    {"POL_ID": "P-4", "STAT_CD": "x ", "EFF_DT": None, "SNAP_DT": "2026-03-01", "MBR_NO": 4},
    {"POL_ID": "P-5", "STAT_CD": "S", "EFF_DT": "20260118", "SNAP_DT": "2026-03-01", "MBR_NO": 5},
    "not a record",
]


def test_lifecycle_1_report_lists_unmapped_codes_and_coverage():
    report = mapping_validate(
        entity=POLICY_SNAPSHOT, mapping=LIFECYCLE_1_MAPPING, source_columns=POLICY_SOURCE_COLUMNS, sample_records=SAMPLE
    )
    assert report.ok and report.errors == []
    assert report.unmapped_values == {"status": ["S", "x"]}
    assert report.coverage == {
        "snapshot_date": {"mapped": 5, "rejected": 0},
        "policy_id": {"mapped": 5, "rejected": 0},
        "status": {"mapped": 2, "rejected": 3},
        "start_date": {"mapped": 4, "rejected": 1},
        "member_id": {"mapped": 5, "rejected": 0},
    }
    assert (
        MappingIssue(
            "status", "unmapped_values", "2 source value(s) of STAT_CD are neither in the value map nor allowed: S, x."
        )
        in report.warnings
    )
    # EFF_DT is text onto a date: parsed, and the sample shows how many fail
    assert (
        MappingIssue(
            "start_date",
            "type_conversion",
            "source field EFF_DT is string and start_date is date: values will be parsed; "
            "1 of the 5 sample records fail.",
        )
        in report.warnings
    )
    # an integer onto a string attribute is no surprise
    assert not [w for w in report.warnings if w.attribute == "member_id"]


def test_values_a_default_catches_are_still_listed_as_unmapped():
    mapping = {**LIFECYCLE_1_MAPPING, "defaults": {"status": "Terminated"}}
    report = mapping_validate(entity=POLICY_SNAPSHOT, mapping=mapping, source_columns=None, sample_records=SAMPLE)
    assert report.unmapped_values == {"status": ["S", "x"]}
    assert report.coverage["status"] == {"mapped": 5, "rejected": 0}


def test_errors_are_listed_not_raised_and_the_rest_is_still_covered():
    mapping = {
        "fields": {
            "snapshot_date": {"source": "SNAP_DT"},
            "policy_id": {"expression": "'P' || POL_ID"},
            "status": {"source": "STAT"},
        },
        "formats": {"start_date": "%Q"},
    }
    report = mapping_validate(
        entity=POLICY_SNAPSHOT, mapping=mapping, source_columns=POLICY_SOURCE_COLUMNS, sample_records=SAMPLE
    )
    assert not report.ok
    assert [(e.attribute, e.code) for e in report.errors] == [
        ("policy_id", "expression_not_supported"),
        ("status", "unknown_source_field"),
        ("start_date", "invalid_format"),
    ]
    assert report.coverage == {"snapshot_date": {"mapped": 5, "rejected": 0}}


def test_a_mapping_that_is_not_an_object_is_reported():
    report = mapping_validate(entity=ALL_TYPES, mapping="fields", source_columns=None)
    assert report == MappingReport(
        ok=False,
        errors=[
            MappingIssue(
                "_mapping",
                "invalid_mapping",
                "The mapping must be an object with fields, value_maps, ..., got 'fields'.",
            )
        ],
    )


def test_type_warnings_for_conversions_that_can_fail():
    columns = [SourceColumn("n", "string"), SourceColumn("d", "decimal"), SourceColumn("t", "timestamp")]
    mapping = {"fields": {"count": {"source": "n"}, "amount": {"source": "d"}, "day": {"source": "t"}}}
    sample = [{"n": "1", "d": 1, "t": "2026-01-01T10:00:00"}, {"n": "one", "d": 2, "t": "2026-01-02T10:00:00"}]
    report = mapping_validate(entity=ALL_TYPES, mapping=mapping, source_columns=columns, sample_records=sample)
    assert sorted((w.attribute, w.message) for w in report.warnings) == [
        (
            "count",
            "source field n is string and count is integer: values will be parsed; 1 of the 2 sample records fail.",
        ),
        (
            "day",
            "source field t is timestamp and day is date: values will be converted; 0 of the 2 sample records fail.",
        ),
    ]
    without_sample = mapping_validate(entity=ALL_TYPES, mapping=mapping, source_columns=columns)
    assert without_sample.warnings[1].message == (
        "source field n is string and count is integer: values will be parsed."
    )


def test_sections_for_attributes_taken_from_no_source_are_warned_about():
    mapping = {"fields": {"label": {"value": "x"}}, "value_maps": {"label": {"a": "b"}}, "formats": {"day": "%Y"}}
    report = mapping_validate(entity=ALL_TYPES, mapping=mapping, source_columns=None)
    assert report.ok
    assert [(w.attribute, w.code) for w in report.warnings] == [("day", "unused"), ("label", "unused")]
    assert report.coverage == {"label": {"mapped": 0, "rejected": 0}}
