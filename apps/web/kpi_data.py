"""What the KPI pages show, read through the ontology's selectors and the
calculation engine's orchestrator exactly as the metrics API reads them
(apps/calculations/api/views.py): the metric tree grouped by industry, value
chain or domain; a metric's last 30 days by day; how the router answers it
(explain); its values across each enum dimension; and the live check of a
derived formula (the parser plus the checks the ontology runs on save)."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import fmean

from django.http import Http404
from django.utils import timezone

from apps.calculations.services import CalculationOrchestrator
from apps.calculations.types import AccessContext, Granularity, MetricQuery, MetricResult
from apps.core.errors import AppError
from apps.ontology import selectors
from apps.ontology.selectors.versions import definition_version_count
from apps.ontology.services.metrics import metric_formula_check
from apps.ontology.types.definitions import MetricView
from apps.web import object_model
from apps.web.dashboard_data import extent_days

UNASSIGNED = "Unassigned"
GROUPINGS = {"industry": "Industries", "value_chain": "Value chains", "domain": "Domains"}
WINDOW_DAYS = 30
MAX_BENCHMARK_DIMENSIONS = 6
ROUTE_EXPLANATIONS = {
    "raw": (
        "Raw rows",
        "Every fact scan reads the entity's raw rows: no rollup can answer this request (the reasons are listed "
        "per scan below).",
    ),
    "rollup": (
        "Rollup",
        "Every fact scan merges a rollup's pre-aggregated partial states; no raw row is read.",
    ),
    "rollup+raw": (
        "Rollup + tail",
        "The rollup answers up to its watermark and the raw rows after it (the tail) are aggregated on the fly; "
        "or the parts of a derived metric mix both routes.",
    ),
}


def aggregation(metric: MetricView) -> str:
    """How a metric aggregates, in words: the aggregate functions its formula
    calls and its mode, or that it combines other metrics."""
    functions = selectors.formula_aggregates(formula=metric.formula)
    if functions:
        entity = metric.entity or "its entity"
        return f"{', '.join(functions)} over rows of {entity} ({metric.mode})"
    return f"combines other KPIs ({metric.mode})"


def _bound(value) -> str:
    """A bound value as a reader expects it (dates in ISO, strings quoted)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return repr(value)


def metric_get(*, client_id: int, code: str) -> MetricView:
    """A metric of this client, else 404 (another client's metric is not there)."""
    found = selectors.metrics(client_id=client_id, codes=[code])
    if not found:
        raise Http404(f"No metric {code!r}.")
    return found[0]


def _groups_of(metric: MetricView, grouping: str) -> list[tuple[str, str]]:
    """(key, title) of each group a metric belongs to under `grouping`."""
    if grouping == "domain":
        return [(metric.domain.lower(), metric.domain)] if metric.domain.strip() else []
    chains = metric.value_chains
    if grouping == "value_chain":
        return [(chain.code, chain.name or chain.code) for chain in chains]
    industries = {chain.industry.strip() for chain in chains if chain.industry.strip()}
    return [(industry.lower(), industry) for industry in sorted(industries)]


def _matches(metric: MetricView, query: str) -> bool:
    if not query:
        return True
    needle = query.lower()
    haystack = " ".join([metric.code, metric.name, metric.description, metric.domain, metric.unit]).lower()
    return needle in haystack


def kpi_tree(*, client_id: int, grouping: str, query: str = "") -> list[dict]:
    """The metrics matching `query`, grouped (a metric in two value chains
    appears under both); metrics of no group last, under "Unassigned"."""
    groups: dict[str, dict] = {}
    unassigned: list = []
    for metric in selectors.metrics(client_id=client_id):
        if not _matches(metric, query):
            continue
        memberships = _groups_of(metric, grouping)
        if not memberships:
            unassigned.append(metric)
        for key, title in memberships:
            groups.setdefault(key, {"key": key, "title": title, "metrics": []})["metrics"].append(metric)
    ordered = sorted(groups.values(), key=lambda group: group["title"].lower())
    if unassigned:
        ordered.append({"key": "unassigned", "title": UNASSIGNED, "metrics": unassigned})
    return ordered


def window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last 30 whole days (UTC), today included: whole days so a daily
    rollup can answer, as it would for a dashboard."""
    now = now or timezone.now()
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return end - timedelta(days=WINDOW_DAYS), end


def _query(code: str, group_by: tuple[str, ...] = ()) -> MetricQuery:
    start, end = window()
    return MetricQuery(metric=code, start=start, end=end, granularity=Granularity.DAY, group_by=group_by)


def _orchestrator(context: AccessContext) -> CalculationOrchestrator:
    """Numbers are computed for the caller (web/row_access.py): their row policies apply."""
    return CalculationOrchestrator(context=context)


@dataclass
class Series:
    """A metric by day over the window, as the charts draw it."""

    labels: list[str] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    unit: str = ""
    route: str = ""
    error: str = ""
    extent: dict | None = None  # an empty window: the days the data runs over (dashboard_data.extent_days)

    @property
    def latest(self) -> float | None:
        return next((v for v in reversed(self.values) if v is not None), None)

    @property
    def has_data(self) -> bool:
        return any(v is not None for v in self.values)

    def chart(self, name: str) -> dict:
        return {"kind": "line", "name": name, "unit": self.unit, "labels": self.labels, "values": self.values}


def _by_day(result: MetricResult) -> dict[str, float | None]:
    return {point.bucket.date().isoformat(): point.value for point in result.series if point.bucket is not None}


def metric_series(*, context: AccessContext, code: str) -> Series:
    """The metric over the last 30 days by day, through the orchestrator (the
    cache, the domain handler, the router): what GET /api/v1/metrics/<code>/
    answers. Days without rows are gaps (None)."""
    try:
        result = _orchestrator(context).calculate(_query(code))
    except AppError as exc:
        return Series(error=exc.message)
    start, _ = window()
    days = [(start + timedelta(days=i)).date().isoformat() for i in range(WINDOW_DAYS)]
    values = _by_day(result)
    if not values and result.series:  # a metric over a reference entity: one value, no time
        only = result.series[-1].value
        values = {days[-1]: only}
    return Series(
        labels=days,
        values=[values.get(day) for day in days],
        unit=result.unit,
        route=result.route,
        extent=extent_days(code, result.extent),
    )


def metric_explain(*, context: AccessContext, code: str) -> dict:
    """How the last 30 days by day are answered: the `explain=1` of the
    metrics API (route, scans, statement) plus the values bound to it."""
    orchestrator = _orchestrator(context)
    query = _query(code)
    try:
        explained = orchestrator.explain(query)
        compiled = orchestrator.compile(query)
    except AppError as exc:
        return {"error": exc.message}
    title, explanation = ROUTE_EXPLANATIONS.get(explained["route"], (explained["route"], ""))
    return {
        **explained,
        "route_title": title,
        "route_explanation": explanation,
        "params": sorted((name, _bound(value)) for name, value in compiled.params.items()),
        "window": window(),
    }


def _dimensions(context: AccessContext, code: str) -> list[str]:
    """Enum attributes (group-by paths) of the entities the metric reads."""
    orchestrator = _orchestrator(context)
    try:
        entities = orchestrator.compile(_query(code)).entities
    except AppError:
        return []
    paths: list[str] = []
    for entity_code in entities:
        entity = orchestrator.catalog.entities.get(entity_code)
        if entity is None:
            continue
        paths.extend(code for code, attribute in sorted(entity.attributes.items()) if attribute.enum_values)
    return list(dict.fromkeys(paths))[:MAX_BENCHMARK_DIMENSIONS]


def metric_benchmarks(*, context: AccessContext, code: str) -> list[dict]:
    """For each enum dimension: per value, the latest day's value and the
    mean of the daily values over the window (ratios and distinct counts do
    not add up over days, so no sums)."""
    benchmarks = []
    for dimension in _dimensions(context, code):
        try:
            result = _orchestrator(context).calculate(_query(code, (dimension,)))
        except AppError as exc:
            benchmarks.append({"dimension": dimension, "error": exc.message, "rows": []})
            continue
        by_value: dict[str, list[tuple[datetime | None, float]]] = {}
        for point in result.series:
            if point.value is None:
                continue
            label = point.dims.get(dimension)
            by_value.setdefault("(none)" if label is None else str(label), []).append((point.bucket, point.value))
        rows = []
        for label, points in sorted(by_value.items()):
            points.sort(key=lambda p: p[0].timestamp() if p[0] else 0.0)
            mean = fmean(v for _, v in points)
            rows.append({"value": label, "latest": points[-1][1], "mean": mean, "days": len(points)})
        chart = {
            "kind": "bar",
            "name": dimension,
            "unit": result.unit,
            "labels": [row["value"] for row in rows],
            "values": [row["mean"] for row in rows],
        }
        extent = extent_days(code, result.extent)
        benchmarks.append({"dimension": dimension, "rows": rows, "chart": chart, "error": "", "extent": extent})
    return benchmarks


def metric_uses(metric: MetricView) -> tuple[str, ...]:
    """Codes of the metrics a metric's formula uses directly."""
    dependencies = selectors.metric_dependencies(client_id=metric.client_id).get(metric.code)
    return dependencies.metrics if dependencies else ()


def metric_metadata(metric: MetricView) -> dict:
    """Every definition field of a metric, with how many versions it has."""
    return {
        "fields": [
            ("Code", metric.code),
            ("Name", metric.name),
            ("Description", metric.description or "—"),
            ("Formula", metric.formula),
            ("Entity", metric.entity or "— (derived from other metrics)"),
            ("Unit", metric.unit or "—"),
            ("Domain", metric.domain or "—"),
            ("Mode", metric.mode),
            ("Depends on metrics", ", ".join(metric_uses(metric)) or "—"),
            ("Depends on attributes", ", ".join(metric.depends_on_attributes or []) or "—"),
            ("Used by", ", ".join(metric.used_by) or "—"),
            ("Value chains", ", ".join(c.name or c.code for c in metric.value_chains) or "—"),
            ("Created", metric.created_at),
            ("Updated", metric.updated_at),
        ],
        "versions": definition_version_count(metric),
    }


def required_objects(metric: MetricView) -> list[dict]:
    """The entities and attributes a metric reads, its own and through the
    metrics it depends on: the required-objects analysis of a cart of one."""
    analysis = object_model.required_objects(client_id=metric.client_id, cart=[metric.code])
    return [{"entity": e["code"], "attributes": e["attributes"]} for e in analysis["entities"]]


@dataclass(frozen=True)
class FormulaCheck:
    ok: bool
    message: str = ""
    code: str = ""
    metrics: tuple[str, ...] = ()


def formula_check(*, client_id: int, code: str, formula: str) -> FormulaCheck:
    """Check a derived KPI's formula (over metric codes, no entity) as the
    ontology does on save (ontology.services.metrics.metric_formula_check:
    references, circular references, every registered metric check). Nothing
    is written."""
    if not formula.strip():
        return FormulaCheck(False, "Write a formula over metric codes, e.g. new_count / start_count.", "empty")
    try:
        used = metric_formula_check(client_id=client_id, code=code, formula=formula)
    except AppError as exc:
        return FormulaCheck(False, exc.message, exc.code)
    return FormulaCheck(True, "", "", used)
