"""The ontology's definitions as other apps read them (apps.ontology.selectors
returns these, never models): frozen snapshots carrying what the console, the
simulator and the diagrams show, with the ids the versions and forms need.
Related definitions are named by code; an entity carries its attributes."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ValueChainRef:
    """A value chain a definition belongs to."""

    code: str
    name: str
    description: str
    industry: str


@dataclass(frozen=True)
class AttributeView:
    code: str
    name: str
    description: str
    data_type: str
    nullable: bool
    enum_values: tuple[str, ...]


@dataclass(frozen=True)
class EntityView:
    id: int
    client_id: int
    code: str
    name: str
    description: str
    kind: str  # "time_series" or "reference"
    kind_label: str  # "Time series", "Reference"
    time_attribute: str  # "" for a reference entity
    table_name: str
    attributes: tuple[AttributeView, ...]  # in their defined order
    value_chains: tuple[ValueChainRef, ...]


@dataclass(frozen=True)
class RelationshipView:
    id: int
    client_id: int
    code: str
    name: str
    kind: str
    source_entity: str  # entity codes
    target_entity: str
    source_entity_name: str
    target_entity_name: str
    source_attribute: str
    target_attribute: str


@dataclass(frozen=True)
class MetricView:
    id: int
    client_id: int
    code: str
    name: str
    description: str
    formula: str
    entity: str | None  # the entity's code; None for a metric derived from other metrics
    unit: str
    domain: str
    mode: str
    depends_on_metrics: tuple[str, ...]  # codes of the metrics its formula uses, as stored
    depends_on_attributes: tuple[str, ...]  # "entity.attribute" its formula reads itself
    used_by: tuple[str, ...]  # codes of the metrics whose formulas use it
    value_chains: tuple[ValueChainRef, ...]
    created_at: datetime
    updated_at: datetime
