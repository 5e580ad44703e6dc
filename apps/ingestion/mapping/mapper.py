"""The mapper of one job: built once from the mapping (checked against the
entity, converters compiled), applied to every source record."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.connectors.types import SourceColumn
from apps.core.errors import AppError
from apps.ingestion.mapping.validation import Step, mapping_compile
from apps.ingestion.mapping.values import Bad, shown
from apps.ontology.types.definitions import EntityView

ROW_KEY = "_row"  # errors about the record as a whole
SHOWN_PROBLEMS = 3


@dataclass(frozen=True)
class MappedRow:
    values: dict[str, Any] | None  # None when the record cannot be mapped
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Mapper:
    entity: EntityView
    sources: dict[str, str]  # attribute -> source field
    constants: dict[str, Any]  # attribute -> value (constants, and defaults of attributes with no source)
    steps: tuple[Step, ...] = field(default=(), repr=False)
    _loop: tuple[tuple[str, str, Any], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_loop", tuple((s.attribute, s.source, s.convert) for s in self.steps))

    @classmethod
    def build(
        cls, *, entity: EntityView, mapping: Mapping[str, Any], source_columns: Sequence[SourceColumn] | None = None
    ) -> "Mapper":
        """Raises AppError 400 `invalid_mapping` (`expression_not_supported`
        when expressions are the only problem) with details {attribute: reason}."""
        plan = mapping_compile(entity=entity, mapping=mapping, source_columns=source_columns)
        if plan.errors:
            details: dict[str, str] = {}
            for issue in plan.errors:
                details[issue.attribute] = (
                    f"{details[issue.attribute]} {issue.message}" if issue.attribute in details else issue.message
                )
            shown_problems = "; ".join(f"{i.attribute}: {i.message.rstrip('.')}" for i in plan.errors[:SHOWN_PROBLEMS])
            more = len(plan.errors) - SHOWN_PROBLEMS
            only_expressions = all(i.code == "expression_not_supported" for i in plan.errors)
            raise AppError(
                f"The mapping does not fit entity {entity.code!r}: {shown_problems}"
                + (f" (and {more} more problem(s))." if more > 0 else "."),
                code="expression_not_supported" if only_expressions else "invalid_mapping",
                details=details,
            )
        return cls(entity=entity, sources=dict(plan.sources), constants=dict(plan.constants), steps=tuple(plan.steps))

    @property
    def source_fields(self) -> tuple[str, ...]:
        """The source fields the mapping reads, each once, in attribute order."""
        return tuple(dict.fromkeys(self.sources.values()))

    def apply_columns(self, columns: Mapping[str, Sequence[Any]], size: int) -> dict[str, Sequence[Any]] | None:
        """A batch of `size` source records given by field ({field: values};
        a field it lacks is empty in every record) as the entity's columns
        ({attribute: values}), or None when some record cannot be mapped:
        the caller then applies the mapper record by record, which names the
        problems. The same values as `apply` on each record (columns.py)."""
        nulls = (None,) * size
        mapped: dict[str, Sequence[Any]] = {attribute: [value] * size for attribute, value in self.constants.items()}
        for step in self.steps:
            column = step.column(columns.get(step.source, nulls))
            if column is None:
                return None
            mapped[step.attribute] = column
        return mapped

    def apply(self, record: Mapping[str, Any]) -> MappedRow:
        """One source record as a row of the entity, or the reasons it cannot
        be one, by attribute. Never raises for a bad record."""
        if not isinstance(record, Mapping):
            return MappedRow(values=None, errors={ROW_KEY: f"expected a record (field: value), got {shown(record)}"})
        values = self.constants.copy()
        errors = None
        get = record.get
        for attribute, source, convert in self._loop:
            try:
                values[attribute] = convert(get(source))
            except Bad as exc:
                if errors is None:
                    errors = {}
                errors[attribute] = str(exc)
            except (ValueError, TypeError, ArithmeticError, RecursionError):
                if errors is None:
                    errors = {}
                errors[attribute] = f"cannot read value {shown(get(source))} of source field {source}"
        if errors:
            return MappedRow(values=None, errors=errors)
        return MappedRow(values=values)
