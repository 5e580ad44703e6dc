"""Reads of the ontology, always within one client, as dataclasses
(apps.ontology.types.definitions) or plain values: what other apps may hold.
The version history is versions.py; the ontology as a graph or diagram,
uml.py. The querysets the ontology itself filters and writes through are in
apps/ontology/queries.py."""

import re
from collections.abc import Iterable

from django.db.models import Sum

from apps.core.errors import NotFound
from apps.ontology import models as m
from apps.ontology import queries
from apps.ontology.types import MetricDependencies
from apps.ontology.types.definitions import AttributeView, EntityView, MetricView, RelationshipView, ValueChainRef
from apps.ontology.types.formula import AGGREGATES

_AGGREGATE_CALL = re.compile(r"\b(" + "|".join(sorted(AGGREGATES, key=len, reverse=True)) + r")\s*\(", re.I)


def metric_dependencies(*, client_id: int) -> dict[str, MetricDependencies]:
    """Every metric of the client with the metrics and attributes its formula
    refers to directly, by code (one query)."""
    uses: dict[str, list[str]] = {}
    through = m.MetricDefinition.depends_on_metrics.through
    for source, target in through.objects.filter(from_metricdefinition__client_id=client_id).values_list(
        "from_metricdefinition__code", "to_metricdefinition__code"
    ):
        uses.setdefault(source, []).append(target)
    return {
        code: MetricDependencies(
            code=code, metrics=tuple(sorted(uses.get(code, []))), attributes=tuple(attributes or ())
        )
        for code, attributes in m.MetricDefinition.objects.filter(client_id=client_id).values_list(
            "code", "depends_on_attributes"
        )
    }


def _value_chains(definition) -> tuple[ValueChainRef, ...]:
    return tuple(
        ValueChainRef(code=c.code, name=c.name, description=c.description, industry=c.industry)
        for c in definition.value_chains.all()
    )


def _entity_view(entity: m.EntityDefinition) -> EntityView:
    return EntityView(
        id=entity.pk,
        client_id=entity.client_id,
        code=entity.code,
        name=entity.name,
        description=entity.description,
        kind=str(entity.kind),
        kind_label=entity.get_kind_display(),
        time_attribute=entity.time_attribute,
        table_name=entity.table_name,
        attributes=tuple(
            AttributeView(
                code=a.code,
                name=a.name,
                description=a.description,
                data_type=str(a.data_type),
                nullable=a.nullable,
                enum_values=tuple(a.enum_values or ()),
            )
            for a in entity.attributes.all()
        ),
        value_chains=_value_chains(entity),
    )


def entities(*, client_id: int, codes: Iterable[str] | None = None) -> list[EntityView]:
    """The client's entities (all, or those of `codes`) by code, with their
    attributes and value chains: three queries however many there are."""
    rows = queries.entity_list(client_id=client_id).prefetch_related("value_chains")
    if codes is not None:
        rows = rows.filter(code__in=list(codes))
    return [_entity_view(e) for e in rows]


def entity(*, client_id: int, code: str) -> EntityView:
    """One entity of the client; NotFound (404) for a missing one or another client's."""
    found = entities(client_id=client_id, codes=[code])
    if not found:
        raise NotFound(f"No entity definition with code {code!r}.", details={"code": code})
    return found[0]


def relationships(*, client_id: int, codes: Iterable[str] | None = None) -> list[RelationshipView]:
    """The client's relationships (all, or those of `codes`) by code: one query."""
    rows = queries.relationship_list(client_id=client_id)
    if codes is not None:
        rows = rows.filter(code__in=list(codes))
    return [
        RelationshipView(
            id=r.pk,
            client_id=r.client_id,
            code=r.code,
            name=r.name,
            kind=str(r.kind),
            source_entity=r.source_entity.code,
            target_entity=r.target_entity.code,
            source_entity_name=r.source_entity.name,
            target_entity_name=r.target_entity.name,
            source_attribute=r.source_attribute,
            target_attribute=r.target_attribute,
        )
        for r in rows
    ]


def metrics(*, client_id: int, codes: Iterable[str] | None = None) -> list[MetricView]:
    """The client's metrics (all, or those of `codes`) by code, with what they
    use, what uses them and their value chains: four queries however many
    there are."""
    rows = queries.metric_list(client_id=client_id).prefetch_related("value_chains", "used_by")
    if codes is not None:
        rows = rows.filter(code__in=list(codes))
    return [
        MetricView(
            id=mt.pk,
            client_id=mt.client_id,
            code=mt.code,
            name=mt.name,
            description=mt.description,
            formula=mt.formula,
            entity=mt.entity.code if mt.entity_id is not None else None,
            unit=mt.unit,
            domain=mt.domain,
            mode=str(mt.mode),
            depends_on_metrics=tuple(d.code for d in mt.depends_on_metrics.all()),
            depends_on_attributes=tuple(mt.depends_on_attributes or ()),
            used_by=tuple(u.code for u in mt.used_by.all()),
            value_chains=_value_chains(mt),
            created_at=mt.created_at,
            updated_at=mt.updated_at,
        )
        for mt in rows
    ]


def metric_exists(*, client_id: int, code: str) -> bool:
    """Whether the client has a metric of this code (one query)."""
    return m.MetricDefinition.objects.filter(client_id=client_id, code=code).exists()


def metric_count(*, client_id: int) -> int:
    return m.MetricDefinition.objects.filter(client_id=client_id).count()


def definitions_version(*, client_id: int) -> int:
    """A number that grows with every change to any of the client's
    definitions, counted by database triggers (see DefinitionChange). Each
    commit adds to it, so it names one state of the definitions: read it
    BEFORE the definitions, and what is cached under it is never older."""
    total = m.DefinitionChange.objects.filter(client_id=client_id).aggregate(total=Sum("changes"))["total"]
    return total or 0


def formula_aggregates(*, formula: str) -> list[str]:
    """The aggregate functions (upper case, sorted) a formula's text calls;
    none for a formula that only combines other metrics."""
    return sorted({name.upper() for name in _AGGREGATE_CALL.findall(formula)})
