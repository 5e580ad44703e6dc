"""Connection services without a server: settings of non-SQL kinds checked by
their registered adapter, the discovery recorded as a versioned data source
definition, credentials decrypted only into the adapter's spec."""

import pytest
import reversion.models

from apps.connectors import adapters
from apps.connectors.adapters import adapter_class_for, adapter_register
from apps.connectors.adapters.base import Adapter
from apps.connectors.services.connections import connection_create, connection_update
from apps.core.errors import AppError
from apps.core.tests.factories import ClientFactory
from apps.ontology.selectors.data_sources import data_source_get
from apps.ontology.services.data_sources import data_source_record

pytestmark = pytest.mark.django_db


class _Strict(Adapter):
    seen: list = []

    @classmethod
    def validate_settings(cls, settings, credentials) -> None:
        cls.seen.append((settings, credentials))
        if "base_url" not in settings:
            raise AppError("settings.base_url is required.", code="invalid_settings", details={"field": "base_url"})


@pytest.fixture
def strict_rest():
    before = dict(adapters._ADAPTERS)
    adapter_register("rest")(_Strict)
    _Strict.seen.clear()
    yield _Strict
    adapters._ADAPTERS.clear()
    adapters._ADAPTERS.update(before)


def test_other_kinds_are_checked_by_their_adapter(strict_rest):
    client = ClientFactory()
    assert adapter_class_for("rest") is strict_rest
    with pytest.raises(AppError, match="base_url"):
        connection_create(client_id=client.pk, user=None, fields={"code": "crm", "kind": "rest", "settings": {}})
    view = connection_create(
        client_id=client.pk,
        user=None,
        fields={"code": "crm", "kind": "rest", "settings": {"base_url": "https://crm.example"},
                "credentials": {"token": "t0ken"}},
    )  # fmt: skip
    assert view.credentials_set and view.settings == {"base_url": "https://crm.example"}
    # An update without credentials validates with the stored ones.
    connection_update(client_id=client.pk, code="crm", fields={"name": "CRM"}, partial=True)
    assert strict_rest.seen[-1] == ({"base_url": "https://crm.example"}, {"token": "t0ken"})


def test_base_adapter_accepts_any_settings():
    Adapter.validate_settings({"anything": 1}, {})


def test_a_discovery_is_recorded_as_a_versioned_data_source():
    client = ClientFactory()
    objects = {"connection": "pas", "objects": [{"name": "t", "kind": "table", "columns": []}]}
    data_source_record(client_id=client.pk, code="pas", name="PAS", kind="sql", settings=objects)
    data_source_record(client_id=client.pk, code="pas", name="PAS", kind="sql", settings={**objects, "objects": []})
    recorded = data_source_get(client_id=client.pk, code="pas")
    assert (recorded.kind, recorded.settings["objects"]) == ("sql", [])
    assert reversion.models.Version.objects.filter(content_type__model="datasourcedefinition").count() == 2
    with pytest.raises(AppError, match="password"):
        data_source_record(client_id=client.pk, code="pas", name="PAS", kind="sql", settings={"password": "x"})
