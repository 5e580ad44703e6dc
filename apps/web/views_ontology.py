"""The ontology studio (`/ontology/`): entity editor, relationship builder,
version history with diff and revert.

Every save goes through the services the API uses (apps/ontology/services),
so the table is created or altered, the change versioned and every check run
exactly as for `POST /api/v1/ontology/entities/`. A refused save comes back
as the same form with the service's message next to the field it concerns.

Each page serves its HTMX fragment from the same view (`apps.web.htmx.is_fragment`);
a successful POST answers `HttpResponseClientRedirect`
(HTMX) or a 303 (plain form)."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.core.access import Permission
from apps.core.errors import AppError, NotFound
from apps.ontology import selectors
from apps.ontology.selectors.uml import graph_build
from apps.ontology.selectors.versions import definition_history, definition_version_diff
from apps.ontology.services import entities as entity_services
from apps.ontology.services import relationships as relationship_services
from apps.ontology.services.versions import definition_revert
from apps.web import ontology_forms as forms
from apps.web.htmx import is_fragment
from apps.web.tenancy import can_edit, client_required


def _client_id(request: HttpRequest) -> int:
    return request.console_client.client_id


def _entity_or_404(request: HttpRequest, code: str):
    """The console client's entity; another client's (or none) is a 404."""
    try:
        return selectors.entity(client_id=_client_id(request), code=code)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _done(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url, permanent=False)


def _studio_context(request: HttpRequest, **extra) -> dict:
    client_id = _client_id(request)
    entities = selectors.entities(client_id=client_id)
    relationships = selectors.relationships(client_id=client_id)
    return {
        "entities": entities,
        "relationships": relationships,
        "graph": graph_build(entities=entities, relationships=relationships),
        "can_edit": can_edit(request),
        "data_types": forms.DATA_TYPES,
        "time_types": forms.TIME_TYPES,
        "entity_kinds": forms.ENTITY_KINDS,
        "relationship_kinds": forms.RELATIONSHIP_KINDS,
        "relationship_form": forms.RelationshipForm(),
        "panel": "overview",
        **extra,
    }


def _studio(request: HttpRequest, fragment: str, status: int = 200, **extra) -> HttpResponse:
    """The studio page with `fragment` in its main panel, or the fragment alone for HTMX."""
    if is_fragment(request):
        base = {
            "can_edit": can_edit(request),
            "data_types": forms.DATA_TYPES,
            "time_types": forms.TIME_TYPES,
            "entity_kinds": forms.ENTITY_KINDS,
            "relationship_kinds": forms.RELATIONSHIP_KINDS,
        }
        return render(request, fragment, {**base, **extra}, status=status)
    return render(request, "web/ontology/studio.html", _studio_context(request, panel=fragment, **extra), status=status)


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def ontology_studio(request: HttpRequest) -> HttpResponse:
    """Entity list, diagram and relationship builder. Its HTMX fragment is the
    entity list (refreshed after changes elsewhere)."""
    if is_fragment(request):
        client_id = _client_id(request)
        return render(request, "web/ontology/_entity_list.html", {"entities": selectors.entities(client_id=client_id)})
    return render(request, "web/ontology/studio.html", _studio_context(request))


def _entity_save(request: HttpRequest, entity=None) -> HttpResponse:
    form = forms.entity_form_parse(request.POST, entity=entity)
    try:
        if entity is None:
            saved = entity_services.entity_create(
                client_id=_client_id(request), data=form.to_input(), user=request.user
            )
        else:
            saved = entity_services.entity_update(entity=entity, data=form.to_input(), user=request.user)
    except AppError as exc:
        forms.entity_errors_place(form, exc)
        return _studio(request, "web/ontology/_entity_form.html", status=exc.status_code, form=form, entity=entity)
    return _done(request, reverse("web:ontology_entity", args=[saved.code]) + "?saved=1")


@require_http_methods(["GET", "POST"])
@client_required(
    read=Permission.VIEW_METRICS,
    write=Permission.EDIT_ONTOLOGY,
    refused="Your role in this client may read the ontology but not change it",
)
@vary_on_headers("HX-Request")
def ontology_entity_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _entity_save(request)
    return _studio(request, "web/ontology/_entity_form.html", form=forms.entity_form_blank(), entity=None)


@require_http_methods(["GET", "POST"])
@client_required(
    read=Permission.VIEW_METRICS,
    write=Permission.EDIT_ONTOLOGY,
    refused="Your role in this client may read the ontology but not change it",
)
@vary_on_headers("HX-Request")
def ontology_entity(request: HttpRequest, code: str) -> HttpResponse:
    entity = _entity_or_404(request, code)
    if request.method == "POST":
        return _entity_save(request, entity)
    return _studio(
        request,
        "web/ontology/_entity_form.html",
        form=forms.entity_form_from(entity),
        entity=entity,
        saved=request.GET.get("saved") == "1",
    )


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def ontology_entity_history(request: HttpRequest, code: str) -> HttpResponse:
    """Every version of the entity, newest first, as the history API lists them."""
    entity = _entity_or_404(request, code)
    return _studio(
        request,
        "web/ontology/_history.html",
        entity=entity,
        versions=definition_history(entity),
        reverted=request.GET.get("reverted"),
    )


def _diff(entity, version_id: int) -> dict:
    """What changed from version `version_id` to the current one: the entity's
    fields and attributes added, removed or changed (the history's own
    comparison, applied to the newest version and the chosen one)."""
    diff = definition_version_diff(entity, version_id=version_id)
    if diff is None:
        raise Http404(f"{entity.code} has no version {version_id}.")
    changes = dict(diff.changes)
    attributes = changes.pop("attributes", {"added": [], "removed": [], "changed": {}})
    rows = []
    for attribute in entity.attributes:
        status = "unchanged"
        if attribute.code in attributes["added"]:
            status = "added"
        elif attribute.code in attributes["changed"]:
            status = "changed"
        rows.append(
            {
                "code": attribute.code,
                "status": status,
                "now": {"data_type": attribute.data_type, "nullable": attribute.nullable},
                "before": attributes["changed"].get(attribute.code, {}).get("from"),
            }
        )
    rows += [{"code": code, "status": "removed"} for code in attributes["removed"]]
    return {
        "version_id": diff.version_id,
        "is_current": diff.is_current,
        "field_changes": [(name, change["from"], change["to"]) for name, change in changes.items()],
        "attribute_rows": rows,
    }


@require_GET
@client_required(read=Permission.VIEW_METRICS)
@vary_on_headers("HX-Request")
def ontology_entity_diff(request: HttpRequest, code: str, version_id: int) -> HttpResponse:
    entity = _entity_or_404(request, code)
    return _studio(request, "web/ontology/_diff.html", entity=entity, diff=_diff(entity, version_id))


@require_POST
@client_required(
    read=Permission.VIEW_METRICS,
    write=Permission.EDIT_ONTOLOGY,
    refused="Your role in this client may read the ontology but not change it",
)
def ontology_entity_revert(request: HttpRequest, code: str, version_id: int) -> HttpResponse:
    """Restore an earlier version through `definition_revert` (the API's
    service): the same checks and table changes, recorded as a new version."""
    entity = _entity_or_404(request, code)
    try:
        definition_revert(obj=entity, version_id=version_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except AppError as exc:
        return _studio(
            request,
            "web/ontology/_history.html",
            status=exc.status_code,
            entity=entity,
            versions=definition_history(entity),
            revert_error=exc.message,
        )
    url = reverse("web:ontology_entity_history", args=[entity.code]) + f"?reverted={version_id}"
    return _done(request, url)


@require_http_methods(["GET", "POST"])
@client_required(
    read=Permission.VIEW_METRICS,
    write=Permission.EDIT_ONTOLOGY,
    refused="Your role in this client may read the ontology but not change it",
)
@vary_on_headers("HX-Request")
def ontology_relationship_new(request: HttpRequest) -> HttpResponse:
    """The relationship builder: source and target entity, their key
    attributes and the cardinality, created by `relationship_create`."""
    entities = selectors.entities(client_id=_client_id(request))
    if request.method == "GET":
        return _studio(
            request,
            "web/ontology/_relationship_form.html",
            relationship_form=forms.RelationshipForm(),
            entities=entities,
        )
    form = forms.relationship_form_parse(request.POST)
    try:
        relationship_services.relationship_create(
            client_id=_client_id(request), data=form.to_input(), user=request.user
        )
    except AppError as exc:
        forms.relationship_errors_place(form, exc)
        return _studio(
            request,
            "web/ontology/_relationship_form.html",
            status=exc.status_code,
            relationship_form=form,
            entities=entities,
        )
    return _done(request, reverse("web:ontology_studio") + f"?relationship={form.code}#relationships")


@require_GET
@client_required(read=Permission.VIEW_METRICS)
def ontology_attribute_options(request: HttpRequest) -> HttpResponse:
    """`<option>`s of one entity's attributes, for the relationship builder's
    key pickers (`?source_entity=` or `?target_entity=`)."""
    code = request.GET.get("source_entity") or request.GET.get("target_entity") or request.GET.get("entity", "")
    entity = _entity_or_404(request, code)
    return render(request, "web/ontology/_attribute_options.html", {"attributes": entity.attributes})
