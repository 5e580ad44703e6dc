"""The ontology pages in a real browser (Playwright driving Debian's Chromium):
build an entity in the studio (an inline error, fixed), relate it, revert a
change, see the required objects of a KPI cart, browse and search the object
model. Screenshots go to tests/artifacts/."""

import re
from pathlib import Path

import pytest

from apps.core.tests.factories import MembershipFactory
from apps.ontology import selectors
from apps.ontology.services import relationships
from apps.web.services import cart_add
from apps.web.tests.ontology_fixtures import insurer_define

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser):
    """A wider window than the shared one: the studio's diagram and form side by side."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def _sign_in(page, base_url: str, user, next_path: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}{next_path}")


def _shot(target, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if hasattr(target, "goto"):
        target.evaluate("window.scrollTo(0, 0)")  # sticky layout parts belong at the top of a full-page shot
        target.screenshot(path=str(ARTIFACTS / name), full_page=True)
    else:
        target.screenshot(path=str(ARTIFACTS / name))


def test_build_an_entity_relate_it_and_see_what_the_cart_needs(page, browser, asgi_server):
    member = MembershipFactory(is_default=True, role="analyst", client__name="Acme Health")
    insurer_define(member.client_id)
    base = asgi_server["url"]  # the production server: static files and the live status over /ws/
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, base, member.user, "/ontology/")

    # -- the studio: existing entities listed and drawn --
    assert page.locator('[data-entity="policy_snapshot"]').is_visible()
    page.locator('#studio-diagram [data-node="entity:member"]').wait_for()

    # -- build an entity --
    page.get_by_role("link", name="New entity").click()
    page.get_by_label("Code", exact=True).wait_for()
    page.get_by_label("Code", exact=True).fill("claim")
    page.get_by_label("Name", exact=True).fill("Claim")
    page.get_by_label("Description").fill("A claim a member files against a policy.")
    page.get_by_label("Attribute 1 code").fill("filed_on")
    page.get_by_label("Time attribute").fill("filed_on")
    page.get_by_role("button", name="+ Add attribute").click()
    page.get_by_label("Attribute 2 code").fill("claim_id")
    page.get_by_label("Attribute 2 required").check()
    page.get_by_role("button", name="+ Add attribute").click()
    page.get_by_label("Attribute 3 code").fill("claim_id")  # a mistake: twice the same code
    page.get_by_role("button", name="+ Add attribute").click()
    page.get_by_label("Attribute 4 code").fill("amount")
    page.get_by_label("Attribute 4 type").select_option("decimal")
    page.get_by_role("button", name="+ Add attribute").click()
    page.get_by_role("button", name="Remove attribute 5").click()
    assert page.locator("[data-attr-rows] tr").count() == 4
    page.get_by_role("button", name="Create entity").click()

    error = page.locator("#attr-2-code-error")
    error.wait_for()
    assert "appears twice" in error.inner_text()
    assert page.get_by_label("Attribute 3 code").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Attribute 4 type").input_value() == "decimal"  # kept as typed
    assert not selectors.entities(client_id=member.client_id, codes=["claim"])

    page.get_by_label("Attribute 3 code").fill("member_id")
    page.get_by_label("Attribute 3 enum values").fill("")
    page.get_by_role("button", name="Create entity").click()
    page.wait_for_url(re.compile(r"/ontology/entities/claim/\?saved=1$"))
    assert "Saved." in page.locator("#entity-editor").inner_text()
    assert page.locator('#entity-list [data-entity="claim"]').is_visible()
    page.locator('#studio-diagram [data-node="entity:claim"]').wait_for()
    claim = selectors.entity(client_id=member.client_id, code="claim")
    assert [a.code for a in claim.attributes] == ["filed_on", "claim_id", "member_id", "amount"]

    # -- relate it --
    form = page.locator("#relationship-form")
    form.get_by_label("From entity").select_option("claim")
    form.locator('#rel-source-attribute option[value="member_id"]').wait_for(state="attached")
    form.get_by_label("Key attribute (from)").select_option("member_id")
    form.get_by_label("Cardinality").select_option("many_to_one")
    form.get_by_label("To entity").select_option("member")
    form.locator('#rel-target-attribute option[value="member_id"]').wait_for(state="attached")
    form.get_by_label("Key attribute (to)").select_option("member_id")
    form.get_by_label("Relationship code").fill("claim_member")
    form.get_by_role("button", name="Add relationship").click()
    page.wait_for_url(re.compile(r"\?relationship=claim_member"))
    assert page.locator('tr[data-relationship="claim_member"]').is_visible()
    page.locator('#studio-diagram .edge[data-kind="many_to_one"]').nth(1).wait_for()
    _shot(page, "ontology_studio.png")

    # -- change it, then revert through the history (confirm dialog) --
    page.goto(f"{base}/ontology/entities/claim/")
    page.get_by_label("Name", exact=True).fill("Insurance claim")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(r"/ontology/entities/claim/\?saved=1$"))
    page.locator("#entity-editor").get_by_role("link", name="History").click()
    page.locator("#entity-history").wait_for()
    assert page.locator("[data-version]").count() == 2
    page.get_by_role("link", name="Compare with current").click()
    assert "Insurance claim" in page.locator("#entity-diff").inner_text()
    assert page.locator('#entity-list [data-entity="claim"]').get_attribute("aria-current") == "true"
    _shot(page, "ontology_history.png")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revert to this version").click()
    page.wait_for_url(re.compile(r"reverted="))
    assert page.locator("[data-version]").count() == 3
    assert selectors.entity(client_id=member.client_id, code="claim").name == "Claim"

    # -- the cart's required objects --
    for code in ("start_count", "new_count", "growth_rate"):
        cart_add(user_id=member.user_id, client_id=member.client_id, metric_code=code)
    page.goto(f"{base}/objects/required/")
    graph = page.locator("#required-diagram")
    graph.locator('[data-node="entity:policy_snapshot"]').wait_for()
    assert graph.locator(".node.metric").count() == 3
    assert graph.locator(".node.attribute").count() == 4
    assert (
        page.locator('li[data-entity="policy_snapshot"] a').get_attribute("href") == "/objects/#entity-policy_snapshot"
    )
    _shot(page, "required_objects.png")

    # -- browse and search the object model --
    relationships.relationship_create(
        client_id=member.client_id,
        data=relationships.RelationshipInput(
            code="member_claims",
            source_entity="member",
            target_entity="claim",
            kind="composition",
            source_attribute="member_id",
            target_attribute="member_id",
        ),
    )
    page.goto(f"{base}/objects/")
    uml = page.locator("#uml-diagram")
    uml.locator('[data-node="entity:claim"]').wait_for()
    assert uml.locator('.edge[data-kind="many_to_one"]').count() == 2
    composition = uml.locator('.edge[data-kind="composition"] path')
    assert "diamond-filled" in composition.get_attribute("marker-start")
    assert "arrow" in uml.locator('.edge[data-kind="many_to_one"] path').first.get_attribute("marker-end")
    page.get_by_label("Search entities, attributes and metrics").fill("holds")
    page.locator("#search-results mark").first.wait_for()
    assert "Who holds the policy" in page.locator("#search-results").inner_text()
    _shot(page, "objects.png")
    _shot(page.locator("#uml-diagram").locator(".."), "uml.png")
    uml.locator('[data-node="entity:member"]').click()
    page.wait_for_url(re.compile(r"/objects/#entity-member$"))
    assert page.locator("#entity-member").is_visible()
    assert errors == []

    # -- one page in dark mode --
    dark = browser.new_context(color_scheme="dark", viewport={"width": 1360, "height": 900})
    dark_page = dark.new_page()
    _sign_in(dark_page, base, member.user, "/ontology/entities/claim/")
    dark_page.locator('#studio-diagram [data-node="entity:claim"]').wait_for()
    _shot(dark_page, "ontology_studio_dark.png")
    dark.close()
