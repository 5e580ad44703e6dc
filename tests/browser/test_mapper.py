"""The Data Mapper page (docs/sources.md, "The Data Mapper page") in Chromium
against daphne, on a real PostgreSQL policy table (POL_ID, STAT_CD 'A'/'T',
EFF_DT): an analyst binds POL_ID and EFF_DT by drag and drop and STAT_CD by
keyboard, maps A -> Active and T -> Terminated in the value-map editor,
watches the validation go from errors to ok, dry-runs the mapping, saves it
(the draft job is published), and the API reads back the mapping the page
showed. At 390 px the trees
stack, nothing overflows, and a tap on a field then on a slot binds."""

import json

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient

from apps.core.tests.factories import MembershipFactory
from apps.web.tests.mapper_fixtures import policy_source
from tests.browser.conftest import PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_analyst_maps_a_policy_table_by_drag_and_drop_and_keyboard(signed_in_page, asgi_server, pg_source):
    analyst = MembershipFactory(role="analyst", is_default=True, client__name="Acme Insurance")
    policy_source(analyst.client_id, pg_source)
    page = signed_in_page(asgi_server["url"], analyst.user, path="/sources/jobs/policies/mapping/")
    state = page.get_by_test_id("validation-state")
    expect(state).to_have_text("errors")
    expect(page.locator("h1 [data-draft]")).to_have_text("Draft")
    expect(page.locator(".attribute.unmapped-required")).to_have_count(2)

    # Drag and drop: POL_ID -> policy_id, EFF_DT -> snapshot_date (native HTML5 drag events).
    page.get_by_test_id("field-POL_ID").drag_to(page.get_by_test_id("slot-policy_id"))
    expect(page.get_by_test_id("chip-policy_id")).to_have_text("POL_ID")
    page.get_by_test_id("field-EFF_DT").drag_to(page.get_by_test_id("slot-snapshot_date"))
    expect(page.get_by_test_id("chip-snapshot_date")).to_have_text("EFF_DT")
    expect(state).to_have_text("ok")
    expect(page.locator(".attribute.unmapped-required")).to_have_count(0)

    # Keyboard: pick STAT_CD with Enter, bind it with Enter on the status slot.
    page.get_by_test_id("field-STAT_CD").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("field-STAT_CD")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("slot-status").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("chip-status")).to_have_text("STAT_CD")
    expect(state).to_have_text("ok, with warnings")
    expect(page.get_by_test_id("issues-status")).to_contain_text("neither in the value map nor allowed: A, T.")

    # The value-map editor: the sample's codes, each mapped to an allowed value.
    page.locator('select[data-vm-attr="status"][data-vm-from="A"]').select_option("Active")
    expect(page.get_by_test_id("issues-status")).to_contain_text("allowed: T.")
    page.locator('select[data-vm-attr="status"][data-vm-from="T"]').select_option("Terminated")
    expect(state).to_have_text("ok")
    expect(page.get_by_test_id("coverage-status")).to_have_text("3 mapped, 0 rejected of 3 sample rows")

    # The dry run: every row stored, the codes as the entity's values.
    page.get_by_role("button", name="Try on 100 rows").click()
    expect(page.get_by_test_id("dry-run-summary")).to_have_text("3 rows read: 3 would be stored, 0 rejected.")
    assert sorted(page.locator('[data-stored="status"]').all_inner_texts()) == ["Active", "Active", "Terminated"]
    shown = json.loads(page.get_by_test_id("mapping-json").text_content())
    assert shown["value_maps"] == {"status": {"A": "Active", "T": "Terminated"}}
    screenshot(page, "mapper-desktop")

    # Save; the API reads back what the page showed.
    with page.expect_navigation():
        page.get_by_role("button", name="Save mapping").click()
    expect(page.locator("#toasts")).to_contain_text("The mapping of job policies is saved: the job is published")
    expect(page.locator("h1 [data-draft]")).to_have_count(0)
    api = APIClient()
    api.force_authenticate(analyst.user)
    answer = api.get("/api/v1/sources/jobs/policies/").json()
    saved = answer["mapping"]
    assert answer["draft"] is False and answer["mapping_problems"] == {}
    assert saved == shown
    assert shown["fields"] == {
        "snapshot_date": {"source": "EFF_DT"},
        "policy_id": {"source": "POL_ID"},
        "status": {"source": "STAT_CD"},
    }
    assert json.loads(page.get_by_test_id("mapping-json").text_content()) == saved

    # 390 px: the trees stack, the chips stay inside their slots, nothing scrolls sideways.
    page.set_viewport_size(PHONE)
    source_box = page.get_by_test_id("source-tree").bounding_box()
    target_box = page.get_by_test_id("attr-policy_id").bounding_box()
    assert source_box["y"] + source_box["height"] <= target_box["y"]
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    chip, slot = page.get_by_test_id("chip-status").bounding_box(), page.get_by_test_id("slot-status").bounding_box()
    assert slot["x"] <= chip["x"] and chip["x"] + chip["width"] <= slot["x"] + slot["width"]
    page.get_by_test_id("unbind-status").click()
    expect(page.get_by_test_id("slot-status")).to_contain_text("Drop a source field here")
    # On a phone the stacked trees are far apart: a tap picks the field, a tap on the slot binds it.
    page.get_by_test_id("field-STAT_CD").click()
    page.get_by_test_id("slot-status").click()
    expect(page.get_by_test_id("chip-status")).to_have_text("STAT_CD")
    expect(state).to_have_text("ok")  # the value map was kept through the unbinding
    screenshot(page, "mapper-phone")
    assert page.js_errors == []
