"""A walk through every page of the console in one browser context, for the
security tests (test_hostile_strings.py, test_security_headers.py): each page
is opened with an init script that records Content-Security-Policy
violations, the page's JavaScript errors and dialogs are collected, and its
charts are hovered so that their HTML tooltips render.

`console_paths()` lists the pages (apps/web/urls*.py, the API docs, the
admin) for one dataset; `tour()` opens them and returns what each showed."""

import re
from dataclasses import dataclass, field

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from reversion.models import Version

INIT_SCRIPT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile
                    + ":" + e.lineNumber + " " + (e.sample || ""));
});
"""
# Regions HTMX loads after the page (widgets, trend chart, health panel,
# KPI tabs): the tour waits for them before it looks.
SETTLE = "() => !document.querySelector('[aria-busy=\"true\"], .htmx-request')"


@dataclass
class Visit:
    path: str
    status: int
    headers: dict
    text: str = ""
    xss: object = None
    csp: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    dialogs: list = field(default_factory=list)
    tooltips: list = field(default_factory=list)


def console_paths(*, entity: str, metric: str, run_id: int, query: str = "") -> list[str]:
    """Every console page for a client holding `entity`, `metric` (in the
    cart or not) and a simulation run: full pages and the partials HTMX loads."""
    from apps.ontology.models import EntityDefinition

    versions = Version.objects.get_for_object(EntityDefinition.objects.get(code=entity))
    version_id = versions.last().pk if versions.exists() else None
    paths = [
        "/",
        f"/?metric={metric}",
        "/kpis/",
        f"/kpis/?metric={metric}",
        f"/kpis/?metric={metric}&group=domain",
        *[f"/kpis/{metric}/?tab={tab}" for tab in ("overview", "formula", "objects", "benchmarks", "metadata")],
        "/ontology/",
        f"/ontology/entities/{entity}/",
        f"/ontology/entities/{entity}/history/",
        "/ontology/entities/new/",
        "/ontology/relationships/new/",
        "/objects/",
        "/objects/required/",
        "/simulation/",
        f"/simulation/runs/{run_id}/",
        "/sources/",
        *[f"/sources/connections/new/?kind={kind}" for kind in ("postgresql", "rest", "graphql", "file")],
        "/api/v1/docs/",
    ]
    if version_id:
        paths.append(f"/ontology/entities/{entity}/history/{version_id}/")
    if query:
        paths += [f"/kpis/?q={query}", f"/objects/?q={query}"]
    return paths


def admin_paths(objects: list) -> list[str]:
    """The admin's index, and the list and change page of each object's model."""
    paths = ["/admin/"]
    for obj in objects:
        changelist = f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/"
        paths += [changelist, f"{changelist}{obj.pk}/change/"]
    return paths


def _hover_charts(page) -> list[str]:
    """Hover the middle of every drawn chart (ECharts renders its tooltip as
    HTML, inside the chart's box) and return the text of each tooltip shown."""
    tooltips = []
    for chart in page.locator("[data-chart-ready]:not([data-sparkline]), #trend-chart").all():
        box = chart.bounding_box() if chart.is_visible() else None
        if not box or box["width"] < 40:
            continue
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
        try:
            chart.locator("div").filter(has_text=re.compile(r"\S")).last.wait_for(timeout=3000)
        except PlaywrightTimeout:
            continue
        tooltips.append(chart.inner_text())
    return tooltips


def tour(page, base: str, paths: list[str]) -> list[Visit]:
    """Open each path in `page` (whose context carries INIT_SCRIPT) and record what it did."""
    visits = []
    for path in paths:
        errors: list[str] = []
        dialogs: list[str] = []

        def on_error(text, errors=errors):
            errors.append(text)

        def on_dialog(dialog, dialogs=dialogs):
            dialogs.append(dialog.message)
            dialog.dismiss()

        def on_console(msg, errors=errors):
            # Pages without an icon of their own (the admin) ask for /favicon.ico, which we do not serve.
            if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):
                errors.append(f"{msg.text} ({msg.location.get('url', '')})")

        page.on("pageerror", on_error)
        page.on("console", on_console)
        page.on("dialog", on_dialog)
        response = page.goto(base + path, wait_until="load")
        page.wait_for_function(SETTLE, timeout=15000)
        page.wait_for_load_state("networkidle")
        tooltips = _hover_charts(page)
        page.wait_for_function(SETTLE, timeout=15000)
        visit = Visit(
            path=path,
            status=response.status,
            headers=response.headers,
            # What a person reads: the text, and what the form fields hold.
            text=page.locator("body").inner_text()
            + "\n".join(page.evaluate("Array.from(document.querySelectorAll('input, textarea'), e => e.value)")),
            xss=page.evaluate("window.__xss"),
            csp=page.evaluate("window.__csp || []"),
            errors=list(errors),
            dialogs=list(dialogs),
            tooltips=tooltips,
        )
        page.remove_listener("pageerror", on_error)
        page.remove_listener("console", on_console)
        page.remove_listener("dialog", on_dialog)
        visits.append(visit)
    return visits
