"""The access console (`/access/`, docs/access.md "The access console"):
members and their roles, roles and their permissions, role mappings with
the directory sync and the access audit, row policies with their preview,
identity providers and the client's password-login switch.

Everything here manages access: every page and partial declares
`manage_access`, reads included (tenant ids, members' e-mail addresses and
the audit are not for every member). Every write goes through the services
the API uses (apps/identity/services, apps/governance/services), so a form
and the API can never disagree on what is valid; a refused form comes back
with the service's message next to the field it concerns (400/409), a
successful POST redirects (HttpResponseClientRedirect for HTMX) with a
message. Another client's object answers 404."""

from datetime import UTC, datetime, time, timedelta

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.calculations.selectors import row_policy_preview
from apps.calculations.types import Granularity, MetricQuery
from apps.core.access import Permission
from apps.core.errors import AppError
from apps.core.selectors import client_password_login_enabled
from apps.core.services import client_password_login_set
from apps.governance import selectors as policy_selectors
from apps.governance import services as policy_services
from apps.governance.types import SubjectKind
from apps.identity.selectors import directory as directory_selectors
from apps.identity.selectors.members import directory_group_names, member_access_list
from apps.identity.selectors.providers import provider_get, provider_list
from apps.identity.selectors.roles import role_get, role_list
from apps.identity.services import providers as provider_services
from apps.identity.services import role_mapping as mapping_services
from apps.identity.services import roles as role_services
from apps.identity.services.sync_requests import directory_sync_request
from apps.ontology import selectors as ontology_selectors
from apps.web import access_forms as forms
from apps.web.htmx import done, is_fragment, read_or_404
from apps.web.tenancy import client_required

REFUSED = "Only members whose role may manage access use the access console"
manages_access = client_required(read=Permission.MANAGE_ACCESS, write=Permission.MANAGE_ACCESS, refused=REFUSED)
RUNS_SHOWN = 10
AUDIT_SHOWN = 25
RUNNING = ("queued", "running")


def _client_id(request: HttpRequest) -> int:
    return request.console_client.client_id


def _answer(request: HttpRequest, page: str, fragment: str, context: dict, status: int = 200) -> HttpResponse:
    """The page, or (HTMX) only the fragment holding the form that was posted."""
    return render(request, fragment if is_fragment(request) else page, context, status=status)


# --- members ---------------------------------------------------------------------------


def _members_page(request: HttpRequest, *, status: int = 200, **extra) -> HttpResponse:
    client_id = _client_id(request)
    context = {
        "tab": "members",
        "members": member_access_list(client_id=client_id),
        "roles": role_list(client_id=client_id),
        **extra,
    }
    return render(request, "web/access/members.html", context, status=status)


@require_GET
@manages_access
@vary_on_headers("HX-Request")
def access(request: HttpRequest) -> HttpResponse:
    """The client's members, their role and who manages it (mapping or by hand)."""
    return _members_page(request)


@require_POST
@manages_access
def access_member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Give a member another role (audited, source admin). A role mapping
    manages the membership no more once its role is changed by hand."""
    client_id = _client_id(request)
    member = next((m for m in member_access_list(client_id=client_id) if m.membership_id == membership_id), None)
    if member is None:
        raise Http404(f"No member {membership_id} in this client.")
    role = (request.POST.get("role") or "").strip()
    try:
        role_services.member_role_change(
            client_id=client_id, membership_id=membership_id, role=role, actor_id=request.user.pk
        )
    except AppError as exc:
        return _members_page(request, status=exc.status_code, row_error=(membership_id, exc.message))
    return done(request, reverse("web:access"), f"{member.username} now has the role {role}.")


# --- roles -----------------------------------------------------------------------------


def _roles_context(request: HttpRequest, **extra) -> dict:
    return {
        "tab": "roles",
        "roles": role_list(client_id=_client_id(request)),
        "permissions": forms.PERMISSIONS,
        "form": forms.RoleForm(),
        **extra,
    }


@require_http_methods(["GET", "POST"])
@manages_access
@vary_on_headers("HX-Request")
def access_roles(request: HttpRequest) -> HttpResponse:
    """The roles x permissions matrix; POST creates a custom role."""
    if request.method == "POST":
        form = forms.role_form_parse(request.POST)
        try:
            role = role_services.role_create(
                client_id=_client_id(request),
                code=form.code,
                name=form.name,
                description=form.description,
                permissions=form.permissions,
            )
        except AppError as exc:
            form.errors = forms.errors_place(exc, forms.RoleForm.FIELDS)
            context = _roles_context(request, form=form)
            return _answer(request, "web/access/roles.html", "web/access/_role_form.html", context, exc.status_code)
        return done(request, reverse("web:access_roles"), f"Role {role.name} created.")
    return render(request, "web/access/roles.html", _roles_context(request))


@require_http_methods(["GET", "POST"])
@manages_access
@vary_on_headers("HX-Request")
def access_role(request: HttpRequest, code: str) -> HttpResponse:
    """One role's name, description and permissions."""
    role = read_or_404(role_get, client_id=_client_id(request), code=code)
    form = forms.role_form_from(role)
    status = 200
    if request.method == "POST":
        form = forms.role_form_parse(request.POST, code=role.code)
        try:
            role_services.role_update(
                client_id=_client_id(request),
                code=role.code,
                name=form.name or role.code,
                description=form.description,
                permissions=form.permissions,
            )
        except AppError as exc:
            form.errors = forms.errors_place(exc, forms.RoleForm.FIELDS)
            status = exc.status_code
        else:
            return done(request, reverse("web:access_roles"), f"Role {form.name or role.code} saved.")
    context = {"tab": "roles", "role": role, "form": form, "permissions": forms.PERMISSIONS}
    return _answer(request, "web/access/role.html", "web/access/_role_form.html", context, status)


@require_POST
@manages_access
def access_role_delete(request: HttpRequest, code: str) -> HttpResponse:
    """Delete a custom role; a seeded role, or one members still hold, is refused (said on the page)."""
    role = read_or_404(role_get, client_id=_client_id(request), code=code)
    try:
        role_services.role_delete(client_id=_client_id(request), code=role.code)
    except AppError as exc:
        context = _roles_context(request, refusal=exc.message)
        return render(request, "web/access/roles.html", context, status=exc.status_code)
    return done(request, reverse("web:access_roles"), f"Role {role.name} deleted.")


# --- role mappings, directory sync, audit ----------------------------------------------


def _mapping_rows(client_id: int) -> list[dict]:
    names = directory_group_names(client_id=client_id)
    return [
        {"mapping": m, "group_name": names.get((m.provider_id, m.group_object_id), "")}
        for m in directory_selectors.role_mappings(client_id=client_id)
    ]


def _mapping_options(client_id: int) -> dict:
    return {
        "providers": list(provider_list(client_id=client_id)),
        "roles": role_list(client_id=client_id),
        "groups": list(directory_selectors.directory_groups(client_id=client_id)),
    }


def _mappings_context(request: HttpRequest, **extra) -> dict:
    client_id = _client_id(request)
    return {
        "tab": "mappings",
        "rows": _mapping_rows(client_id),
        "runs": list(directory_selectors.sync_runs(client_id=client_id)[:RUNS_SHOWN]),
        "audit": list(directory_selectors.access_audit(client_id=client_id)[:AUDIT_SHOWN]),
        "form": forms.MappingForm(),
        "running": RUNNING,
        **_mapping_options(client_id),
        **extra,
    }


@require_http_methods(["GET", "POST"])
@manages_access
@vary_on_headers("HX-Request")
def access_mappings(request: HttpRequest) -> HttpResponse:
    """Role mappings, the last directory sync runs and the access audit; POST adds a mapping."""
    if request.method == "POST":
        form = forms.mapping_form_parse(request.POST)
        if not form.errors:
            try:
                mapping_services.role_mapping_create(
                    client_id=_client_id(request), provider_id=form.provider, **form.to_input()
                )
            except AppError as exc:
                form.errors = forms.errors_place(exc, forms.MappingForm.FIELDS)
                status = exc.status_code
            else:
                return done(request, reverse("web:access_mappings"), "Role mapping added.")
        else:
            status = 400
        context = _mappings_context(request, form=form)
        return _answer(request, "web/access/mappings.html", "web/access/_mapping_form.html", context, status)
    return render(request, "web/access/mappings.html", _mappings_context(request))


@require_http_methods(["GET", "POST"])
@manages_access
@vary_on_headers("HX-Request")
def access_mapping(request: HttpRequest, mapping_id: int) -> HttpResponse:
    client_id = _client_id(request)
    mapping = read_or_404(directory_selectors.role_mapping_get, client_id=client_id, mapping_id=mapping_id)
    form = forms.mapping_form_from(mapping)
    status = 200
    if request.method == "POST":
        form = forms.mapping_form_parse(request.POST)
        if not form.errors:
            try:
                mapping_services.role_mapping_update(mapping=mapping, provider_id=form.provider, **form.to_input())
            except AppError as exc:
                form.errors = forms.errors_place(exc, forms.MappingForm.FIELDS)
                status = exc.status_code
            else:
                return done(request, reverse("web:access_mappings"), "Role mapping saved.")
        else:
            status = 400
    context = {"tab": "mappings", "mapping": mapping, "form": form, **_mapping_options(client_id)}
    return _answer(request, "web/access/mapping.html", "web/access/_mapping_form.html", context, status)


@require_POST
@manages_access
def access_mapping_delete(request: HttpRequest, mapping_id: int) -> HttpResponse:
    mapping = read_or_404(directory_selectors.role_mapping_get, client_id=_client_id(request), mapping_id=mapping_id)
    mapping_services.role_mapping_delete(mapping=mapping)
    return done(
        request,
        reverse("web:access_mappings"),
        "Role mapping deleted; the roles it gave go at the next sync or sign-in.",
    )


@require_POST
@manages_access
def access_sync_start(request: HttpRequest) -> HttpResponse:
    """Sync now: queue a run of the provider's directory (the page then polls it)."""
    raw = (request.POST.get("provider") or "").strip()
    try:
        run = directory_sync_request(
            client_id=_client_id(request), provider_id=int(raw) if raw.isdigit() else 0, requested_by=request.user
        )
    except AppError as exc:
        context = _mappings_context(request, sync_error=exc.message)
        return render(request, "web/access/mappings.html", context, status=exc.status_code)
    return done(request, reverse("web:access_mappings"), f"Directory sync of {run.provider.name} started.")


@require_GET
@manages_access
def access_sync_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run's row: the page polls it while the run is queued or running."""
    run = read_or_404(directory_selectors.sync_run_get, client_id=_client_id(request), run_id=run_id)
    return render(request, "web/access/_sync_run.html", {"run": run, "running": RUNNING})


# --- row policies and their preview ----------------------------------------------------


def _policy_options(client_id: int) -> dict:
    return {
        "entities": ontology_selectors.entities(client_id=client_id),
        "subject_kinds": [k.value for k in SubjectKind],
        "roles": role_list(client_id=client_id),
    }


def _policies_context(request: HttpRequest, **extra) -> dict:
    client_id = _client_id(request)
    return {
        "tab": "policies",
        "policies": policy_selectors.row_policies_list(client_id=client_id),
        "form": forms.PolicyForm(),
        "members": member_access_list(client_id=client_id),
        "metrics": ontology_selectors.metrics(client_id=client_id),
        "granularities": [g.value for g in Granularity],
        **_policy_options(client_id),
        **extra,
    }


@require_http_methods(["GET", "POST"])
@manages_access
@vary_on_headers("HX-Request")
def access_policies(request: HttpRequest) -> HttpResponse:
    """Row policies and the preview; POST adds a policy (its predicate compiled first)."""
    if request.method == "POST":
        form = forms.policy_form_parse(request.POST)
        try:
            policy = policy_services.row_policy_create(client_id=_client_id(request), fields=form.to_input())
        except AppError as exc:
            form.errors = forms.errors_place(exc, forms.PolicyForm.FIELDS)
            context = _policies_context(request, form=form)
            return _answer(
                request, "web/access/policies.html", "web/access/_policy_form.html", context, exc.status_code
            )
        return done(request, reverse("web:access_policies"), f"Row policy {policy.name} added.")
    return render(request, "web/access/policies.html", _policies_context(request))


@require_http_methods(["GET", "POST"])
@manages_access
@vary_on_headers("HX-Request")
def access_policy(request: HttpRequest, policy_id: int) -> HttpResponse:
    client_id = _client_id(request)
    policy = read_or_404(policy_selectors.row_policy_get, client_id=client_id, policy_id=policy_id)
    form = forms.policy_form_from(policy)
    status = 200
    if request.method == "POST":
        form = forms.policy_form_parse(request.POST)
        try:
            policy_services.row_policy_update(client_id=client_id, policy_id=policy.id, changes=form.to_input())
        except AppError as exc:
            form.errors = forms.errors_place(exc, forms.PolicyForm.FIELDS)
            status = exc.status_code
        else:
            return done(request, reverse("web:access_policies"), f"Row policy {form.name} saved.")
    context = {"tab": "policies", "policy": policy, "form": form, **_policy_options(client_id)}
    return _answer(request, "web/access/policy.html", "web/access/_policy_form.html", context, status)


@require_POST
@manages_access
def access_policy_delete(request: HttpRequest, policy_id: int) -> HttpResponse:
    client_id = _client_id(request)
    policy = read_or_404(policy_selectors.row_policy_get, client_id=client_id, policy_id=policy_id)
    policy_services.row_policy_delete(client_id=client_id, policy_id=policy.id)
    return done(request, reverse("web:access_policies"), f"Row policy {policy.name} deleted.")


def _day(raw: str, name: str) -> datetime | None:
    if not raw:
        return None
    day = parse_date(raw) if len(raw) == 10 else None
    if day is None:
        raise AppError(f"{name}: {raw!r} is not a date (YYYY-MM-DD).", code="invalid_range")
    return datetime.combine(day, time(0), tzinfo=UTC)


def _total(result) -> float | None:
    values = [p.value for p in result.series if p.value is not None]
    return sum(values) if values else None


@require_GET
@manages_access
def access_policy_preview(request: HttpRequest) -> HttpResponse:
    """What a member would see: the metric under their row policies next to
    the unrestricted value (apps.calculations.selectors.row_policy_preview,
    as `POST /api/v1/row-policies/preview`). Neither value is recorded."""
    params = request.GET
    context: dict = {"asked": params}
    status = 200
    try:
        user, metric = (params.get("user") or "").strip(), (params.get("metric") or "").strip()
        if not user or not metric:
            raise AppError("Pick a member and a metric to preview.", code="invalid")
        start = _day((params.get("start") or "").strip(), "start")
        end = _day((params.get("end") or "").strip(), "end")
        if start is None or end is None:
            end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
            start = start or end - timedelta(days=30)
        granularity = params.get("granularity") or "day"
        if granularity not in Granularity.__members__.values():
            raise AppError(f"granularity: {granularity!r} is not one of {', '.join(Granularity)}.", code="invalid")
        query = MetricQuery(metric=metric, start=start, end=end, granularity=Granularity(granularity))
        preview = row_policy_preview(client_id=_client_id(request), user=user, query=query)
        restricted = dict((p.bucket, p.value) for p in preview.restricted_result.series)
        context.update(
            preview=preview,
            start=start,
            end=end,
            restricted_total=_total(preview.restricted_result),
            unrestricted_total=_total(preview.unrestricted_result),
            rows=[(p.bucket, restricted.get(p.bucket), p.value) for p in preview.unrestricted_result.series],
        )
    except AppError as exc:
        context["error"] = exc.message
        status = 400 if exc.status_code < 500 else exc.status_code
    return render(request, "web/access/_preview.html", context, status=status)


# --- identity providers and the password-login switch ----------------------------------


def _providers_context(request: HttpRequest, **extra) -> dict:
    client_id = _client_id(request)
    return {
        "tab": "providers",
        "providers": list(provider_list(client_id=client_id)),
        "password_login_enabled": client_password_login_enabled(client_id=client_id),
        **extra,
    }


def _provider_form_context(provider, form) -> dict:
    return {"tab": "providers", "provider": provider, "form": form, "kinds": provider_services.KINDS}


@require_GET
@manages_access
@vary_on_headers("HX-Request")
def access_providers(request: HttpRequest) -> HttpResponse:
    """The client's identity providers and its password-login switch."""
    return render(request, "web/access/providers.html", _providers_context(request))


def _provider_save(request: HttpRequest, provider=None) -> HttpResponse:
    form, secret = forms.provider_form_parse(request.POST)
    try:
        if provider is None:
            saved = provider_services.identity_provider_create(
                client_id=_client_id(request), client_secret=secret, **form.to_input()
            )
        else:
            saved = provider_services.identity_provider_update(
                provider=provider, client_secret=secret, **form.to_input()
            )
    except AppError as exc:
        form.errors = forms.errors_place(exc, forms.ProviderForm.FIELDS)
        context = _provider_form_context(provider, form)
        return _answer(request, "web/access/provider.html", "web/access/_provider_form.html", context, exc.status_code)
    return done(request, reverse("web:access_providers"), f"Identity provider {saved.name} saved.")


@require_http_methods(["GET", "POST"])
@manages_access
@vary_on_headers("HX-Request")
def access_provider_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _provider_save(request)
    return render(request, "web/access/provider.html", _provider_form_context(None, forms.ProviderForm()))


@require_http_methods(["GET", "POST"])
@manages_access
@vary_on_headers("HX-Request")
def access_provider(request: HttpRequest, provider_id: int) -> HttpResponse:
    """Edit a provider. Its client secret is never rendered: blank keeps it."""
    provider = read_or_404(provider_get, client_id=_client_id(request), provider_id=provider_id)
    if request.method == "POST":
        return _provider_save(request, provider)
    context = _provider_form_context(provider, forms.provider_form_from(provider))
    return render(request, "web/access/provider.html", context)


@require_POST
@manages_access
def access_provider_enabled(request: HttpRequest, provider_id: int) -> HttpResponse:
    """Enable or disable a provider (`enabled` = on/off)."""
    provider = read_or_404(provider_get, client_id=_client_id(request), provider_id=provider_id)
    enabled = request.POST.get("enabled") == "on"
    try:
        provider_services.identity_provider_update(provider=provider, is_enabled=enabled)
    except AppError as exc:
        context = _providers_context(request, refusal=exc.message)
        return render(request, "web/access/providers.html", context, status=exc.status_code)
    state = "enabled" if enabled else "disabled"
    return done(request, reverse("web:access_providers"), f"Identity provider {provider.name} {state}.")


@require_POST
@manages_access
def access_provider_delete(request: HttpRequest, provider_id: int) -> HttpResponse:
    provider = read_or_404(provider_get, client_id=_client_id(request), provider_id=provider_id)
    provider_services.identity_provider_delete(provider=provider)
    return done(request, reverse("web:access_providers"), f"Identity provider {provider.name} deleted.")


@require_POST
@manages_access
def access_password_login(request: HttpRequest) -> HttpResponse:
    """Switch password sign-in on or off for the client's members."""
    enabled = client_password_login_set(client_id=_client_id(request), enabled=request.POST.get("enabled") == "on")
    state = "on" if enabled else "off: members sign in through the identity provider"
    return done(request, reverse("web:access_providers"), f"Password sign-in is {state}.")
