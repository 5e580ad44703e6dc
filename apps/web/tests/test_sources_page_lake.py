"""The Data Source page's file connection reading a lakehouse folder: made
and edited with its location, folder and target (an edit keeps it a lake
connection), a hostile folder refused next to its field, the test naming the
files it sees."""

import html

import pytest
from django.urls import reverse

from apps.connectors.models import ConnectionProfile
from apps.core.lakehouse import lakehouse_from_settings

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _form(**changes) -> dict:
    return {"code": "claims", "name": "Claims", "kind": "file", "location": "lake", "folder": "claims/2026",
            "target": "", "delimiter": ";", **changes}  # fmt: skip


def test_a_lake_file_connection_is_made_tested_and_edited_on_the_page(console, member, settings, tmp_path):
    settings.LAKEHOUSE_TARGETS = {"default": {"BACKEND": "apps.core.lakehouse.local.LocalLakehouse",
                                              "ROOT": str(tmp_path)}}  # fmt: skip
    fields = html.unescape(console.get(reverse("web:source_connection_new"), {"kind": "file"}, **HX).content.decode())
    assert 'name="location"' in fields and 'name="folder"' in fields and 'name="target"' in fields

    refused = console.post(reverse("web:source_connection_new"), _form(folder="../other"), **HX)
    text = html.unescape(refused.content.decode())
    assert 'data-field="folder"' in text and 'settings.folder must not contain ".."' in text
    assert not ConnectionProfile.objects.exists()

    made = console.post(reverse("web:source_connection_new"), _form(), **HX)
    assert made.status_code in (200, 302), made.content[:500]
    profile = ConnectionProfile.objects.get(client_id=member.client_id, code="claims")
    assert profile.settings == {"location": "lake", "folder": "claims/2026", "delimiter": ";"}

    lakehouse_from_settings().write_data(f"sources/{member.client_id}/claims/2026/a.csv", b"x;y\n1;2\n")
    tested = html.unescape(console.post(reverse("web:source_connection_test", args=["claims"]), **HX).content.decode())
    assert 'data-test-outcome="ok"' in tested and "1 file(s) in sources/" in tested

    page = html.unescape(console.get(reverse("web:source_connection", args=["claims"])).content.decode())
    assert 'value="claims/2026"' in page and '<option value="lake" selected>' in page
    edited = console.post(reverse("web:source_connection", args=["claims"]), _form(name="Renamed", folder="claims"),
                          **HX)  # fmt: skip
    assert edited.status_code in (200, 302), edited.content[:500]
    profile.refresh_from_db()
    assert profile.name == "Renamed" and profile.settings["location"] == "lake"
    assert profile.settings["folder"] == "claims"
