"""What the dashboard shows (the views are in views_dashboard.py): live KPI
widgets from the recorded history (`history_recent`) and the KPI trend chart
computed by the calculation engine exactly as the metrics API computes it
(`CalculationOrchestrator.calculate`), always for `request.console_client`
only; plus the formatting the page shares with static/js/dashboard.js."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest

from apps.calculations.selectors import history_list, history_recent
from apps.calculations.services import CalculationOrchestrator
from apps.calculations.types import DataExtent, Granularity, MetricQuery
from apps.core.errors import AppError, NotFound
from apps.ontology.selectors.client_config import kpis_inactive
from apps.web.row_access import request_access_context

WIDGET_LIMIT = 12  # live widgets on the page, in metric-code order
SPARK_POINTS = 30  # daily points a widget draws
SPARK_WIDTH, SPARK_HEIGHT = 120, 32
PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_RANGE_DAYS = 366
MAX_SERIES = 10  # groups drawn in the trend chart (the largest ones)
GROUPABLE_TYPES = {"string", "boolean", "integer"}


def orchestrator_for(request: HttpRequest) -> CalculationOrchestrator:
    return CalculationOrchestrator(context=request_access_context(request))


# --- formatting (mirrored by static/js/dashboard.js for live updates) ---------------


def value_format(value: float | None, unit: str) -> str:
    """A KPI value for people: ratios as percentages, other numbers grouped
    with at most two decimals, followed by a short unit."""
    if value is None:
        return "—"
    if unit in ("ratio", "%", "percent"):
        return f"{value * 100:,.1f} %" if unit == "ratio" else f"{value:,.1f} %"
    text = f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:,.2f}"
    return f"{text} {unit}" if unit and len(unit) <= 8 and unit not in ("count",) else text


def sparkline_points(values: list[float | None]) -> str:
    """SVG polyline points for `values` scaled into the widget's box (gaps skipped)."""
    numbers = [v for v in values if v is not None]
    if len(numbers) < 2:
        return ""
    low, high = min(numbers), max(numbers)
    span = (high - low) or 1.0
    step = SPARK_WIDTH / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 2 - (v - low) / span * (SPARK_HEIGHT - 4):.1f}"
        for i, v in enumerate(values)
        if v is not None
    )


# --- live KPI widgets ---------------------------------------------------------------


@dataclass
class Widget:
    code: str
    name: str
    unit: str
    points: list[dict] = field(default_factory=list)  # {"bucket": ISO, "value": float|None}, oldest first

    @property
    def latest(self) -> dict | None:
        return self.points[-1] if self.points else None

    @property
    def value_text(self) -> str:
        return value_format(self.latest["value"], self.unit) if self.latest else "—"

    @property
    def delta(self) -> dict | None:
        """Change of the latest point against the one before it."""
        if len(self.points) < 2 or self.points[-1]["value"] is None or self.points[-2]["value"] is None:
            return None
        now, before = self.points[-1]["value"], self.points[-2]["value"]
        change = now - before
        percent = (change / abs(before) * 100) if before else None
        direction = "up" if change > 0 else "down" if change < 0 else "flat"
        return {"change": change, "percent": percent, "direction": direction}

    @property
    def delta_text(self) -> str:
        delta = self.delta
        if delta is None:
            return ""
        if delta["percent"] is not None:
            return f"{delta['percent']:+,.1f} %"
        return ("+" if delta["change"] > 0 else "") + value_format(delta["change"], self.unit)

    @property
    def as_of(self) -> date | None:
        return datetime.fromisoformat(self.latest["bucket"]).date() if self.latest else None

    @property
    def spark(self) -> str:
        return sparkline_points([p["value"] for p in self.points])

    def as_json(self) -> dict:
        return {"code": self.code, "name": self.name, "unit": self.unit, "points": self.points}


def _recent_restricted(
    orchestrator: CalculationOrchestrator, recorded: dict[str, list[tuple[datetime, float | None]]]
) -> dict[str, list[tuple[datetime, float | None]]]:
    """The widgets' points for a caller under row policies: the recorded
    history is unrestricted, so its days (`recorded`) are computed again
    under the caller's policies (a day without their rows has no point)."""
    found: dict[str, list[tuple[datetime, float | None]]] = {}
    for code, points in recorded.items():
        days = [bucket for bucket, _ in points]
        query = MetricQuery(
            metric=code, start=min(days), end=max(days) + timedelta(days=1), granularity=Granularity.DAY
        )
        try:
            result = orchestrator.calculate(query, persist=False)
        except AppError:
            continue  # the widget is left out, as a metric without history is
        mine = {p.bucket: p.value for p in result.series if p.bucket is not None and not p.dims}
        kept = [(day, mine[day]) for day in days if mine.get(day) is not None]
        if kept:
            found[code] = kept
    return found


def widgets_read(request: HttpRequest) -> tuple[list[Widget], int]:
    """Widgets for the client's active metrics that have daily history (the
    metric as a whole), and how many active metrics the client has (a KPI
    deactivated in its configuration is left out: docs/client-config.md)."""
    orchestrator = orchestrator_for(request)
    catalog = orchestrator.catalog
    client_id = request.console_client.client_id
    inactive = kpis_inactive(client_id=client_id)
    codes = sorted(code for code in catalog.metrics if code not in inactive)
    recent = history_recent(
        client_id=client_id, metrics=codes, granularity=Granularity.DAY.value, per_metric=SPARK_POINTS
    )
    if orchestrator.context.restricted:
        # The recorded history is unrestricted: its days are computed under the caller's policies.
        shown = [code for code in codes if code in recent][:WIDGET_LIMIT]
        recent = _recent_restricted(orchestrator, {code: recent[code] for code in shown})
    widgets = [
        Widget(
            code=code,
            name=catalog.metrics[code].name,
            unit=catalog.metrics[code].unit,
            points=[{"bucket": bucket.isoformat(), "value": value} for bucket, value in recent[code]],
        )
        for code in codes
        if code in recent
    ][:WIDGET_LIMIT]
    return widgets, len(codes)


# --- KPI trend chart ----------------------------------------------------------------


@dataclass
class TrendForm:
    """The trend chart's choices, parsed from the query string; `errors` maps
    a field to the message shown next to it."""

    metric: str = ""
    start: date | None = None
    end: date | None = None
    group_by: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _date(text: str, name: str, form: TrendForm) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        form.errors[name] = f"{text!r} is not a date (YYYY-MM-DD)."
        return None


def group_by_options(catalog, metric_code: str) -> list[str]:
    """Attributes of the metric's entity a chart can split by (text-like, not its time)."""
    spec = catalog.metrics.get(metric_code)
    if spec is None or not spec.entity or spec.entity not in catalog.entities:
        return []
    entity = catalog.entities[spec.entity]
    return sorted(
        code
        for code, attribute in entity.attributes.items()
        if code != entity.time_attribute and (attribute.enum_values or attribute.data_type in GROUPABLE_TYPES)
    )


def latest_history_day(client_id: int, metric: str) -> date | None:
    row = history_list(client_id=client_id, metric=metric, start=None, end=None).order_by("-bucket").first()
    return row.bucket.astimezone(UTC).date() if row else None


def trend_form_parse(request: HttpRequest, catalog, default_metric: str) -> TrendForm:
    """Read metric, range (two dates or a preset of days up to today) and
    group-by; a metric of no concern to this client is a 404."""
    params = request.GET
    form = TrendForm(metric=(params.get("metric") or default_metric).strip())
    if form.metric and form.metric not in catalog.metrics:
        raise Http404(f"No metric {form.metric!r} in this client.")
    preset = params.get("preset") or ""
    if preset:
        if not preset.isdigit() or int(preset) not in PRESETS:
            form.errors["preset"] = f"Pick one of {', '.join(map(str, PRESETS))} days."
        else:
            form.end = datetime.now(UTC).date()
            form.start = form.end - timedelta(days=int(preset) - 1)
    else:
        form.start = _date(params.get("start", ""), "start", form)
        form.end = _date(params.get("end", ""), "end", form)
    if form.end is None and "end" not in form.errors:
        anchor = latest_history_day(request.console_client.client_id, form.metric) if form.metric else None
        form.end = anchor or datetime.now(UTC).date()
    if form.start is None and "start" not in form.errors and form.end is not None:
        form.start = form.end - timedelta(days=DEFAULT_DAYS - 1)
    if form.start and form.end:
        if form.end < form.start:
            form.errors["end"] = "The end date is before the start date."
        elif (form.end - form.start).days + 1 > MAX_RANGE_DAYS:
            form.errors["start"] = f"At most {MAX_RANGE_DAYS} days at a time."
    form.group_by = (params.get("group_by") or "").strip()
    if form.group_by and form.group_by not in group_by_options(catalog, form.metric):
        form.errors["group_by"] = f"{form.metric} cannot be split by {form.group_by!r}."
    return form


def trend_series(request: HttpRequest, orchestrator: CalculationOrchestrator, form: TrendForm) -> dict:
    """The chart's data: daily buckets and one series per group (the largest
    MAX_SERIES), computed by the orchestrator as GET /api/v1/metrics/<code> does."""
    start = datetime.combine(form.start, time(0), tzinfo=UTC)
    end = datetime.combine(form.end + timedelta(days=1), time(0), tzinfo=UTC)
    query = MetricQuery(
        metric=form.metric,
        start=start,
        end=end,
        granularity=Granularity.DAY,
        group_by=(form.group_by,) if form.group_by else (),
    )
    result = orchestrator.calculate(query)
    buckets = sorted({p.bucket for p in result.series if p.bucket is not None})
    groups: dict[tuple, dict[datetime, float | None]] = {}
    for point in result.series:
        if point.bucket is None:
            continue
        key = tuple(str(point.dims.get(name)) for name in query.group_by)
        groups.setdefault(key, {})[point.bucket] = point.value
    ranked = sorted(groups.items(), key=lambda item: -sum(abs(v) for v in item[1].values() if v is not None))
    spec = orchestrator.metric(form.metric)
    series = [
        {"name": " / ".join(key) if key else spec.name, "values": [values.get(b) for b in buckets]}
        for key, values in ranked[:MAX_SERIES]
    ]
    return {
        "metric": spec.code,
        "name": spec.name,
        "unit": result.unit or spec.unit,
        "group_by": form.group_by,
        "buckets": [b.date().isoformat() for b in buckets],
        "series": series,
        "groups_total": len(groups),
        "extent": result.extent,
    }


def extent_days(metric: str, extent: DataExtent | None, group_by: str = "") -> dict | None:
    """For an empty answer: the days the metric's data runs over (`first`,
    `last`), and the trend choices that show it (`query`: its last
    MAX_RANGE_DAYS days at most, from `start`). None when it has no rows."""
    if extent is None or extent.first is None or extent.last is None:
        return None
    first, last = extent.first.astimezone(UTC).date(), extent.last.astimezone(UTC).date()
    start = max(first, last - timedelta(days=MAX_RANGE_DAYS - 1))
    choices = {"metric": metric, "start": start.isoformat(), "end": last.isoformat()}
    if group_by:
        choices["group_by"] = group_by
    return {"first": first, "last": last, "start": start, "query": urlencode(choices)}


def trend_context(request: HttpRequest) -> tuple[dict, int]:
    """Everything the trend region renders, and its HTTP status (422 for
    choices the form refuses or the engine cannot compute)."""
    orchestrator = orchestrator_for(request)
    catalog = orchestrator.catalog
    client_id = request.console_client.client_id
    inactive = kpis_inactive(client_id=client_id)  # deactivated KPIs are not offered (docs/client-config.md)
    metrics = [catalog.metrics[code] for code in sorted(catalog.metrics) if code not in inactive]
    context: dict[str, Any] = {"metrics": metrics, "presets": PRESETS, "trend": None, "trend_error": None}
    if not metrics:
        return {**context, "form": TrendForm()}, 200
    # The default metric: the first with a daily history (one query for all).
    codes = [m.code for m in metrics]
    recent = history_recent(client_id=client_id, metrics=codes, granularity=Granularity.DAY.value, per_metric=1)
    with_history = next((code for code in codes if code in recent), codes[0])
    form = trend_form_parse(request, catalog, with_history)
    context.update(form=form, group_by_options=group_by_options(catalog, form.metric))
    if form.errors:
        return context, 422
    if form.metric in inactive:  # asked for by its URL
        context["trend_error"] = inactive[form.metric].message
        return context, 422
    try:
        trend = trend_series(request, orchestrator, form)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except AppError as exc:
        context["trend_error"] = exc.message
        return context, 422
    context["extent"] = extent_days(form.metric, trend.pop("extent"), form.group_by)
    context["trend"] = trend
    context["trend_rows"] = [
        (day, [value_format(s["values"][i], trend["unit"]) for s in trend["series"]])
        for i, day in enumerate(trend["buckets"])
    ]
    return context, 200
