"""Dataclasses the ontology's selectors hand to other apps, and the topics
and payload models of the events it publishes (publishers.py)."""

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel


@dataclass(frozen=True)
class MetricDependencies:
    """What a metric's formula refers to directly."""

    code: str
    metrics: tuple[str, ...]  # codes of the metrics it uses
    attributes: tuple[str, ...]  # "entity.attribute" it reads itself


# -- events the ontology publishes (publishers.py registers their schemas) ----------

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
