"""The Data Mapper page (`sources/jobs/<code>/mapping/`, docs/sources.md "The
Data Mapper page"): a job's source fields beside its entity's attributes,
bound by drag and drop, by keyboard or by a select per attribute; value
maps, normalisation, formats, scales, time zones and defaults per
attribute; the mapping validated over a sample of source rows after each
change (an HTMX round trip), tried on 100 rows (a dry run, nothing
written) and saved through the jobs service, which checks it as the API
does; saving a draft job's complete mapping publishes the job. Every page
and partial needs `manage_sources`; another client's job answers 404."""

import json

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.core.access import Permission
from apps.core.errors import AppError, NotFound
from apps.ingestion.selectors.jobs import MAPPING_ERRORS, job_get
from apps.ingestion.selectors.mapping import job_mapping_check
from apps.ingestion.services.jobs import job_update
from apps.ingestion.services.runs import job_dry_run
from apps.ontology import selectors as ontology_selectors
from apps.web import mapper_form as forms
from apps.web.htmx import read_or_404
from apps.web.tenancy import client_required

REFUSED = "Only members whose role may manage sources use the Data Mapper"
manages_sources = client_required(read=Permission.MANAGE_SOURCES, write=Permission.MANAGE_SOURCES, refused=REFUSED)
DRY_RUN_ROWS = 100


def _posted_mapping(request: HttpRequest, code: str) -> dict:
    client_id = request.console_client.client_id
    job = read_or_404(job_get, client_id=client_id, code=code)
    entity = read_or_404(ontology_selectors.entity, client_id=client_id, code=job.entity)
    return forms.mapping_from_post(request.POST, entity.attributes)


def _context(request: HttpRequest, code: str, mapping: dict | None = None, **extra) -> dict:
    check = read_or_404(job_mapping_check, client_id=request.console_client.client_id, code=code, mapping=mapping)
    mapping = check.job.mapping if mapping is None else mapping
    codes = {a.code for a in check.entity.attributes}
    return {
        "check": check,
        "job": check.job,
        "entity": check.entity,
        "mapping": mapping,
        "rows": forms.attribute_rows(check.entity, mapping, check.report),
        "tree": forms.source_tree(check.source_columns),
        "sources": [c.name for c in check.source_columns],
        "overall": [i for i in check.report.errors + check.report.warnings if i.attribute not in codes],
        "mapping_json": json.dumps(mapping, indent=2, ensure_ascii=False),
        "cases": forms.CASES,
        **extra,
    }


@require_http_methods(["GET", "POST"])
@manages_sources
@vary_on_headers("HX-Request")
def source_mapper(request: HttpRequest, code: str) -> HttpResponse:
    """The page; POST saves the form's mapping (job_update). "Save mapping"
    publishes a draft whose mapping is complete and keeps an incomplete one a
    draft, saying what remains; "Save draft" keeps it a draft. A published
    job's mapping must hold (refused with the service's message, the form
    kept)."""
    if request.method == "POST":
        mapping = _posted_mapping(request, code)
        try:
            job = _mapping_save(request, code, mapping, draft=request.POST.get("save") == "draft")
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except AppError as exc:
            context = _context(request, code, mapping, save_error=exc.message)
            return render(request, "web/mapper/page.html", context, status=exc.status_code)
        url = reverse("web:source_mapper", args=[code])
        if not job.draft:
            messages.success(request, f"The mapping of job {code} is saved: the job is published and can run.")
        elif job.mapping_problems:
            remaining = ", ".join(job.mapping_problems)
            messages.warning(request, f"Job {code} is saved as a draft; still to map: {remaining}.")
        else:
            messages.success(request, f"Job {code} is saved as a draft; its mapping is complete: save to publish it.")
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    try:
        context = _context(request, code)
    except AppError as exc:  # the job's entity gone: say so rather than fail
        return render(request, "web/mapper/page.html", {"failure": exc.message, "job_code": code}, status=400)
    return render(request, "web/mapper/page.html", context)


def _mapping_save(request: HttpRequest, code: str, mapping: dict, *, draft: bool):
    """Save the mapping: as a draft when asked, else published when it holds,
    else (a draft only) as a draft still."""
    client_id = request.console_client.client_id
    if draft:
        return job_update(client_id=client_id, code=code, fields={"mapping": mapping, "draft": True}, partial=True)
    try:
        return job_update(client_id=client_id, code=code, fields={"mapping": mapping, "draft": False}, partial=True)
    except AppError as exc:
        if exc.code not in MAPPING_ERRORS or not job_get(client_id=client_id, code=code).draft:
            raise
    return job_update(client_id=client_id, code=code, fields={"mapping": mapping}, partial=True)


@require_POST
@manages_sources
def source_mapper_check(request: HttpRequest, code: str) -> HttpResponse:
    """The attributes panel for the form's mapping, validated over the sample
    (after each change on the page)."""
    mapping = _posted_mapping(request, code)
    return render(request, "web/mapper/_workspace.html", _context(request, code, mapping))


@require_POST
@manages_sources
def source_mapper_dry_run(request: HttpRequest, code: str) -> HttpResponse:
    """The form's mapping tried on the first 100 source rows: per row the
    source values and the stored ones, or the errors. Nothing is written but
    the dry run's line in the run history."""
    mapping = _posted_mapping(request, code)
    try:
        result = job_dry_run(client_id=request.console_client.client_id, code=code, limit=DRY_RUN_ROWS,
                             user=request.user, mapping=mapping)  # fmt: skip
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except AppError as exc:
        return render(request, "web/mapper/_dry_run.html", {"dry_error": exc.message}, status=exc.status_code)
    rows = sorted(result.rows, key=lambda row: (row.status != "rejected", row.row))
    return render(request, "web/mapper/_dry_run.html", {"result": result, "rows": rows})
