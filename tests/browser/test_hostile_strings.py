"""No one's text runs as script in another person's browser. Every field a
user types and a page shows (client, user, entity, attribute and enum value,
metric name/description/unit/domain, value chain, threshold rule, webhook,
simulation run, search boxes, ?next=) holds markup built to break out of
HTML, attributes and <script> blocks; the test then opens every page of the
console and the admin pages of those objects in Debian's Chromium as that
client's administrator (a superuser), hovers the charts (ECharts tooltips
are HTML), and asserts:

- no script of theirs ran (`window.__xss` unset, no dialog);
- no Content-Security-Policy violation either: the policy would block an
  injected handler, but an injection that reached the page at all is a bug;
- the hostile text is on the page as text, where the page shows it."""

from datetime import date, timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.calculations.thresholds.services import threshold_rule_create
from apps.core.tests.factories import ClientFactory, MembershipFactory, UserFactory
from apps.messaging.webhooks import subscription_create
from apps.ontology.services import entities, metrics
from apps.ontology.services.data_load import entity_rows_load
from apps.simulation.models import SimulationRun
from apps.web.services import cart_add
from tests.browser.page_tour import INIT_SCRIPT, admin_paths, console_paths, tour

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases=["default", "readonly"])]


def hostile(tag: str, limit: int = 200) -> str:
    """Markup that runs `window.__xss = tag` (or a dialog) wherever it is not
    escaped: after a <script> block, in an attribute, as a URL, as a template."""
    text = (
        f"{tag}</script><img src=x onerror=window.__xss='{tag}'>"
        f'"><svg onload=alert(1)>'
        f"'><iframe src=javascript:alert(2)>{{{{7*7}}}}"
    )
    return text[:limit]


TAGS = {
    "client": "XC",
    "user": "XU",
    "entity_name": "XEN",
    "entity_description": "XED",
    "attribute_name": "XAN",
    "attribute_description": "XAD",
    "metric_name": "XMN",
    "metric_description": "XMD",
    "metric_unit": "XMU",
    "metric_domain": "XMO",
    "chain_name": "XVN",
    "chain_industry": "XVI",
    "rule_name": "XRN",
    "rule_message": "XRM",
    "webhook": "XWD",
    "run_error": "XSE",
}
ENUM = (hostile("XE1", 63), hostile("XE2", 63))


def _define(client_id: int, user) -> dict:
    entity = entities.entity_create(
        client_id=client_id,
        user=user,
        data=entities.EntityInput(
            code="claim",
            name=hostile(TAGS["entity_name"]),
            description=hostile(TAGS["entity_description"]),
            kind="time_series",
            time_attribute="day",
            attributes=[
                entities.AttributeInput("day", "date", nullable=False),
                entities.AttributeInput("claim_id", "string", nullable=False),
                entities.AttributeInput(
                    "channel",
                    "string",
                    enum_values=ENUM,
                    name=hostile(TAGS["attribute_name"]),
                    description=hostile(TAGS["attribute_description"]),
                ),
            ],
        ),
    )
    today = timezone.now().date()
    rows = [
        {"day": (today - timedelta(days=back)).isoformat(), "claim_id": f"c{n}", "channel": ENUM[n % 2]}
        for back in range(5)
        for n in range(3 + back)
    ]
    entity_rows_load(entity=entity, rows=rows)
    metric = metrics.metric_create(
        client_id=client_id,
        user=user,
        data=metrics.MetricInput(
            code="claims",
            name=hostile(TAGS["metric_name"]),
            entity="claim",
            formula="COUNT(claim_id)",
            description=hostile(TAGS["metric_description"]),
            unit=hostile(TAGS["metric_unit"], 50),
            domain=hostile(TAGS["metric_domain"], 50),
        ),
    )
    # A second version of the entity, so its history has a diff to show.
    entities.entity_update(
        entity=entity,
        user=user,
        data=entities.EntityInput(
            code="claim", name=hostile(TAGS["entity_name"]), description=hostile(TAGS["entity_description"]) + " v2",
            kind="time_series", time_attribute="day",
            attributes=[
                entities.AttributeInput("day", "date", nullable=False),
                entities.AttributeInput("claim_id", "string", nullable=False),
                entities.AttributeInput("channel", "string", enum_values=ENUM, name=hostile(TAGS["attribute_name"]),
                                        description=hostile(TAGS["attribute_description"])),
            ],
        ),
    )  # fmt: skip
    return {"entity": entity, "metric": metric}


@pytest.fixture
def hostile_client():
    client = ClientFactory(code="hostile", name=hostile(TAGS["client"], 200))
    user = UserFactory(username=hostile(TAGS["user"], 150), is_staff=True, is_superuser=True)
    member = MembershipFactory(user=user, client=client, role="admin", is_default=True)
    MembershipFactory(user=user, role="admin", client__code="other", client__name="Other client")
    defined = _define(client.pk, user)
    api = APIClient()
    api.force_authenticate(user)
    # Daily history for the dashboard's widgets and trend (a computation records it).
    end = timezone.now().date() + timedelta(days=1)
    window = {"start": (end - timedelta(days=10)).isoformat(), "end": end.isoformat()}
    answer = api.get("/api/v1/metrics/claims", window)
    assert answer.status_code == 200, answer.content
    chain = {
        "code": "claims_chain",
        "name": hostile(TAGS["chain_name"]),
        "industry": hostile(TAGS["chain_industry"], 100),
        "metrics": ["claims"],
    }
    assert api.post("/api/v1/ontology/value-chains/", chain, format="json").status_code == 201
    rule = threshold_rule_create(
        client_id=client.pk, name=hostile(TAGS["rule_name"]), metric="claims", operator=">", threshold=1,
        webhook_url="http://127.0.0.1:9/hook", message=hostile(TAGS["rule_message"]).replace("{", "").replace("}", ""),
    )  # fmt: skip
    subscription = subscription_create(
        client_id=client.pk, topic_pattern="metric.*", webhook_url="http://127.0.0.1:9/events",
        description=hostile(TAGS["webhook"]),
    ).subscription  # fmt: skip
    run = SimulationRun.objects.create(
        client=client, scenario="health_retention", start=date(2026, 1, 1), end=date(2026, 2, 1), status="failed",
        error=hostile(TAGS["run_error"]), params={"note": hostile("XSP")}, created_by=user,
        summary={"rows": {hostile("XSR", 60): 3}, "ontology": {"created": ["metric claims"]}},
    )  # fmt: skip
    cart_add(user_id=user.pk, client_id=client.pk, metric_code="claims")
    return {"member": member, "run": run, "admin_objects": [client, member, user, defined["entity"], defined["metric"],
                                                            rule, subscription, run]}  # fmt: skip


def test_no_hostile_string_runs_on_any_page(browser, asgi_server, hostile_client):
    from django.conf import settings
    from django.test import Client

    base = asgi_server["url"]
    member = hostile_client["member"]
    django_client = Client()
    django_client.force_login(member.user)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": base,
                          "value": django_client.cookies[settings.SESSION_COOKIE_NAME].value}])  # fmt: skip
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    probe = quote(hostile("XQ", 120))
    paths = [
        *console_paths(entity="claim", metric="claims", run_id=hostile_client["run"].pk, query=probe),
        "/?metric=claims&group_by=channel",
        f"/?metric={probe}",
        *admin_paths(hostile_client["admin_objects"]),
    ]
    try:
        visits = tour(page, base, paths)
        context.clear_cookies()
        visits += tour(page, base, [f"/accounts/login/?next={probe}"])
    finally:
        context.close()

    shown: dict[str, list[str]] = {tag: [] for tag in (*TAGS.values(), "XE1", "XE2", "XQ")}
    for visit in visits:
        assert visit.status < 500, visit.path
        assert visit.xss is None, f"{visit.path}: script of a user ran ({visit.xss})"
        assert visit.dialogs == [], f"{visit.path}: a user's script opened a dialog"
        assert visit.csp == [], f"{visit.path}: markup of a user reached the page: {visit.csp}"
        for tag in shown:
            if f"{tag}</script><img src=x onerror=window.__xss='{tag}'>" in visit.text:
                shown[tag].append(visit.path)
    # Chart tooltips (HTML made by ECharts) name the hostile metric and enum values as text.
    tooltips = "\n".join(tip for visit in visits for tip in visit.tooltips)
    for tag in ("XMN", "XE1"):
        assert f"{tag}</script><img src=x onerror=window.__xss='{tag}'>" in tooltips, (tag, tooltips[:500])
    # Each hostile string is shown, as the text typed, somewhere.
    missing = [tag for tag, where in shown.items() if not where]
    assert missing == [], f"never shown as text: {missing}"
