"""The Data Source page (`/sources/`, docs/sources.md "The Data Source
page"): connections (add, edit, delete, test inline), discovery and a
preview grid of live rows, ingestion jobs with their schedule checked as it
is typed, and each job's run history with a run's progress followed live.

Every page and partial declares `manage_sources` (connections carry
credentials). Every write goes through the connectors and ingestion
services the API uses, so a form and the API never disagree on what is
valid; a refused form comes back with the service's message next to the
field it concerns. Another client's connection or job answers 404."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.connectors.selectors import connections as connection_selectors
from apps.connectors.services import connections as connection_services
from apps.connectors.services import uploads as upload_services
from apps.connectors.types import SourceError, TestOutcome
from apps.core.access import Permission
from apps.core.errors import AppError, NotFound
from apps.ingestion.selectors import jobs as job_selectors
from apps.ingestion.services import jobs as job_services
from apps.ingestion.services import runs as run_services
from apps.ontology import selectors as ontology_selectors
from apps.web import source_forms as forms
from apps.web.htmx import done, is_fragment, read_or_404
from apps.web.tenancy import client_required

REFUSED = "Only members whose role may manage data sources use the Data Source page"
manages_sources = client_required(read=Permission.MANAGE_SOURCES, write=Permission.MANAGE_SOURCES, refused=REFUSED)
RUNS_PER_PAGE = 10
ACTIVE = ("queued", "running")


def _client_id(request: HttpRequest) -> int:
    return request.console_client.client_id


def _entities(client_id: int) -> list:
    return ontology_selectors.entities(client_id=client_id)


# --- the overview ----------------------------------------------------------------------


@require_GET
@manages_sources
def sources(request: HttpRequest) -> HttpResponse:
    """The client's connections and every ingestion job."""
    client_id = _client_id(request)
    context = {
        "connections": connection_selectors.connections_list(client_id=client_id),
        "jobs": job_selectors.jobs_list(client_id=client_id),
        "kind_labels": forms.KIND_LABELS,
    }
    return render(request, "web/sources/sources.html", context)


# --- connections -----------------------------------------------------------------------


def _connection_form_context(request, *, kind: str, state: forms.FormState, connection=None) -> dict:
    return {
        "kind": kind,
        "kinds": forms.KIND_LABELS,
        "values": state.values,
        "errors": state.errors,
        "connection": connection,
        "ssl_modes": forms.SSL_MODES,
        "auth_types": forms.AUTH_TYPES,
        "sql_kinds": forms.SQL_KINDS,
        "default_port": forms.DEFAULT_PORTS.get(kind, ""),
    }


@require_http_methods(["GET", "POST"])
@manages_sources
@vary_on_headers("HX-Request")
def source_connection_new(request: HttpRequest) -> HttpResponse:
    """Add a connection; GET ?kind= (HTMX) swaps the fields of that kind in."""
    data = request.POST if request.method == "POST" else request.GET
    kind = data.get("kind") if data.get("kind") in forms.KIND_LABELS else "postgresql"
    if request.method == "GET":
        state = forms.FormState(values=forms.connection_values(request.GET, kind=kind))
        context = _connection_form_context(request, kind=kind, state=state)
        if is_fragment(request):
            return render(request, "web/sources/_connection_fields.html", context)
        return render(request, "web/sources/connection_new.html", context)
    fields, state = forms.connection_parse(request.POST, kind=kind, creating=True)
    if state.ok:
        try:
            view = connection_services.connection_create(client_id=_client_id(request), user=request.user,
                                                         fields=fields)  # fmt: skip
        except AppError as exc:
            state.errors[forms.connection_error_field(exc)] = exc.message
        else:
            upload = request.FILES.get("upload")
            message = f"Connection {view.code} added. Test it, then discover what it holds."
            if upload is not None:
                try:
                    upload_services.connection_file_store(client_id=_client_id(request), code=view.code,
                                                          upload=upload)  # fmt: skip
                except AppError as exc:
                    message = f"Connection {view.code} added, but the file was refused: {exc.message}"
            return done(request, reverse("web:source_connection", args=[view.code]), message)
    context = _connection_form_context(request, kind=kind, state=state)
    template = "web/sources/_connection_form.html" if is_fragment(request) else "web/sources/connection_new.html"
    return render(request, template, context, status=400)


def _connection_page(request, view, *, state=None, status: int = 200, **extra) -> HttpResponse:
    client_id = _client_id(request)
    state = state or forms.FormState(values=forms.connection_values_from(view))
    context = {
        **_connection_form_context(request, kind=view.kind, state=state, connection=view),
        "objects": connection_selectors.connection_objects(client_id=client_id, code=view.code),
        "jobs": [j for j in job_selectors.jobs_list(client_id=client_id) if j.connection == view.code],
        "preview_limits": forms.PREVIEW_LIMITS,
        **extra,
    }
    if state.errors and is_fragment(request):
        return render(request, "web/sources/_connection_form.html", context, status=status)
    return render(request, "web/sources/connection.html", context, status=status)


@require_http_methods(["GET", "POST"])
@manages_sources
@vary_on_headers("HX-Request")
def source_connection(request: HttpRequest, code: str) -> HttpResponse:
    """One connection: its form (secrets write-only), test, discovery,
    preview and its jobs; POST saves the form."""
    client_id = _client_id(request)
    view = read_or_404(connection_selectors.connection_get, client_id=client_id, code=code)
    if request.method == "GET":
        return _connection_page(request, view)
    fields, state = forms.connection_parse(request.POST, kind=view.kind, creating=False)
    state.values["code"] = view.code
    if state.ok:
        try:
            view = connection_services.connection_update(client_id=client_id, code=code, fields=fields, partial=True)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except AppError as exc:
            state.errors[forms.connection_error_field(exc)] = exc.message
        else:
            upload = request.FILES.get("upload")
            if upload is not None:
                try:
                    upload_services.connection_file_store(client_id=client_id, code=code, upload=upload)
                except AppError as exc:
                    state.errors["upload"] = exc.message
            if state.ok:
                return done(request, reverse("web:source_connection", args=[code]), f"Connection {code} saved.")
    return _connection_page(request, view, state=state, status=400)


@require_http_methods(["GET", "POST"])
@manages_sources
def source_connection_delete(request: HttpRequest, code: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes (refused while a job reads it)."""
    client_id = _client_id(request)
    view = read_or_404(connection_selectors.connection_get, client_id=client_id, code=code)
    refusal = ""
    if request.method == "POST":
        try:
            connection_services.connection_delete(client_id=client_id, code=code)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except AppError as exc:
            refusal = exc.message
        else:
            return done(request, reverse("web:sources"), f"Connection {code} deleted.")
    return render(request, "web/sources/connection_delete.html", {"connection": view, "refusal": refusal},
                  status=409 if refusal else 200)  # fmt: skip


@require_POST
@manages_sources
def source_connection_test(request: HttpRequest, code: str) -> HttpResponse:
    """Try the saved connection; answers the outcome (stage and message)."""
    client_id = _client_id(request)
    read_or_404(connection_selectors.connection_get, client_id=client_id, code=code)
    try:
        outcome = connection_services.connection_test(client_id=client_id, code=code)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except AppError as exc:
        outcome = TestOutcome(ok=False, stage=(exc.details or {}).get("stage", "connect"), message=exc.message)
    connection = connection_selectors.connection_get(client_id=client_id, code=code)  # its new "last test"
    return render(request, "web/sources/_test_outcome.html", {"outcome": outcome, "connection": connection})


@require_POST
@manages_sources
def source_connection_discover(request: HttpRequest, code: str) -> HttpResponse:
    """Discover the source's objects and columns (recorded for the jobs)."""
    client_id = _client_id(request)
    view = read_or_404(connection_selectors.connection_get, client_id=client_id, code=code)
    context = {"connection": view, "preview_limits": forms.PREVIEW_LIMITS}
    try:
        context["objects"] = connection_services.connection_discover(client_id=client_id, code=code)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except AppError as exc:
        context.update(objects=[], discover_error=exc.message)
        return render(request, "web/sources/_objects.html", context, status=exc.status_code)
    context["discovered"] = True
    return render(request, "web/sources/_objects.html", context)


@require_GET
@manages_sources
def source_connection_preview(request: HttpRequest, code: str) -> HttpResponse:
    """Live sample rows of one object (?object=, ?limit= 20 or 100)."""
    client_id = _client_id(request)
    read_or_404(connection_selectors.connection_get, client_id=client_id, code=code)
    source_object = (request.GET.get("object") or "").strip()
    try:
        limit = int(request.GET.get("limit") or forms.PREVIEW_LIMITS[0])
    except ValueError:
        limit = 0
    context = {"object": source_object, "limit": limit, "code": code, "preview_limits": forms.PREVIEW_LIMITS}
    try:
        if not source_object:
            raise SourceError("Choose an object to preview.", code="invalid_source")
        context["preview"] = connection_selectors.connection_preview(
            client_id=client_id, code=code, source_object=source_object, limit=limit
        )
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except AppError as exc:
        context["preview_error"] = exc.message
        return render(request, "web/sources/_preview.html", context, status=exc.status_code)
    return render(request, "web/sources/_preview.html", context)


# --- jobs ------------------------------------------------------------------------------


def _job_form_context(request, *, connection: str, state: forms.FormState, job=None, **extra) -> dict:
    client_id = _client_id(request)
    objects = connection_selectors.connection_objects(client_id=client_id, code=connection)
    chosen = next((o for o in objects if o.name == state.values.get("object")), None)
    schedule = state.values.get("schedule", "")
    context = {
        "connection_code": connection,
        "values": state.values,
        "errors": state.errors,
        "job": job,
        "objects": objects,
        "columns": [c.name for c in chosen.columns] if chosen else [],
        "entities": _entities(client_id),
        "presets": forms.SCHEDULE_PRESETS,
        **extra,
    }
    if schedule and "schedule" not in state.errors:
        context.update(_schedule_context(schedule))
    return context


def _schedule_context(cron: str) -> dict:
    if not cron.strip():
        return {"schedule_none": True}
    try:
        view = job_selectors.schedule_check(cron)
    except AppError as exc:
        return {"schedule_error": exc.message}
    return {"schedule_view": view}


@require_http_methods(["GET", "POST"])
@manages_sources
@vary_on_headers("HX-Request")
def source_job_new(request: HttpRequest, code: str) -> HttpResponse:
    """A job of connection `code`, saved as a draft (its mapping is made on
    the Data Mapper page, where the browser goes next); GET ?object=&columns=
    comes prefilled from the discovery (the picked columns named like
    attributes are mapped)."""
    client_id = _client_id(request)
    connection = read_or_404(connection_selectors.connection_get, client_id=client_id, code=code)
    if request.method == "GET":
        source_object = (request.GET.get("object") or "").strip()
        columns = request.GET.getlist("columns")
        entity_code = (request.GET.get("entity") or "").strip()
        base = source_object.rsplit(".", 1)[-1].lower()
        values = {
            "code": "".join(ch if ch.isalnum() else "_" for ch in f"{code}_{base}")[:63] if source_object else "",
            "name": "", "object": source_object, "query": "", "entity": entity_code, "incremental": "",
            "batch_size": "10000", "schedule": "", "enabled": True, "mapping": "",
        }  # fmt: skip
        state = forms.FormState(values=values)
        context = _job_form_context(request, connection=connection.code, state=state, picked_columns=columns)
        return render(request, "web/sources/job_new.html", context)
    fields, state = forms.job_parse(request.POST, connection=code, creating=True)
    picked = request.POST.getlist("columns")
    if state.ok and not fields.get("mapping") and picked:
        # No mapping written: map the picked columns named like the entity's attributes.
        entity = next((e for e in _entities(client_id) if e.code == fields["entity"]), None)
        fields["mapping"] = forms.mapping_suggest(entity, picked)
    if state.ok:
        fields["draft"] = True  # the mapping is made on the Data Mapper page, next
        try:
            view = job_services.job_create(client_id=client_id, user=request.user, fields=fields)
        except AppError as exc:
            _job_errors(state, exc)
        else:
            return done(request, reverse("web:source_mapper", args=[view.code]),
                        f"Job {view.code} saved as a draft: map its fields, then save to publish it.")  # fmt: skip
    context = _job_form_context(request, connection=connection.code, state=state, picked_columns=picked)
    return render(request, "web/sources/job_new.html", context, status=400)


def _job_errors(state: forms.FormState, exc: AppError) -> None:
    state.errors[forms.job_error_field(exc)] = exc.message


def _job_page(request, job, *, state=None, status: int = 200, **extra) -> HttpResponse:
    state = state or forms.FormState(values=forms.job_values_from(job))
    context = {
        **_job_form_context(request, connection=job.connection, state=state, job=job),
        **_runs_context(request, job.code),
        **extra,
    }
    return render(request, "web/sources/job.html", context, status=status)


@require_http_methods(["GET", "POST"])
@manages_sources
@vary_on_headers("HX-Request")
def source_job(request: HttpRequest, code: str) -> HttpResponse:
    """One job: its form, its run history (live), Run now."""
    client_id = _client_id(request)
    job = read_or_404(job_selectors.job_get, client_id=client_id, code=code)
    if request.method == "GET":
        return _job_page(request, job)
    fields, state = forms.job_parse(request.POST, connection=job.connection, creating=False)
    state.values["code"] = job.code
    if state.ok:
        try:
            job = job_services.job_update(client_id=client_id, code=code, fields=fields, partial=True)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except AppError as exc:
            _job_errors(state, exc)
        else:
            return done(request, reverse("web:source_job", args=[code]), f"Job {code} saved.")
    return _job_page(request, job, state=state, status=400)


@require_POST
@manages_sources
def source_job_enabled(request: HttpRequest, code: str) -> HttpResponse:
    """Switch the job's schedule on or off."""
    client_id = _client_id(request)
    read_or_404(job_selectors.job_get, client_id=client_id, code=code)
    enabled = request.POST.get("enabled") == "on"
    try:
        job_services.job_update(client_id=client_id, code=code, fields={"enabled": enabled}, partial=True)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect("web:source_job", code=code)
    return done(request, reverse("web:source_job", args=[code]),
                 f"Job {code} {'enabled' if enabled else 'disabled'}.")  # fmt: skip


@require_GET
@manages_sources
def source_schedule(request: HttpRequest) -> HttpResponse:
    """The job form's live check of a cron expression: in words and the next
    five runs, or the field that does not parse."""
    cron = (request.GET.get("schedule") or "").strip()
    context = _schedule_context(cron)
    return render(request, "web/sources/_schedule.html", context, status=400 if "schedule_error" in context else 200)


# --- runs ------------------------------------------------------------------------------


def _runs_context(request: HttpRequest, code: str) -> dict:
    runs = job_selectors.job_runs(client_id=_client_id(request), code=code)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    return {
        "job_code": code,
        "runs_page": page,
        "runs": rows,
        "active": any(r.status in ACTIVE for r in rows) if page.number == 1 else False,
        "channel": f"ingestion.{code}",
    }


@require_GET
@manages_sources
def source_job_runs(request: HttpRequest, code: str) -> HttpResponse:
    """The job's runs, newest first, a page at a time (polled while one is active)."""
    context = read_or_404(_runs_context, request=request, code=code)
    return render(request, "web/sources/_runs.html", context)


@require_POST
@manages_sources
def source_job_run(request: HttpRequest, code: str) -> HttpResponse:
    """Run the job now; refused (409) while one of its runs is queued or running."""
    client_id = _client_id(request)
    read_or_404(job_selectors.job_get, client_id=client_id, code=code)
    refusal, status = "", 200
    try:
        run_services.job_run_request(client_id=client_id, code=code, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except AppError as exc:
        refusal, status = exc.message, exc.status_code
    if not request.htmx:
        if refusal:
            messages.error(request, refusal)
        else:
            messages.success(request, f"Run of {code} queued.")
        return redirect("web:source_job", code=code)
    context = {**_runs_context(request, code), "run_refusal": refusal}
    return render(request, "web/sources/_runs.html", context, status=status)


# --- deleting a job --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@manages_sources
def source_job_delete(request: HttpRequest, code: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes the job, its schedule and its
    run history (refused, 409 naming the run, while a run is queued or
    running), then goes back to its connection."""
    client_id = _client_id(request)
    job = read_or_404(job_selectors.job_get, client_id=client_id, code=code)
    refusal, status = "", 200
    if request.method == "POST":
        try:
            job_services.job_delete(client_id=client_id, code=code)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except AppError as exc:
            refusal, status = exc.message, exc.status_code
        else:
            return done(request, reverse("web:source_connection", args=[job.connection]), f"Job {code} deleted.")
    return render(request, "web/sources/job_delete.html", {"job": job, "refusal": refusal}, status=status)


# --- testing the form's settings before saving them ------------------------------------


@require_POST
@manages_sources
def source_connection_try(request: HttpRequest, code: str = "") -> HttpResponse:
    """The connection form tried by "Test these settings" as it would be
    saved, without saving anything (not even the outcome), through the same
    checks, destination rules and adapter test as a saved connection. On a
    saved connection's form (`code`) a secret left blank is the stored one.
    Answers the outcome (stage and message, no secret) or, 400, what in the
    form is not valid."""
    client_id = _client_id(request)
    if code:
        kind = read_or_404(connection_selectors.connection_get, client_id=client_id, code=code).kind
    else:
        kind = request.POST.get("kind") if request.POST.get("kind") in forms.KIND_LABELS else "postgresql"
        code = (request.POST.get("code") or "").strip()  # a file connection's folder
    fields, state = forms.connection_parse(request.POST, kind=kind, creating=False)
    outcome = None
    if state.ok:
        try:
            outcome = connection_services.connection_settings_test(client_id=client_id, fields=fields, code=code)
        except AppError as exc:
            state.errors[forms.connection_error_field(exc)] = exc.message
    if outcome is None:
        field, message = next(iter(state.errors.items()))
        where = f"{field}: " if field else ""
        outcome = TestOutcome(ok=False, stage="settings", message=f"The settings are not valid ({where}{message})")
        return render(request, "web/sources/_test_outcome.html", {"outcome": outcome, "tried": True}, status=400)
    return render(request, "web/sources/_test_outcome.html", {"outcome": outcome, "tried": True})
