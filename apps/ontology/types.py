"""Dataclasses the ontology's selectors hand to other apps."""

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricDependencies:
    """What a metric's formula refers to directly."""

    code: str
    metrics: tuple[str, ...]  # codes of the metrics it uses
    attributes: tuple[str, ...]  # "entity.attribute" it reads itself
