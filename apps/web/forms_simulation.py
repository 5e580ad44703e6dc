"""The simulation controller's forms: the run's scenario and date range (a
Django form), and the scenario's parameters as form fields generated from
the scenario's own parameter model (its Pydantic fields: types, defaults,
bounds, descriptions), so a parameter added to a scenario shows up here
without touching the console.

Posted values are handed to the simulation service as strings; the
scenario's model converts and checks them, and the service's error (which
names the parameter, `params.lobs.Health.end`) is placed next to the input
it names."""

import types
import typing
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import annotated_types
from django import forms
from pydantic import BaseModel

from apps.simulation.selectors import scenario_get, scenarios, whole_months_before

PREFIX = "p"  # every parameter input is named p-<parameter>[-<row>-<column>]
EXTRA_ROWS = 1  # blank rows offered under a table's defaults, to add one

# Nicer words than the parameter names, where the names are terse.
LABELS = {
    "lobs": "Lines of business",
    "new": "New",
    "orders_per_day": "Orders per day",
    "avg_amount": "Average amount",
    "weekly_amplitude": "Weekly swing",
    "yearly_amplitude": "Yearly swing",
    "yearly_peak_day": "Yearly peak (day of year)",
    "peak_width_days": "Peak width (days)",
    "spike_start": "Spike starts",
    "spike_end": "Spike ends (exclusive)",
}
HELP = {
    "seed": "The same seed gives the same rows.",
    "peak_width_days": "One standard deviation of the bell curve around the peak.",
    "start": "Policies in force at the start; later periods keep this period's rates.",
}
KEY_LABELS = {"lobs": "Line of business", "regions": "Region"}


def default_range(today: date) -> tuple[date, date]:
    """Three whole months before the current one: a range every scenario
    (monthly retention periods included) accepts as it is."""
    return whole_months_before(today, 3)


class RunForm(forms.Form):
    """What every run has: a scenario and a date range (end exclusive)."""

    scenario = forms.ChoiceField(choices=[(s.code, s.name) for s in scenarios()])
    start = forms.DateField(label="Start", help_text="First day of the generated data.")
    end = forms.DateField(label="End", help_text="Day after the last one (exclusive).")


# -- parameter fields ----------------------------------------------------------------------


@dataclass
class ParamInput:
    """One input: a scalar parameter, or one column of a table row."""

    name: str  # the form input's name
    param: str  # the parameter's path as the service names it: params.seed, params.lobs.Health.end
    label: str
    kind: str  # "select", "int", "float", "date", "text"
    value: str = ""
    help: str = ""
    choices: list[str] = field(default_factory=list)
    required: bool = False
    placeholder: str = ""
    minimum: Any = None
    maximum: Any = None
    error: str = ""

    @property
    def step(self) -> str:
        return "1" if self.kind == "int" else "any"


@dataclass
class ParamRow:
    index: int
    key: ParamInput
    cells: list[ParamInput]
    error: str = ""  # a message about the row, shown under it

    @property
    def error_label(self) -> str:
        bad = next((c for c in [self.key, *self.cells] if c.error), None)
        return f"{self.key.value} · {bad.label}" if bad and bad is not self.key else self.key.value

    @property
    def error_param(self) -> str:
        """The parameter the row's error names, as the service names it."""
        bad = next((c for c in self.cells if c.error), None)
        return bad.param if bad else f"{self.key.param}.{self.key.value.strip()}"

    @property
    def row_error(self) -> str:
        return self.error or next((c.error for c in [self.key, *self.cells] if c.error), "")


@dataclass
class ParamTable:
    """A dict of sub-parameters by name (lines of business, regions): one row each."""

    name: str
    param: str
    label: str
    help: str
    key_label: str
    columns: list[ParamInput]
    rows: list[ParamRow]
    error: str = ""

    kind = "table"


def _label(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) from `X | None`."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _bounds(metadata: list) -> tuple[Any, Any]:
    low = high = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            low = getattr(item, "ge", getattr(item, "gt", None))
        if isinstance(item, annotated_types.Le | annotated_types.Lt):
            high = getattr(item, "le", getattr(item, "lt", None))
    return low, high


def _kind(annotation: Any) -> tuple[str, list[str]]:
    if typing.get_origin(annotation) is Literal:
        return "select", [str(a) for a in typing.get_args(annotation)]
    if annotation is bool:
        return "select", ["true", "false"]
    if annotation is int:
        return "int", []
    if annotation is float:
        return "float", []
    if annotation is date:
        return "date", []
    return "text", []


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _table_model(annotation: Any) -> type[BaseModel] | None:
    """The row model of `dict[str, Model]` or `dict[str, list[Model]]`."""
    if typing.get_origin(annotation) is not dict:
        return None
    value = typing.get_args(annotation)[1]
    while typing.get_origin(value) is typing.Annotated:
        value = typing.get_args(value)[0]
    if typing.get_origin(value) is list:
        value = typing.get_args(value)[0]
    return value if isinstance(value, type) and issubclass(value, BaseModel) else None


def _scalar(name: str, info, posted: dict | None, *, param: str, input_name: str, default: Any) -> ParamInput:
    annotation, optional = _unwrap(info.annotation)
    kind, choices = _kind(annotation)
    low, high = _bounds(info.metadata)
    required = info.is_required() and not optional
    return ParamInput(
        name=input_name,
        param=param,
        label=_label(name),
        kind=kind,
        value=posted.get(input_name, "") if posted is not None else _text(default),
        help=info.description or HELP.get(name, ""),
        choices=choices,
        required=required,
        placeholder="automatic" if default is None and not info.is_required() else "",
        minimum=low,
        maximum=high,
    )


def _table(name: str, info, posted: dict | None) -> ParamTable:
    model = _table_model(info.annotation)
    base = f"{PREFIX}-{name}"
    columns = [
        _scalar(column, cinfo, None, param="", input_name="", default=None)
        for column, cinfo in model.model_fields.items()
    ]
    for column in columns:
        column.placeholder = ""
    if posted is not None:
        count = _int(posted.get(f"{base}-rows"), 0)
        entries = [(posted.get(f"{base}-{i}-key", ""), None) for i in range(count)]
    else:
        defaults = info.get_default(call_default_factory=True) or {}
        entries = [(key, value[0] if isinstance(value, list) else value) for key, value in defaults.items()]
        entries += [("", None)] * EXTRA_ROWS
    rows = []
    for index, (key, default) in enumerate(entries):
        key_input = ParamInput(
            name=f"{base}-{index}-key",
            param=f"params.{name}",
            label=KEY_LABELS.get(name, "Name"),
            kind="text",
            value=key,
            placeholder="Add one…" if not key else "",
        )
        cells = []
        for column, cinfo in model.model_fields.items():
            cell_default = getattr(default, column, None) if default is not None else None
            cell = _scalar(
                column,
                cinfo,
                posted,
                param=f"params.{name}.{key.strip()}.{column}",
                input_name=f"{base}-{index}-{column}",
                default=cell_default,
            )
            cell.placeholder = ""
            cells.append(cell)
        rows.append(ParamRow(index=index, key=key_input, cells=cells))
    return ParamTable(
        name=name,
        param=f"params.{name}",
        label=_label(name),
        help=(info.description or "").capitalize(),
        key_label=KEY_LABELS.get(name, "Name"),
        columns=columns,
        rows=rows,
    )


def _int(raw: Any, fallback: int) -> int:
    try:
        return max(0, min(int(raw), 100))
    except (TypeError, ValueError):
        return fallback


def param_fields(scenario: str, posted: dict | None = None) -> list[ParamInput | ParamTable]:
    """The scenario's parameters as inputs, with their defaults, or with the
    values just posted (`posted`: the request's POST data)."""
    model = scenario_get(scenario).params
    fields: list[ParamInput | ParamTable] = []
    for name, info in model.model_fields.items():
        if _table_model(info.annotation) is not None:
            fields.append(_table(name, info, posted))
        else:
            default = info.get_default(call_default_factory=True) if not info.is_required() else None
            fields.append(
                _scalar(name, info, posted, param=f"params.{name}", input_name=f"{PREFIX}-{name}", default=default)
            )
    return fields


def params_from_post(fields: list[ParamInput | ParamTable], posted: dict) -> tuple[dict[str, Any], str | None]:
    """The `params` object for the service from the posted inputs: empty
    inputs are left out (the scenario's default applies). Returns (params,
    None), or ({}, error) after marking a row the service could not name
    (a table row with values but no name)."""
    params: dict[str, Any] = {}
    for item in fields:
        if isinstance(item, ParamTable):
            if f"{PREFIX}-{item.name}-rows" not in posted:
                continue  # the form did not show this table: the default applies
            table: dict[str, Any] = {}
            for row in item.rows:
                values = {cell.name.rsplit("-", 1)[1]: cell.value.strip() for cell in row.cells}
                key = row.key.value.strip()
                if not key and not any(values.values()):
                    continue  # a blank row
                if not key:
                    row.key.error = f"Name this {item.key_label.lower()} or clear its values."
                    return {}, row.key.error
                if key in table:
                    row.key.error = f"{key} is listed twice."
                    return {}, row.key.error
                table[key] = {column: value for column, value in values.items() if value}
            params[item.name] = table
        elif item.value.strip():
            params[item.param.removeprefix("params.")] = item.value.strip()
    return params, None


def error_place(fields: list[ParamInput | ParamTable], path: str, message: str) -> bool:
    """Put the service's message next to the input its `details.field` names
    (`params.seed`, `params.lobs.Health.end`, `params.lobs.Health[1].start`,
    `params.lobs`); False when no input matches (the caller shows it above
    the form)."""
    text = message.removeprefix(f"{path}: ")
    for item in fields:
        if isinstance(item, ParamInput):
            if path == item.param:
                item.error = text
                return True
            continue
        if path == item.param:
            item.error = text
            return True
        if not path.startswith(item.param + "."):
            continue
        rest = path[len(item.param) + 1 :]
        for row in item.rows:
            key = row.key.value.strip()
            if not key or not rest.startswith(key):
                continue
            tail = rest[len(key) :]
            if tail == "":
                row.key.error = text
                return True
            if tail.startswith("["):  # one entry of a list of counts: the form has the first only
                tail = tail[tail.find("]") + 1 :]
            column = tail.lstrip(".")
            for cell in row.cells:
                if cell.name.endswith(f"-{column}"):
                    cell.error = text
                    return True
            row.error = text
            return True
    return False
