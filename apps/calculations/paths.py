"""Attribute paths -> columns and the joins that reach them.

A path names an attribute of the metric's entity (`lob`), or of a reference
entity reached through many-to-one relationships: by the relationship's or
the target entity's code (`sales_people.region`, `salesperson.region`), or
by the attribute alone when exactly one such entity within two hops has it
(`region`). Joins only follow many-to-one edges (a `many_to_one`
relationship from this entity, or a `one_to_many` one into it) and only into
reference entities, so a join never multiplies fact rows: each fact row
meets at most one row of the target, provided the target attribute is
unique there (docs/formulas.md says so)."""

from collections import deque
from dataclasses import dataclass

from apps.core.errors import AppError
from apps.ontology.catalog import AttributeSpec, Catalog, EntitySpec

MAX_HOPS = 2


@dataclass(frozen=True)
class Edge:
    """One many-to-one step: rows of `source` meet one row of `target`."""

    name: str  # the relationship's code
    source: str
    source_attribute: str
    target: str
    target_attribute: str


@dataclass(frozen=True)
class Join:
    alias: str
    entity: EntitySpec
    from_alias: str
    from_attribute: str
    to_attribute: str


@dataclass(frozen=True)
class Column:
    alias: str
    attribute: AttributeSpec
    name: str = ""  # the SQL column; the attribute's code unless the scan reads a rollup

    @property
    def sql_name(self) -> str:
        return self.name or self.attribute.code


def many_to_one_edges(catalog: Catalog, entity: str) -> list[Edge]:
    edges = []
    for r in catalog.relationships:
        if r.kind == "many_to_one" and r.source_entity == entity:
            edges.append(Edge(r.code, entity, r.source_attribute, r.target_entity, r.target_attribute))
        elif r.kind == "one_to_many" and r.target_entity == entity:
            edges.append(Edge(r.code, entity, r.target_attribute, r.source_entity, r.source_attribute))
    return [e for e in edges if e.target in catalog.entities and not catalog.entities[e.target].is_time_series]


class PathResolver:
    """Resolves paths for one entity and remembers the joins they need
    (one join per distinct chain of edges, shared by every path using it)."""

    def __init__(
        self, catalog: Catalog, entity: EntitySpec, base_alias: str = "e", base_columns: dict[str, str] | None = None
    ) -> None:
        self.catalog = catalog
        self.entity = entity
        self.base_alias = base_alias
        # A rollup scan names the entity's attributes by its own columns (dim_<i>);
        # None: the entity's table, where columns are the attribute codes.
        self.base_columns = base_columns
        self._joins: dict[tuple[str, ...], Join] = {}

    def base_column(self, attribute: str) -> str:
        if self.base_columns is None:
            return attribute
        if attribute not in self.base_columns:
            raise KeyError(attribute)
        return self.base_columns[attribute]

    @property
    def joins(self) -> list[Join]:
        return list(self._joins.values())

    @property
    def chains(self) -> list[tuple[tuple[str, ...], Join]]:
        """Each join with the chain of relationship codes that reaches it
        (row policies prefix a joined entity's paths with it)."""
        return list(self._joins.items())

    def column(self, path: str, *, what: str = "attribute") -> Column:
        parts = path.split(".") if isinstance(path, str) else []
        if not parts or any(not p for p in parts):
            raise self._unknown(path, what)
        *steps, attribute = parts
        if len(steps) == 1 and self._names_self(steps[0]):
            steps = []  # `sales_people.region` or `sold_by.region` asked of sales_people itself
        if steps:
            chain = self._explicit_chain(steps, path, what)
        elif attribute in self.entity.attributes:
            return Column(self.base_alias, self.entity.attributes[attribute], self.base_column(attribute))
        else:
            chain = self._search(attribute, path, what)
        target = self.catalog.entities[chain[-1].target] if chain else self.entity
        if attribute not in target.attributes:
            raise self._unknown(path, what)
        return Column(self._join_chain(chain), target.attributes[attribute])

    def _names_self(self, step: str) -> bool:
        """Whether `step` names this entity, or a relationship leading to it:
        a derived metric resolves one path from each of its metrics' entities."""
        if step == self.entity.code:
            return True
        return any(
            edge.name == step and edge.target == self.entity.code
            for source in self.catalog.entities
            for edge in many_to_one_edges(self.catalog, source)
        )

    def _explicit_chain(self, steps: list[str], path: str, what: str) -> list[Edge]:
        chain: list[Edge] = []
        current = self.entity.code
        for step in steps:
            options = [e for e in many_to_one_edges(self.catalog, current) if step in (e.name, e.target)]
            if len(options) != 1:
                if len(options) > 1:
                    raise self._ambiguous(path, what, [f"{e.name}.{path.rsplit('.', 1)[1]}" for e in options])
                raise self._unknown(path, what)
            chain.append(options[0])
            current = options[0].target
        return chain

    def _search(self, attribute: str, path: str, what: str) -> list[Edge]:
        """Breadth first over many-to-one edges; the nearest unique holder wins."""
        queue: deque[list[Edge]] = deque([[]])
        found: list[list[Edge]] = []
        while queue:
            chain = queue.popleft()
            if found and len(chain) > len(found[0]):
                break
            current = chain[-1].target if chain else self.entity.code
            if chain and attribute in self.catalog.entities[current].attributes:
                found.append(chain)
                continue
            if len(chain) < MAX_HOPS:
                visited = {self.entity.code, *(e.target for e in chain)}
                queue.extend([*chain, e] for e in many_to_one_edges(self.catalog, current) if e.target not in visited)
        if not found:
            raise self._unknown(path, what)
        if len(found) > 1:
            raise self._ambiguous(path, what, [".".join([*(e.name for e in c), attribute]) for c in found])
        return found[0]

    def _join_chain(self, chain: list[Edge]) -> str:
        alias = self.base_alias
        for depth in range(len(chain)):
            key = tuple(e.name for e in chain[: depth + 1])
            if key not in self._joins:
                edge = chain[depth]
                self._joins[key] = Join(
                    alias=f"j{len(self._joins) + 1}",
                    entity=self.catalog.entities[edge.target],
                    from_alias=alias,
                    from_attribute=self.base_column(edge.source_attribute) if depth == 0 else edge.source_attribute,
                    to_attribute=edge.target_attribute,
                )
            alias = self._joins[key].alias
        return alias

    def _unknown(self, path: str, what: str) -> AppError:
        reachable = sorted(e.target for e in many_to_one_edges(self.catalog, self.entity.code))
        hint = f" or of {', '.join(reachable)} (many-to-one)" if reachable else ""
        return AppError(
            f"Unknown {what} {path!r}: not an attribute of entity {self.entity.code!r}{hint}.",
            code=f"unknown_{what.replace(' ', '_').replace('-', '_')}",
            details={what.replace(" ", "_").replace("-", "_"): path, "entity": self.entity.code},
        )

    def _ambiguous(self, path: str, what: str, candidates: list[str]) -> AppError:
        return AppError(
            f"{what.capitalize()} {path!r} is ambiguous for entity {self.entity.code!r}; name one of: "
            f"{', '.join(sorted(candidates))}.",
            code="ambiguous_attribute",
            details={"path": path, "candidates": sorted(candidates)},
        )
