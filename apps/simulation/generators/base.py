"""What every scenario generator provides: the ontology its KPIs need, its
parameters (a Pydantic model: defaults, types, the schema the API shows),
a row plan, and the rows themselves in time-ordered batches.

A scenario never writes: the ScenarioManager (apps/simulation/manager.py)
creates the definitions through the ontology services and loads the batches
through the ontology's bulk-load path."""

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from apps.core.errors import AppError
from apps.ontology.services.entities import AttributeInput, EntityInput
from apps.ontology.services.metrics import MetricInput
from apps.ontology.services.relationships import RelationshipInput

MAX_RANGE_DAYS = 3 * 366  # one run covers at most about three years
MAX_ROWS = 5_000_000  # rows one run may write (about a minute of loading)


class ScenarioParams(BaseModel):
    """Base of every scenario's parameters: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class OntologySpec:
    """The definitions a scenario needs, in creation order."""

    entities: tuple[EntityInput, ...] = ()
    relationships: tuple[RelationshipInput, ...] = ()
    metrics: tuple[MetricInput, ...] = ()


@dataclass
class Batch:
    """Rows of one entity, for one bulk load. Rows of a time-series entity
    come in time order, each batch after the previous one."""

    entity: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def entity(code: str, name: str, attributes: list[tuple], *, time_attribute: str = "") -> EntityInput:
    """An EntityInput from `(code, data_type[, nullable[, enum_values]])` tuples."""
    inputs = []
    for code_, data_type, *rest in attributes:
        nullable = rest[0] if rest else True
        enum_values = tuple(rest[1]) if len(rest) > 1 else ()
        inputs.append(AttributeInput(code=code_, data_type=data_type, nullable=nullable, enum_values=enum_values))
    kind = "time_series" if time_attribute else "reference"
    return EntityInput(code=code, name=name, kind=kind, attributes=inputs, time_attribute=time_attribute)


def param_error(field_path: str, message: str, *, code: str = "invalid_params", **details: Any) -> AppError:
    """A 400 naming the parameter (`params.lobs.Health.end`, `start`)."""
    return AppError(f"{field_path}: {message}", code=code, details={"field": field_path, **details})


def _field_path(loc: tuple, raw: Any) -> str:
    """`params.lobs.Health[1].end` from a Pydantic error location. A count
    object given alone (not in a list) is shown without the `[0]` that
    normalizing it into a one-item list added."""
    path, node = "params", raw
    for part in loc:
        if isinstance(part, int):
            if isinstance(node, list):
                path += f"[{part}]"
                node = node[part] if part < len(node) else None
            # else: a lone object wrapped in a list; its index is not the caller's
            continue
        path += f".{part}"
        node = node.get(part) if isinstance(node, Mapping) else None
    return path


def params_parse(model: type[ScenarioParams], raw: Any) -> ScenarioParams:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise param_error("params", "Expected an object of scenario parameters.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path = _field_path(tuple(first["loc"]), raw)
        raise param_error(path, first["msg"] + ".", errors=len(exc.errors())) from None


def period_start(day: date, period: str) -> date:
    """The first day of the period holding `day` (UTC buckets, weeks from
    Monday: the metrics API's buckets)."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    months = 1 if period == "month" else 3
    index = day.year * 12 + day.month - 1
    index -= index % months
    return date(index // 12, index % 12 + 1, 1)


def period_next(day: date, period: str) -> date:
    """The first day of the period after the one starting on `day`."""
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7)
    months = 1 if period == "month" else 3
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def periods_between(start: date, end: date, period: str) -> list[tuple[date, date]]:
    """[first day, day after the last) of each period from `start` (a period's
    first day) to `end` (exclusive); the last one is cut at `end`."""
    spans = []
    cursor = start
    while cursor < end:
        following = period_next(cursor, period)
        spans.append((cursor, min(following, end)))
        cursor = following
    return spans


class Scenario(ABC):
    """One scenario over one range with validated parameters. Subclasses
    set `code`, `name`, `description`, `Params`, and implement `ontology`,
    `validate`, `rows_planned` and `batches`."""

    code: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[ScenarioParams]]
    # Reference entities whose rows are keyed: entity -> key attribute. Keys
    # already stored are not written again (a join on them must not multiply).
    reference_keys: ClassVar[dict[str, str]] = {}

    def __init__(self, *, start: date, end: date, params: Any = None) -> None:
        self.start = start
        self.end = end
        self.params = params_parse(self.Params, params)
        self.validate()

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def params_dump(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json")

    @abstractmethod
    def ontology(self) -> OntologySpec:
        """The entities, relationships and metrics the scenario needs."""

    def validate(self) -> None:  # noqa: B027 - optional hook: most scenarios have no cross-parameter rule
        """Checks across parameters and the range; raise `param_error`."""

    @abstractmethod
    def time_ranges(self) -> dict[str, tuple[date, date]]:
        """Per time-series entity, the days [first, after last) the run
        writes: another run may not have written there (the manager's check)."""

    @abstractmethod
    def rows_planned(self, *, skip_keys: Mapping[str, set[str]] | None = None) -> int:
        """How many rows `batches` yields: the denominator of progress."""

    @abstractmethod
    def batches(self, *, batch_rows: int, skip_keys: Mapping[str, set[str]] | None = None) -> Iterator[Batch]:
        """The rows, at most about `batch_rows` per batch. `skip_keys` names
        reference rows already stored (entity -> key values) to leave out."""

    def expected(self) -> dict[str, Any]:
        """What the scenario's metrics should show, for the run's summary."""
        return {}
