"""What the object model browser and the required-objects analysis show, read
from the ontology (selectors, catalog, UML graph) and the calculation
compiler: which entities each metric's statement reads (the same list the
cache invalidates by and live recalculation uses), grouped by value chain,
searchable, and the dependency graph of the KPIs in a user's cart."""

from dataclasses import dataclass, field

from apps.calculations.selectors import metric_read_sets
from apps.ontology import selectors
from apps.ontology.types.definitions import EntityView, RelationshipView

UNGROUPED = "Ungrouped"


@dataclass
class MetricReads:
    code: str
    name: str
    description: str
    formula: str
    unit: str
    entity: str | None
    uses: list[str]  # metrics the formula refers to (directly)
    attributes: list[str]  # "entity.attribute" the formula itself reads
    entities: list[str]  # every entity its statement reads (joins and referenced metrics included)
    broken: str = ""  # why the statement does not compile (a definition broken since it was saved)
    href: str = ""  # the KPI details page, set by the view when that page is routed


def metric_reads(*, client_id: int) -> dict[str, MetricReads]:
    """Every metric of the client with what it reads, by code."""
    dependencies = selectors.metric_dependencies(client_id=client_id)
    read_sets = metric_read_sets(client_id=client_id)
    found = {}
    for metric in selectors.metrics(client_id=client_id):
        read_set, uses = read_sets.get(metric.code), dependencies.get(metric.code)
        entity = metric.entity
        found[metric.code] = MetricReads(
            code=metric.code,
            name=metric.name,
            description=metric.description,
            formula=metric.formula,
            unit=metric.unit,
            entity=entity,
            uses=list(uses.metrics) if uses else [],
            attributes=list(uses.attributes) if uses else [],
            entities=list(read_set.entities) if read_set else ([entity] if entity else []),
            broken=read_set.broken if read_set else "",
        )
    return found


@dataclass
class EntitySection:
    entity: EntityView
    outgoing: list[RelationshipView] = field(default_factory=list)
    incoming: list[RelationshipView] = field(default_factory=list)
    metrics: list[MetricReads] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


@dataclass
class Group:
    code: str
    name: str
    description: str
    entities: list[EntitySection]  # sections shown in this group
    also: list[EntitySection]  # entities of this group whose section is in an earlier group


def object_model(*, client_id: int) -> dict:
    """Entities grouped by value chain (docs/ontology.md, "Context
    definitions"), entities of no chain under "Ungrouped". An entity in
    several chains has its section in the first and a link in the others, so
    `#entity-<code>` names exactly one section."""
    entities = selectors.entities(client_id=client_id)
    relationships = selectors.relationships(client_id=client_id)
    reads = metric_reads(client_id=client_id)
    views = {e.code: EntitySection(entity=e) for e in entities}
    for rel in relationships:
        views[rel.source_entity].outgoing.append(rel)
        views[rel.target_entity].incoming.append(rel)
    for metric in reads.values():
        for code in metric.entities:
            if code in views:
                views[code].metrics.append(metric)
    chains: dict[str, Group] = {}
    placed: set[str] = set()
    ungrouped = Group(UNGROUPED.lower(), UNGROUPED, "Entities of no value chain.", [], [])
    for entity in entities:
        view = views[entity.code]
        for chain in sorted(entity.value_chains, key=lambda c: c.code):
            view.groups.append(chain.name)
            group = chains.setdefault(chain.code, Group(chain.code, chain.name, chain.description, [], []))
            (group.also if entity.code in placed else group.entities).append(view)
            placed.add(entity.code)
        if entity.code not in placed:
            ungrouped.entities.append(view)
            placed.add(entity.code)
    groups = [chains[c] for c in sorted(chains)] + ([ungrouped] if ungrouped.entities else [])
    return {"groups": groups, "metrics": sorted(reads.values(), key=lambda m: m.code), "count": len(entities)}


# --- search ------------------------------------------------------------------


def highlight(text: str, query: str) -> list[tuple[str, bool]]:
    """`text` cut into (part, is_match) pieces, case-insensitively; the
    template marks the matches (and escapes every piece)."""
    if not query:
        return [(text, False)]
    parts, lower, needle, start = [], text.lower(), query.lower(), 0
    while (at := lower.find(needle, start)) >= 0:
        if at > start:
            parts.append((text[start:at], False))
        parts.append((text[at : at + len(query)], True))
        start = at + len(query)
    if start < len(text):
        parts.append((text[start:], False))
    return parts


def _hit(kind: str, anchor: str, title: str, code: str, description: str, context: str, query: str) -> dict | None:
    q = query.lower()
    if not any(q in value.lower() for value in (title, code, description)):
        return None
    return {
        "kind": kind,
        "anchor": anchor,
        "title": highlight(title, query),
        "code": highlight(code, query),
        "description": highlight(description, query) if q in description.lower() else [],
        "context": context,
    }


def objects_search(*, client_id: int, query: str, limit: int = 50) -> list[dict]:
    """Entities, attributes and metrics whose name, code or description
    contains `query` (case-insensitive), entities first."""
    query = query.strip()
    if not query:
        return []
    hits: list[dict] = []
    entities = selectors.entities(client_id=client_id)
    for e in entities:
        hit = _hit("entity", f"entity-{e.code}", e.name, e.code, e.description, e.kind_label, query)
        if hit:
            hits.append(hit)
    for e in entities:
        for a in e.attributes:
            hit = _hit(
                "attribute",
                f"entity-{e.code}",
                a.name or a.code,
                a.code,
                a.description,
                f"{e.name} · {a.data_type}",
                query,
            )
            if hit:
                hits.append(hit)
    for m in selectors.metrics(client_id=client_id):
        hit = _hit("metric", f"metric-{m.code}", m.name, m.code, m.description, m.formula, query)
        if hit:
            hits.append(hit)
    return hits[:limit]


# --- required objects --------------------------------------------------------


def _closure(codes: list[str], reads: dict[str, MetricReads]) -> list[str]:
    """The cart's metrics and every metric they use, through any depth (cycles
    cannot exist: the ontology refuses them), in discovery order."""
    seen: list[str] = []
    stack = [c for c in reversed(codes) if c in reads]
    while stack:
        code = stack.pop()
        if code in seen:
            continue
        seen.append(code)
        stack.extend(reversed(reads[code].uses))
    return seen


def required_objects(*, client_id: int, cart: list[str]) -> dict:
    """The dependency graph of the cart's KPIs: metric -> metrics it uses ->
    entities its statement reads -> the attributes formulas and joins need.
    Nodes and edges for the diagram, and per entity what needs it."""
    reads = metric_reads(client_id=client_id)
    metrics = _closure(cart, reads)
    entities = {e.code: e for e in selectors.entities(client_id=client_id)}
    relationships = selectors.relationships(client_id=client_id)
    nodes: dict[str, dict] = {}
    edges: list[dict] = []
    needs: dict[str, dict] = {}  # entity code -> {"attributes": set, "metrics": set}

    def entity_need(code: str, metric: str) -> dict:
        need = needs.setdefault(code, {"attributes": set(), "metrics": set()})
        need["metrics"].add(metric)
        return need

    for code in metrics:
        metric = reads[code]
        nodes[f"metric:{code}"] = {
            "id": f"metric:{code}",
            "type": "metric",
            "code": code,
            "title": metric.name,
            "in_cart": code in cart,
        }
        for used in metric.uses:
            edges.append({"source": f"metric:{code}", "target": f"metric:{used}", "kind": "uses"})
        inherited = {e for used in metric.uses for e in reads[used].entities}
        direct = [e for e in metric.entities if e not in inherited or e == metric.entity]
        for entity_code in direct:
            entity_need(entity_code, code)
            edges.append({"source": f"metric:{code}", "target": f"entity:{entity_code}", "kind": "reads"})
        for path in metric.attributes:
            entity_code, _, attribute = path.partition(".")
            entity_need(entity_code, code)["attributes"].add(attribute)
        for rel in relationships:  # the join keys of the entities the statement reads together
            if rel.source_entity in direct and rel.target_entity in direct:
                entity_need(rel.source_entity, code)["attributes"].add(rel.source_attribute)
                entity_need(rel.target_entity, code)["attributes"].add(rel.target_attribute)
    listing = []
    for entity_code in sorted(needs):
        entity = entities.get(entity_code)
        need = needs[entity_code]
        time_attribute = entity.time_attribute if entity else ""
        if time_attribute:
            need["attributes"].add(time_attribute)
        attributes = sorted(need["attributes"])
        nodes[f"entity:{entity_code}"] = {
            "id": f"entity:{entity_code}",
            "type": "entity",
            "code": entity_code,
            "title": entity.name if entity else entity_code,
        }
        for attribute in attributes:
            node_id = f"attribute:{entity_code}.{attribute}"
            nodes[node_id] = {"id": node_id, "type": "attribute", "code": attribute, "title": attribute}
            edges.append({"source": f"entity:{entity_code}", "target": node_id, "kind": "has"})
        listing.append(
            {
                "code": entity_code,
                "name": entity.name if entity else entity_code,
                "kind": entity.kind_label if entity else "",
                "attributes": attributes,
                "metrics": sorted(need["metrics"]),
            }
        )
    return {
        "graph": {"nodes": list(nodes.values()), "edges": edges},
        "entities": listing,
        "metrics": [reads[c] for c in metrics],
        "cart": [c for c in cart if c in reads],
        "missing": [c for c in cart if c not in reads],
    }
