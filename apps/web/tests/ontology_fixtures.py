"""A small insurer ontology for the console's ontology and object pages,
defined through the same services the API uses (no model rows by hand)."""

from apps.ontology.services import entities, metrics, relationships

POLICY_SNAPSHOT = entities.EntityInput(
    code="policy_snapshot",
    name="Policy snapshot",
    description="One row per policy and day: its status on that day.",
    kind="time_series",
    time_attribute="snapshot_date",
    attributes=[
        entities.AttributeInput("snapshot_date", "date", nullable=False),
        entities.AttributeInput("policy_id", "string", nullable=False),
        entities.AttributeInput("status", "string", enum_values=("Active", "Terminated")),
        entities.AttributeInput("start_date", "date"),
        entities.AttributeInput("member_id", "string", description="Who holds the policy"),
    ],
)
MEMBER = entities.EntityInput(
    code="member",
    name="Member",
    kind="reference",
    attributes=[
        entities.AttributeInput("member_id", "string", nullable=False),
        entities.AttributeInput("region", "string"),
    ],
)
SNAPSHOT_MEMBER = relationships.RelationshipInput(
    code="snapshot_member",
    source_entity="policy_snapshot",
    target_entity="member",
    kind="many_to_one",
    source_attribute="member_id",
    target_attribute="member_id",
)
METRICS = [
    metrics.MetricInput(
        code="start_count",
        name="Start count",
        entity="policy_snapshot",
        formula="COUNT_DISTINCT(policy_id) WHERE status = 'Active'",
        description="Active policies at the start of the period.",
    ),
    metrics.MetricInput(
        code="new_count",
        name="New count",
        entity="policy_snapshot",
        formula="COUNT_DISTINCT(policy_id) WHERE start_date > snapshot_date",
    ),
    metrics.MetricInput(code="growth_rate", name="Growth rate", formula="NewCount / StartCount", unit="ratio"),
]


def insurer_define(client_id: int, *, with_metrics: bool = True) -> None:
    entities.entity_create(client_id=client_id, data=POLICY_SNAPSHOT)
    entities.entity_create(client_id=client_id, data=MEMBER)
    relationships.relationship_create(client_id=client_id, data=SNAPSHOT_MEMBER)
    if with_metrics:
        for metric in METRICS:
            metrics.metric_create(client_id=client_id, data=metric)
