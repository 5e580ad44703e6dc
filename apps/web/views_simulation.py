"""The simulation controller (`/simulation/`): pick a scenario, set its
parameters and a date range, start a run, and follow its progress (pushed
over WebSocket by the worker, polled every 2 s when the socket is closed).

Runs are created through the simulation service exactly as
`POST /api/v1/simulation/runs/` does (checked before anything is queued,
then the Celery task enqueued after commit); the service's errors are shown
next to the input they name."""

import json
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.core.access import Permission
from apps.core.errors import AppError
from apps.simulation import selectors, services
from apps.web.forms_simulation import RunForm, default_range, error_place, param_fields, params_from_post
from apps.web.htmx import is_fragment
from apps.web.tenancy import client_required, console_allows

RECENT_RUNS = 15
EXPECTED_ROWS_SHOWN = 24
STALE_QUEUED_SECONDS = 30  # a run still queued after this: the worker is probably not running
ACTIVE = ("queued", "running")
# The metric the dashboard opens on after a run, when the run's scenario defines it.
HEADLINE_METRICS = ("retention_rate", "revenue")
STATUS_TEXT = {
    "queued": "Queued: waiting for a worker",
    "running": "Generating rows",
    "succeeded": "Finished",
    "failed": "Failed",
}


@dataclass
class RunView:
    """A run as the pages show it."""

    run: object
    now: datetime

    def __getattr__(self, name):
        return getattr(self.run, name)

    @property
    def scenario_name(self) -> str:
        scenario = selectors.scenario_get(self.run.scenario)
        return scenario.name if scenario else self.run.scenario

    @property
    def percent(self) -> int:
        return round(max(0.0, min(self.run.progress, 1.0)) * 100)

    @property
    def active(self) -> bool:
        return self.run.status in ACTIVE

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.run.status, self.run.status)

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.run.end.toordinal() - 1)

    @property
    def queued_seconds(self) -> float:
        return (self.now - self.run.created_at).total_seconds() if self.run.status == "queued" else 0.0

    @property
    def stale(self) -> bool:
        return self.queued_seconds >= STALE_QUEUED_SECONDS

    @property
    def duration(self) -> str:
        """How long it ran (or has been running): "1 min 5 s", "3.2 s"."""
        if self.run.started_at is None:
            return ""
        seconds = ((self.run.finished_at or self.now) - self.run.started_at).total_seconds()
        if seconds < 60:
            return f"{seconds:.1f} s"
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s"

    @property
    def metrics(self) -> list[str]:
        """The metrics the run created or reused ("metric revenue" in its summary)."""
        ontology = (self.run.summary or {}).get("ontology", {})
        names = [*ontology.get("created", []), *ontology.get("reused", [])]
        return [name.split(" ", 1)[1] for name in names if name.startswith("metric ")]

    @property
    def headline_metric(self) -> str:
        metrics = self.metrics
        return next((code for code in HEADLINE_METRICS if code in metrics), metrics[0] if metrics else "")

    @property
    def dashboard_url(self) -> str:
        """The dashboard, opened on the run's headline metric when it has one."""
        url = reverse("web:home")
        return f"{url}?{urlencode({'metric': self.headline_metric})}" if self.headline_metric else url

    @property
    def expected_counts(self) -> list[dict]:
        """Per period and line of business, what the retention metrics will
        show (retention scenarios keep it in the summary), first periods only."""
        counts = ((self.run.summary or {}).get("expected") or {}).get("counts") or []
        return counts[:EXPECTED_ROWS_SHOWN]

    @property
    def params_json(self) -> str:
        return json.dumps(self.run.params, indent=2, sort_keys=True)

    @property
    def rows_by_entity(self) -> list[tuple[str, int]]:
        return sorted(((self.run.summary or {}).get("rows") or {}).items())


def _recent_runs(request: HttpRequest) -> list[RunView]:
    now = timezone.now()
    runs = selectors.run_list(client_id=request.console_client.client_id)[:RECENT_RUNS]
    return [RunView(run, now) for run in runs]


def _run_view(request: HttpRequest, run_id: int) -> RunView:
    try:
        run = selectors.run_get(client_id=request.console_client.client_id, run_id=run_id)
    except AppError as exc:  # NotFound: another client's run, or none
        raise Http404(exc.message) from None
    return RunView(run, timezone.now())


def _scenario_choices(selected: str) -> list[dict]:
    return [
        {"code": s.code, "name": s.name, "description": s.description, "selected": s.code == selected}
        for s in selectors.scenarios()
    ]


def _scenario_info(code: str) -> dict:
    """A scenario for templates (a class would be called by the template engine)."""
    scenario = selectors.scenario_get(code)
    return {"code": scenario.code, "name": scenario.name, "description": scenario.description}


def _form_context(request, *, scenario: str, form: RunForm, fields, error: str = "") -> dict:
    return {
        "scenarios": _scenario_choices(scenario),
        "scenario": _scenario_info(scenario),
        "form": form,
        "fields": fields,
        "form_error": error,
        "can_start": console_allows(request, Permission.LOAD_DATA),
        "role": request.console_client.role,
    }


def _page(request: HttpRequest, *, scenario: str, status: int = 200, form_context: dict | None = None) -> HttpResponse:
    if form_context is None:
        start, end = default_range(timezone.now().date())
        form = RunForm(initial={"scenario": scenario, "start": start, "end": end})
        form_context = _form_context(request, scenario=scenario, form=form, fields=param_fields(scenario))
    context = {**form_context, "runs": _recent_runs(request), "stale_after": STALE_QUEUED_SECONDS}
    return render(request, "web/simulation/page.html", context, status=status)


def _scenario_param(request: HttpRequest) -> str:
    return _scenario_or_default(request.GET.get("scenario"))


def _scenario_or_default(code: str | None) -> str:
    """`code` when it names a scenario, else the first one."""
    return code if selectors.scenario_get(code) is not None else selectors.scenarios()[0].code


@require_http_methods(["GET", "POST"])
@client_required(
    read=Permission.VIEW_METRICS,
    write=Permission.LOAD_DATA,
    refused="Your role in this client may follow runs but not start them",
)
@vary_on_headers("HX-Request")
def simulation(request: HttpRequest) -> HttpResponse:
    """The controller page; a POST starts a run."""
    if request.method == "POST":
        return _start(request)
    return _page(request, scenario=_scenario_param(request))


def _start(request: HttpRequest) -> HttpResponse:
    """Check the run through the service (inline errors, nothing queued when
    one is wrong), then queue it and go to its page."""
    form = RunForm(request.POST)
    scenario = _scenario_or_default(request.POST.get("scenario"))
    fields = param_fields(scenario, request.POST)
    params, error = params_from_post(fields, request.POST)
    if form.is_valid() and error is None:
        try:
            run = services.run_start(
                client_id=request.console_client.client_id,
                user=request.user,
                scenario=form.cleaned_data["scenario"],
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                params=params,
            )
        except AppError as exc:
            error = _place_error(form, fields, exc)
        else:
            url = reverse("web:simulation_run", args=[run.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = _form_context(request, scenario=scenario, form=form, fields=fields, error=error or "")
    if is_fragment(request):
        return render(request, "web/simulation/form.html", context, status=422)
    return _page(request, scenario=scenario, status=422, form_context=context)


def _place_error(form: RunForm, fields, exc: AppError) -> str:
    """Put the service's error next to the input it names; returns the
    message when it belongs to no single input (shown above the form)."""
    path = str(exc.details.get("field") or "")
    if exc.code == "data_conflict":  # rows already stored on those days: pick another range
        form.add_error("start", exc.message)
        return ""
    if path in ("scenario", "start", "end"):
        form.add_error(path, exc.message.removeprefix(f"{path}: "))
        return ""
    if path.startswith("params") and error_place(fields, path, exc.message):
        return ""
    return exc.message


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def simulation_params(request: HttpRequest) -> HttpResponse:
    """The chosen scenario's parameter inputs (swapped in when the scenario
    changes); the whole page with that scenario picked otherwise."""
    scenario = _scenario_param(request)
    if not is_fragment(request):
        return _page(request, scenario=scenario)
    context = {
        "fields": param_fields(scenario),
        "scenario": _scenario_info(scenario),
        "can_start": console_allows(request, Permission.LOAD_DATA),
    }
    return render(request, "web/simulation/params.html", context)


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def simulation_runs(request: HttpRequest) -> HttpResponse:
    """The client's recent runs (refreshed over HTMX); the page otherwise."""
    if not is_fragment(request):
        return _page(request, scenario=_scenario_param(request))
    context = {"runs": _recent_runs(request), "stale_after": STALE_QUEUED_SECONDS}
    return render(request, "web/simulation/runs.html", context)


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def simulation_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run: its progress panel (polled while the socket is closed), or
    the page around it. Another client's run is a 404."""
    run = _run_view(request, run_id)
    context = {"run": run, "stale_after": STALE_QUEUED_SECONDS}
    if is_fragment(request):
        return render(request, "web/simulation/run_panel.html", context)
    return render(request, "web/simulation/run_page.html", context)
