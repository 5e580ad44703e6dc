"""The ontology as a graph: PlantUML class-diagram text, or nodes and edges as
JSON. Pure functions of what the selectors return (the dataclasses of
apps.ontology.types.definitions): no queries of their own."""

import re
from collections.abc import Iterable
from typing import Any

from apps.ontology.models import EntityDefinition, RelationshipDefinition
from apps.ontology.types.definitions import EntityView, MetricView, RelationshipView

KIND_STEREOTYPES = {
    EntityDefinition.Kind.TIME_SERIES: "time series",
    EntityDefinition.Kind.REFERENCE: "reference",
}
# Per relationship kind: the PlantUML arrow drawn from source to target and the
# multiplicities at the source and target ends. Composition and aggregation
# read "the source is the whole, the target its parts".
ARROWS = {
    RelationshipDefinition.Kind.MANY_TO_ONE: ("-->", "*", "1"),
    RelationshipDefinition.Kind.ONE_TO_MANY: ("-->", "1", "*"),
    RelationshipDefinition.Kind.MANY_TO_MANY: ("--", "*", "*"),
    RelationshipDefinition.Kind.COMPOSITION: ("*--", "1", "*"),
    RelationshipDefinition.Kind.AGGREGATION: ("o--", "0..1", "*"),
}
METRIC_MEASURES = "measures"
METRIC_USES = "uses"

# Characters that PlantUML's preprocessor ($variables, %functions, !directives),
# its parser (quotes, braces, comments) or Creole/HTML markup would interpret.
# They are written as <U+hex> code points, which PlantUML renders literally.
_SPECIAL = set("\"\\'<>{}[]|~#%$!@`^&")
_CREOLE_PAIRS = re.compile(r"([*/_=\-.])(?=\1)")


def plantuml_text(value: object) -> str:
    """`value` as literal text inside a PlantUML label: one line, nothing in it
    read as syntax, markup or preprocessor input."""
    text = " ".join(str(value).split())
    text = "".join(f"<U+{ord(c):04X}>" if c in _SPECIAL or not c.isprintable() else c for c in text)
    # `**bold**`, `//italic//`, `--strike--`, `__underline__`, `==` and `..` separators.
    return _CREOLE_PAIRS.sub(lambda m: f"<U+{ord(m.group(1)):04X}>", text)


def _alias(prefix: str, code: str) -> str:
    # Upper-case prefixes cannot clash with codes (lower snake case) nor with
    # each other, so an entity and a metric may share a code.
    return prefix + re.sub(r"[^a-z0-9_]", "_", code)


def entity_alias(code: str) -> str:
    return _alias("E_", code)


def metric_alias(code: str) -> str:
    return _alias("M_", code)


def _entity_block(entity: EntityView) -> list[str]:
    stereotype = KIND_STEREOTYPES.get(entity.kind, entity.kind)
    lines = [f'class "{plantuml_text(entity.name or entity.code)}" as {entity_alias(entity.code)} <<{stereotype}>> {{']
    lines.append(f"  .. {plantuml_text(entity.code)} ..")
    for attribute in entity.attributes:
        member = f"  {{field}} {plantuml_text(attribute.code)} : {attribute.data_type}"
        member += " [0..1]" if attribute.nullable else " [1]"
        if attribute.enum_values:
            member += " in (" + ", ".join(plantuml_text(v) for v in attribute.enum_values) + ")"
        if attribute.code == entity.time_attribute:
            member += " <<time>>"
        lines.append(member)
    lines.append("}")
    return lines


def _relationship_line(rel: RelationshipView) -> str:
    arrow, source_many, target_many = ARROWS.get(rel.kind, ("--", "", ""))
    source, target = entity_alias(rel.source_entity), entity_alias(rel.target_entity)
    label = f"{rel.code} ({rel.source_attribute} = {rel.target_attribute})"
    return f'{source} "{source_many}" {arrow} "{target_many}" {target} : {plantuml_text(label)}'


def _metric_block(metric: MetricView) -> list[str]:
    lines = [f'  class "{plantuml_text(metric.name or metric.code)}" as {metric_alias(metric.code)} <<metric>> {{']
    lines.append(f"    .. {plantuml_text(metric.code)} ..")
    lines.append(f"    {{field}} formula = {plantuml_text(metric.formula)}")
    for label, value in (("unit", metric.unit), ("domain", metric.domain), ("mode", metric.mode)):
        if value:
            lines.append(f"    {{field}} {label} = {plantuml_text(value)}")
    lines.append("  }")
    return lines


def plantuml_render(
    *,
    entities: Iterable[EntityView],
    relationships: Iterable[RelationshipView],
    metrics: Iterable[MetricView] = (),
    title: str = "",
) -> str:
    """A PlantUML class diagram: a class per entity (stereotype «time series»
    or «reference», attributes with types and multiplicities), relationships
    as associations, compositions or aggregations with multiplicities, and
    metrics in a `Metrics` package with dashed arrows to what they measure."""
    entities, relationships, metrics = list(entities), list(relationships), list(metrics)
    lines = ["@startuml", "hide empty methods"]
    if title:
        lines.append(f"title {plantuml_text(title)}")
    for entity in entities:
        lines += ["", *_entity_block(entity)]
    if relationships:
        lines.append("")
        lines += [_relationship_line(rel) for rel in relationships]
    if metrics:
        lines += ["", 'package "Metrics" {']
        for metric in metrics:
            lines += _metric_block(metric)
        lines.append("}")
        lines.append("")
        for metric in metrics:
            if metric.entity is not None:
                lines.append(f"{metric_alias(metric.code)} ..> {entity_alias(metric.entity)} : {METRIC_MEASURES}")
            for dependency in metric.depends_on_metrics:
                lines.append(f"{metric_alias(metric.code)} ..> {metric_alias(dependency)} : {METRIC_USES}")
    lines.append("@enduml")
    return "\n".join(lines) + "\n"


def entity_node_id(code: str) -> str:
    return f"entity:{code}"


def metric_node_id(code: str) -> str:
    return f"metric:{code}"


def graph_build(
    *,
    entities: Iterable[EntityView],
    relationships: Iterable[RelationshipView],
    metrics: Iterable[MetricView] = (),
) -> dict[str, list[dict[str, Any]]]:
    """The same diagram as data: `nodes` (entities and metrics, ids prefixed
    with their type so codes may repeat across types) and `edges`
    (relationships, metric -> entity it measures, metric -> metric it uses)."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for entity in entities:
        nodes.append(
            {
                "id": entity_node_id(entity.code),
                "type": "entity",
                "code": entity.code,
                "name": entity.name,
                "kind": entity.kind,
                "time_attribute": entity.time_attribute or None,
                "attributes": [
                    {
                        "code": a.code,
                        "data_type": a.data_type,
                        "nullable": a.nullable,
                        "enum_values": list(a.enum_values or []),
                    }
                    for a in entity.attributes
                ],
            }
        )
    for rel in relationships:
        _, source_many, target_many = ARROWS.get(rel.kind, ("--", "", ""))
        edges.append(
            {
                "id": f"relationship:{rel.code}",
                "source": entity_node_id(rel.source_entity),
                "target": entity_node_id(rel.target_entity),
                "kind": rel.kind,
                "code": rel.code,
                "source_attribute": rel.source_attribute,
                "target_attribute": rel.target_attribute,
                "multiplicity": {"source": source_many, "target": target_many},
            }
        )
    for metric in metrics:
        nodes.append(
            {
                "id": metric_node_id(metric.code),
                "type": "metric",
                "code": metric.code,
                "name": metric.name,
                "formula": metric.formula,
                "unit": metric.unit,
                "domain": metric.domain,
                "mode": metric.mode,
                "entity": metric.entity,
            }
        )
        if metric.entity is not None:
            edges.append(
                {
                    "source": metric_node_id(metric.code),
                    "target": entity_node_id(metric.entity),
                    "kind": METRIC_MEASURES,
                }
            )
        for dependency in metric.depends_on_metrics:
            edges.append(
                {"source": metric_node_id(metric.code), "target": metric_node_id(dependency), "kind": METRIC_USES}
            )
    return {"nodes": nodes, "edges": edges}
