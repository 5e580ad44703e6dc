"""The ScenarioManager: everything a scenario needs for one client, across
all of its KPIs. It creates the entities, relationships and metrics the
scenario's KPIs need through the ontology services (reusing compatible
definitions the client already has), then loads the generated rows of every
entity through the ontology's bulk-load path (`entity_rows_load`): each
batch is one validated COPY in one transaction, recorded as a data load and
followed by `ingestion.completed` and the in-process hooks (KPI cache and
rollup invalidation), exactly as for data a client loads itself."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from apps.core.errors import AppError, Conflict
from apps.ontology import selectors as ontology
from apps.ontology.services.data_load import entity_rows_load
from apps.ontology.services.entities import EntityInput, entity_create
from apps.ontology.services.metrics import MetricInput, metric_create
from apps.ontology.services.relationships import RelationshipInput, relationship_create
from apps.ontology.types.definitions import EntityView, MetricView, RelationshipView
from apps.simulation import selectors
from apps.simulation.generators.base import Scenario

BATCH_ROWS = 20_000  # rows per bulk load: progress moves in steps of this size

Progress = Callable[[int, int], None]  # (rows written, rows planned)


@dataclass
class OntologyReport:
    """Definitions the scenario needs, as "entity policy_snapshot", by fate."""

    created: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


@dataclass
class GenerationResult:
    rows_planned: int = 0
    rows_written: int = 0
    loads: int = 0
    rows_by_entity: dict[str, int] = field(default_factory=dict)


def _formula_key(formula: str) -> str:
    return re.sub(r"\s+", " ", formula).strip()


def _entity_conflict(existing: EntityView, wanted: EntityInput) -> str | None:
    """Why an existing entity cannot hold the scenario's rows, or None."""
    if existing.kind != wanted.kind:
        return f"it is a {existing.kind} entity, the scenario needs a {wanted.kind} one"
    if existing.time_attribute != wanted.time_attribute:
        return f"its time attribute is {existing.time_attribute!r}, the scenario needs {wanted.time_attribute!r}"
    attributes = {a.code: a for a in existing.attributes}
    for attribute in wanted.attributes:
        found = attributes.pop(attribute.code, None)
        if found is None:
            return f"it has no attribute {attribute.code!r}"
        if found.data_type != attribute.data_type:
            return f"its attribute {attribute.code!r} is {found.data_type}, the scenario writes {attribute.data_type}"
        missing = set(attribute.enum_values) - set(found.enum_values) if found.enum_values else set()
        if missing:
            return f"its attribute {attribute.code!r} does not allow {', '.join(sorted(missing))}"
    required = sorted(code for code, a in attributes.items() if not a.nullable)
    if required:
        return f"its attribute {required[0]!r} is required and the scenario does not write it"
    return None


def _relationship_conflict(existing: RelationshipView, wanted: RelationshipInput) -> str | None:
    have = (
        existing.source_entity,
        existing.target_entity,
        existing.kind,
        existing.source_attribute,
        existing.target_attribute,
    )
    need = (wanted.source_entity, wanted.target_entity, wanted.kind, wanted.source_attribute, wanted.target_attribute)
    if have != need:
        return f"it is {have[2]} {have[0]}.{have[3]} -> {have[1]}.{have[4]}, the scenario needs {need[2]} " + (
            f"{need[0]}.{need[3]} -> {need[1]}.{need[4]}"
        )
    return None


def _metric_conflict(existing: MetricView, wanted: MetricInput) -> str | None:
    if existing.entity != wanted.entity or _formula_key(existing.formula) != _formula_key(wanted.formula):
        where = f" on {wanted.entity}" if wanted.entity else ""
        return f"its formula is {existing.formula!r}, the scenario needs {wanted.formula!r}{where}"
    return None


class ScenarioManager:
    """Coordinates one scenario for one client: definitions, then data for
    every entity its KPIs read."""

    def __init__(self, *, client_id: int, user=None, batch_rows: int | None = None) -> None:
        self.client_id = client_id
        self.user = user
        self.batch_rows = batch_rows or BATCH_ROWS

    # -- definitions ---------------------------------------------------------------

    def ontology_check(self, scenario: Scenario) -> OntologyReport:
        """Which definitions would be created and which reused; a Conflict
        (409) naming the first one the client defined differently."""
        spec = scenario.ontology()
        report = OntologyReport()
        kinds = (
            ("entity", spec.entities, ontology.entities, _entity_conflict),
            ("relationship", spec.relationships, ontology.relationships, _relationship_conflict),
            ("metric", spec.metrics, ontology.metrics, _metric_conflict),
        )
        for kind, wanted, listing, conflict in kinds:
            existing = {d.code: d for d in listing(client_id=self.client_id, codes=[w.code for w in wanted])}
            for definition in wanted:
                found = existing.get(definition.code)
                if found is None:
                    report.created.append(f"{kind} {definition.code}")
                    continue
                reason = conflict(found, definition)
                if reason:
                    raise Conflict(
                        f"The {kind} {definition.code!r} already exists and does not fit the {scenario.name} "
                        f"scenario: {reason}. Rename or change it, or run the scenario for another client.",
                        code="definition_conflict",
                        details={kind: definition.code, "reason": reason},
                    )
                report.reused.append(f"{kind} {definition.code}")
        return report

    @transaction.atomic
    def ontology_ensure(self, scenario: Scenario) -> OntologyReport:
        """Create what the scenario needs and the client lacks, all or none."""
        report = self.ontology_check(scenario)
        to_create = set(report.created)
        spec = scenario.ontology()
        for data in spec.entities:
            if f"entity {data.code}" in to_create:
                entity_create(client_id=self.client_id, data=data, user=self.user)
        for data in spec.relationships:
            if f"relationship {data.code}" in to_create:
                relationship_create(client_id=self.client_id, data=data, user=self.user)
        for data in spec.metrics:
            if f"metric {data.code}" in to_create:
                metric_create(client_id=self.client_id, data=data, user=self.user)
        return report

    # -- data ------------------------------------------------------------------------

    def _entities(self, scenario: Scenario) -> dict:
        codes = [e.code for e in scenario.ontology().entities]
        return {e.code: e for e in ontology.entities(client_id=self.client_id, codes=codes)}

    def data_check(self, scenario: Scenario) -> None:
        """A Conflict (409) naming the entity when it already holds rows
        where the scenario would write: generated data never mixes with
        other rows of the same days."""
        entities = self._entities(scenario)
        for code, (first, after) in scenario.time_ranges().items():
            entity = entities.get(code)
            if entity is None:
                continue
            column = next(a for a in entity.attributes if a.code == entity.time_attribute)
            if selectors.table_has_rows_between(
                table=entity.table_name, column=column.code, data_type=column.data_type, first=first, after=after
            ):
                raise Conflict(
                    f"Entity {code!r} already holds rows between {first} and {after} (exclusive); "
                    "pick another range, or delete those rows first.",
                    code="data_conflict",
                    details={"entity": code, "start": first.isoformat(), "end": after.isoformat()},
                )

    def entities_hold_data(self, scenario: Scenario) -> bool:
        """Whether any of the scenario's time-series entities holds rows."""
        entities = self._entities(scenario)
        return any(
            code in entities and selectors.table_has_rows(table=entities[code].table_name)
            for code in scenario.time_ranges()
        )

    def _skip_keys(self, scenario: Scenario, entities: dict) -> dict[str, set[str]]:
        return {
            code: selectors.table_column_values(table=entities[code].table_name, column=key)
            for code, key in scenario.reference_keys.items()
            if code in entities
        }

    def generate(self, scenario: Scenario, *, progress: Progress | None = None) -> GenerationResult:
        """Load every row the scenario generates, batch by batch; `progress`
        hears (written, planned) after each committed batch."""
        entities = self._entities(scenario)
        skip_keys = self._skip_keys(scenario, entities)
        result = GenerationResult(rows_planned=scenario.rows_planned(skip_keys=skip_keys))
        if progress:
            progress(0, result.rows_planned)
        for batch in scenario.batches(batch_rows=self.batch_rows, skip_keys=skip_keys):
            loaded = entity_rows_load(
                entity=entities[batch.entity], rows=batch.rows, source="simulation", user=self.user
            )
            if loaded.rejected_count:
                # Generated rows always fit their entity; a rejection is a bug here, not bad input.
                raise AppError(
                    f"{loaded.rejected_count} generated rows of {batch.entity!r} were rejected, "
                    f"e.g. {loaded.rejected[0]}.",
                    code="generated_rows_rejected",
                    status_code=500,
                    details={"entity": batch.entity},
                )
            result.loads += 1
            result.rows_written += loaded.inserted
            result.rows_by_entity[batch.entity] = result.rows_by_entity.get(batch.entity, 0) + loaded.inserted
            if progress:
                progress(result.rows_written, result.rows_planned)
        return result

    def run(self, scenario: Scenario, *, progress: Progress | None = None) -> tuple[OntologyReport, GenerationResult]:
        report = self.ontology_ensure(scenario)
        self.data_check(scenario)
        return report, self.generate(scenario, progress=progress)
