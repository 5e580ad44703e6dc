"""Sensitive artifacts (issue #17, item 9): stored encrypted, readable through
an API for the client's administrators only, rewrapped by the rotation."""

import base64
import hashlib
import os
from io import BytesIO, StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.core.artifacts import CONTENT_PURPOSE, ArtifactTooLarge, artifact_store
from apps.core.crypto import secret_decrypt_bytes
from apps.core.models import SensitiveArtifact
from apps.core.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/secure-artifacts/"
CREDENTIALS = b'{"user": "svc_loader", "password": "hunter2-\xc3\xa9"}\n' + bytes(range(256))


def _api(membership) -> APIClient:
    api = APIClient()
    api.force_authenticate(membership.user)
    return api


@pytest.fixture
def admin():
    return MembershipFactory(role="admin", is_default=True)


def _upload(api, data=CREDENTIALS, name="warehouse credentials.json", content_type="application/json"):
    return api.post(URL, {"file": SimpleUploadedFile(name, data, content_type=content_type)}, format="multipart")


def test_an_admin_stores_a_file_encrypted_and_reads_it_back(admin):
    api = _api(admin)
    response = _upload(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "warehouse credentials.json" and body["size"] == len(CREDENTIALS)
    assert body["sha256"] == hashlib.sha256(CREDENTIALS).hexdigest() and "content" not in body

    stored = SensitiveArtifact.objects.get(pk=body["id"])
    assert b"hunter2" not in stored.content_encrypted.encode() and "hunter2" not in stored.content_encrypted
    assert stored.content_encrypted.startswith("v2:")
    assert secret_decrypt_bytes(stored.content_encrypted, purpose=CONTENT_PURPOSE) == CREDENTIALS

    assert [a["id"] for a in api.get(URL).json()["results"]] == [body["id"]]
    assert api.get(f"{URL}{body['id']}/").json()["sha256"] == body["sha256"]
    download = api.get(f"{URL}{body['id']}/content/")
    assert download.status_code == 200 and download.content == CREDENTIALS
    assert download["Content-Type"] == "application/json"
    assert download["Cache-Control"] == "no-store"
    assert download["Content-Disposition"] == "attachment; filename*=UTF-8''warehouse%20credentials.json"

    assert api.delete(f"{URL}{body['id']}/").status_code == 204
    assert not SensitiveArtifact.objects.exists()


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_only_administrators_list_read_or_store(admin, role):
    artifact_id = _upload(_api(admin)).json()["id"]
    other = _api(MembershipFactory(role=role, client=admin.client, is_default=True))
    for response in (
        other.get(URL),
        other.get(f"{URL}{artifact_id}/"),
        other.get(f"{URL}{artifact_id}/content/"),
        other.delete(f"{URL}{artifact_id}/"),
        _upload(other),
    ):
        assert response.status_code == 403, response.content
        assert b"hunter2" not in response.content
    assert APIClient().get(f"{URL}{artifact_id}/content/").status_code == 401
    assert SensitiveArtifact.objects.count() == 1


def test_another_clients_artifact_is_a_404(admin):
    artifact_id = _upload(_api(admin)).json()["id"]
    stranger = _api(MembershipFactory(role="admin", is_default=True))  # admin of another client
    assert stranger.get(f"{URL}{artifact_id}/content/").status_code == 404
    assert stranger.delete(f"{URL}{artifact_id}/").status_code == 404
    assert stranger.get(URL).json()["results"] == []
    assert stranger.get(f"{URL}not-a-number/").status_code == 404


def test_bad_uploads_are_4xx_that_say_why(admin, settings):
    api = _api(admin)
    missing = api.post(URL, {}, format="multipart")
    assert missing.status_code == 400 and "'file'" in missing.json()["error"]["message"]
    settings.AE_ARTIFACT_MAX_BYTES = 100
    too_large = _upload(api, data=b"x" * 101)
    assert too_large.status_code == 413 and "AE_ARTIFACT_MAX_BYTES" in too_large.json()["error"]["message"]
    assert _upload(api, data=b"x" * 100).status_code == 201


class _Upload:
    """A file as an upload hands it over: a declared size and a read that counts the bytes taken."""

    def __init__(self, data: bytes, size: int | None) -> None:
        self.stream = BytesIO(data)
        self.size = size
        self.taken = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.stream.read(n)
        self.taken += len(chunk)
        return chunk


def test_a_file_over_the_limit_is_refused_before_it_is_read(admin, settings):
    settings.AE_ARTIFACT_MAX_BYTES = 100
    declared = _Upload(b"x" * 10_000, size=10_000)
    with pytest.raises(ArtifactTooLarge):
        artifact_store(client_id=admin.client_id, name="big.bin", content=declared)
    assert declared.taken == 0  # refused by its declared size
    undeclared = _Upload(b"x" * 10_000, size=None)
    with pytest.raises(ArtifactTooLarge):
        artifact_store(client_id=admin.client_id, name="big.bin", content=undeclared)
    assert undeclared.taken == 101  # one byte past the limit, never the whole file
    fits = _Upload(b"x" * 100, size=100)
    assert artifact_store(client_id=admin.client_id, name="ok.bin", content=fits).size == 100
    assert not SensitiveArtifact.objects.filter(name="big.bin").exists()


def test_the_rotation_rewraps_artifacts(admin, settings):
    first = "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode()
    second = "k2:" + base64.urlsafe_b64encode(os.urandom(32)).decode()
    settings.AE_SECRET_KEKS = [first]
    artifact_id = _upload(_api(admin)).json()["id"]
    settings.AE_SECRET_KEKS = [second, first]
    out = StringIO()
    call_command("secrets_rotate", stdout=out)
    assert "core.SensitiveArtifact.content_encrypted: 1 rewrapped" in out.getvalue()
    settings.AE_SECRET_KEKS = [second]
    assert SensitiveArtifact.objects.get(pk=artifact_id).content_encrypted.startswith("v2:k2:")
    assert _api(admin).get(f"{URL}{artifact_id}/content/").content == CREDENTIALS
