"""Dataclasses the ontology's services and selectors exchange with other apps:
what selectors return, and what its hooks (services/hooks.py) tell the
listeners higher layers register. The formula tree and the formula
language's vocabulary are in types/formula.py."""

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel


@dataclass(frozen=True)
class MetricDependencies:
    """What a metric's formula refers to directly."""

    code: str
    metrics: tuple[str, ...]  # codes of the metrics it uses
    attributes: tuple[str, ...]  # "entity.attribute" it reads itself


@dataclass(frozen=True)
class RowsLoaded:
    """Payload of `ingestion.completed`."""

    event_id: str
    client_id: int
    entity: str
    inserted: int
    time_min: datetime | None
    time_max: datetime | None
    correlation_id: str


@dataclass(frozen=True)
class MetricCandidate:
    """A metric about to be created or changed, already parsed and checked by
    the ontology; listeners may refuse it by raising AppError (the engine
    compiles it, so a formula it cannot compute is refused at definition)."""

    client_id: int
    code: str
    formula: str
    entity: str | None
    unit: str
    domain: str
    mode: str


@dataclass(frozen=True)
class MetricSaved:
    """A metric was created or changed (told after the transaction commits)."""

    client_id: int
    code: str
    entity: str | None


@dataclass(frozen=True)
class MetricDeleted:
    """A metric was deleted (told after the transaction commits): what was
    derived from it (the entity's automatic rollups) can be reshaped."""

    client_id: int
    code: str
    entity: str | None


@dataclass(frozen=True)
class EntityDeleting:
    """An entity is being deleted. Told inside the deleting transaction,
    before its table is dropped, so what listeners drop with it (the
    engine's rollup tables) commits or rolls back together with the entity;
    a listener may refuse the delete by raising AppError."""

    client_id: int
    code: str
    table: str


@dataclass(frozen=True)
class DefinitionVersion:
    """One recorded version of a definition: who, when, what changed since the
    version before it."""

    id: int
    at: datetime
    user: str | None  # the username, None when no user signed it
    comment: str
    changes: dict = field(hash=False)  # field -> {"from", "to"}; "attributes" -> added/removed/changed
    is_current: bool = False


@dataclass(frozen=True)
class VersionDiff:
    """What changed from one version of a definition to its current one."""

    version_id: int
    is_current: bool
    changes: dict = field(hash=False)


# The event the ontology publishes when rows are loaded (events.py publishes it;
# other apps' bus handlers read its payload).
INGESTION_COMPLETED = "ingestion.completed"


class IngestionCompletedV1(BaseModel):
    """Payload of `ingestion.completed` (version 1)."""

    entity: str
    load_id: int
    inserted: int
    rejected: int
    time_min: datetime | None
    time_max: datetime | None
    source: str


@dataclass(frozen=True)
class DataSourceView:
    """A data source definition: what a connection's discovery recorded
    (`settings["objects"]`) or what a user described; never a secret."""

    code: str
    name: str
    kind: str
    settings: dict
    schedule: str
    updated_at: datetime
