"""The console's layout tags. The navigation is built here, not with `{% url %}`
in the template, because the console's areas arrive one at a time: a section
whose URL name does not resolve yet is skipped instead of breaking every page."""

from dataclasses import dataclass

from django import template
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

register = template.Library()


@dataclass(frozen=True)
class NavSection:
    """One entry of the main navigation: `url_name` is reversed at render time."""

    label: str
    url_name: str
    icon: str  # a name of the inline icon set in base.html (`#i-<icon>`)
    staff_only: bool = False
    permission: str = ""  # shown only to members whose role has it in the current client
    prefix_match: bool = True  # "current" for every URL under it, not just itself


SECTIONS: tuple[NavSection, ...] = (
    NavSection("Dashboard", "web:home", "home", prefix_match=False),
    NavSection("KPIs", "web:kpis", "kpi"),
    NavSection("Ontology", "web:ontology_studio", "ontology"),
    NavSection("Objects", "web:objects", "objects"),
    NavSection("Simulation", "web:simulation", "simulation"),
    NavSection("Sources", "web:sources", "sources", permission="manage_sources"),
    NavSection("Access", "web:access", "access", permission="manage_access"),
    NavSection("API docs", "swagger-ui", "docs"),
    NavSection("Admin", "admin:index", "admin", staff_only=True),
)


@dataclass(frozen=True)
class NavLink:
    label: str
    href: str
    icon: str
    current: bool


def nav_links(
    request: HttpRequest | None, *, is_staff: bool, permissions: frozenset[str] = frozenset()
) -> list[NavLink]:
    """The sections the user may see (staff; `permissions`: those of their
    role in the console's client) whose URL resolves, the one holding the
    current path marked current (longest matching prefix wins, so `/` is the
    dashboard only, not every page)."""
    path = request.path if request is not None else ""
    links: list[tuple[NavSection, str]] = []
    for section in SECTIONS:
        if section.staff_only and not is_staff:
            continue
        if section.permission and section.permission not in permissions:
            continue
        try:
            links.append((section, reverse(section.url_name)))
        except NoReverseMatch:
            continue
    best = ""
    for section, href in links:
        matches = path == href or (section.prefix_match and href != "/" and path.startswith(href))
        if matches and len(href) > len(best):
            best = href
    return [NavLink(section.label, href, section.icon, current=bool(best) and href == best) for section, href in links]


@register.inclusion_tag("web/partials/console_nav.html", takes_context=True)
def console_nav(context: template.Context) -> dict:
    """`{% console_nav %}`: the main navigation of the console."""
    request = context.get("request")
    user = context.get("user")
    access = context.get("console_client")
    permissions = access.permissions if access is not None else frozenset()
    return {"links": nav_links(request, is_staff=bool(user and user.is_staff), permissions=permissions)}


@register.simple_tag
def console_url(name: str) -> str:
    """`{% console_url "web:kpis" as url %}`: the URL of a console page, or ""
    while that page does not exist yet (the template then leaves the link out)."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""
