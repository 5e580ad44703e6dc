"""Entities for the mapping tests, as the ontology's selectors return them
(EntityView), built in memory: the mapper is pure."""

from apps.connectors.types import SourceColumn
from apps.ontology.types.definitions import AttributeView, EntityView


def attribute(code: str, data_type: str, *, nullable: bool = True, enum: tuple[str, ...] = ()) -> AttributeView:
    return AttributeView(code=code, name=code, description="", data_type=data_type, nullable=nullable, enum_values=enum)


def entity(code: str, *attributes: AttributeView, time_attribute: str = "") -> EntityView:
    return EntityView(
        id=1,
        client_id=1,
        code=code,
        name=code,
        description="",
        kind="time_series" if time_attribute else "reference",
        kind_label="",
        time_attribute=time_attribute,
        table_name=f"ent_{code}",
        attributes=attributes,
        value_chains=(),
    )


POLICY_SNAPSHOT = entity(
    "policy_snapshot",
    attribute("snapshot_date", "date", nullable=False),
    attribute("policy_id", "string", nullable=False),
    attribute("status", "string", enum=("Active", "Terminated")),
    attribute("start_date", "date"),
    attribute("member_id", "string"),
    time_attribute="snapshot_date",
)

# Every type, nothing required: one attribute per rule.
ALL_TYPES = entity(
    "measures",
    attribute("observed_at", "timestamp"),
    attribute("day", "date"),
    attribute("label", "string"),
    attribute("grade", "string", enum=("Gold", "Silver", "Bronze")),
    attribute("count", "integer"),
    attribute("amount", "decimal"),
    attribute("flag", "boolean"),
    attribute("extra", "json"),
)

# The policy administration database of Lifecycle 1: its own names and codes.
POLICY_SOURCE_COLUMNS = (
    SourceColumn("POL_ID", "string", nullable=False, primary_key=True),
    SourceColumn("STAT_CD", "string"),
    SourceColumn("EFF_DT", "string"),
    SourceColumn("SNAP_DT", "date"),
    SourceColumn("MBR_NO", "integer"),
)

LIFECYCLE_1_MAPPING = {
    "fields": {
        "snapshot_date": {"source": "SNAP_DT"},
        "policy_id": {"source": "POL_ID"},
        "status": {"source": "STAT_CD"},
        "start_date": {"source": "EFF_DT"},
        "member_id": {"source": "MBR_NO"},
    },
    "value_maps": {"status": {"A": "Active", "T": "Terminated"}},
    "formats": {"start_date": "%Y%m%d"},
}
