"""Client configuration (apps/ontology/services/client_config.py, the
/api/v1/client-config endpoint, the admin): defaults for every client,
validation naming each bad field, who may read and write, which KPIs are
inactive and why, and the `client_config.changed` event a change writes to
the outbox. The cascades to the layers above are tested in
apps/calculations/tests/test_client_config_cascade.py and
apps/web/tests/test_dashboard.py."""

import pytest
from django.core.management import call_command
from django.db import connection

from apps.core.models import Client
from apps.core.tests.factories import ClientFactory, MembershipFactory
from apps.messaging.models import OutboxEvent
from apps.ontology.models import ClientConfig, MetricDefinition
from apps.ontology.selectors.client_config import feature_enabled, kpis_inactive
from apps.ontology.tests.conftest import POLICY_SNAPSHOT
from apps.ontology.types.client_config import CLIENT_CONFIG_CHANGED, FEATURES

pytestmark = pytest.mark.django_db

URL = "/api/v1/client-config"
BASE = "/api/v1/ontology/"


@pytest.fixture
def admin(db):
    return MembershipFactory(role="admin", is_default=True)


@pytest.fixture
def admin_api(api_client, admin):
    api_client.force_authenticate(admin.user)
    return api_client


@pytest.fixture
def ontology(admin_api):
    """Three KPIs: `active` and `terminated` in the health value chain, `active`
    also in the motor one; `premium` in none."""
    assert admin_api.post(BASE + "entities/", POLICY_SNAPSHOT, format="json").status_code == 201
    for code, formula in [
        ("active", "COUNT(policy_id) WHERE status = 'Active'"),
        ("terminated", "COUNT(policy_id) WHERE status = 'Terminated'"),
        ("premium", "COUNT(policy_id)"),
    ]:
        metric = {"code": code, "name": code, "formula": formula, "entity": "policy_snapshot"}
        assert admin_api.post(BASE + "metrics/", metric, format="json").status_code == 201
    for code, metrics in [("health", ["active", "terminated"]), ("motor", ["active"])]:
        chain = {"code": code, "name": code, "metrics": metrics}
        assert admin_api.post(BASE + "value-chains/", chain, format="json").status_code == 201
    return admin_api


def changes() -> list[dict]:
    return [row.envelope["payload"] for row in OutboxEvent.objects.filter(topic=CLIENT_CONFIG_CHANGED).order_by("id")]


def test_every_client_has_a_configuration_with_the_defaults_from_its_creation():
    client = ClientFactory()
    config = ClientConfig.objects.get(client=client)
    assert (config.default_locale, config.time_zone, config.currency, config.features) == ("en-US", "UTC", "EUR", {})
    # Whatever creates the client: plain SQL too (the trigger of migration 0005).
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_client (code, name, is_active, password_login_enabled, created_at, updated_at) "
            "VALUES ('by_sql', 'By SQL', true, true, now(), now()) RETURNING id"
        )
        (client_id,) = cursor.fetchone()
    assert ClientConfig.objects.filter(client_id=client_id, time_zone="UTC").exists()
    Client.objects.filter(pk=client_id).delete()
    assert not ClientConfig.objects.filter(client_id=client_id).exists()


def test_any_member_reads_the_configuration_with_every_switch(api_client, ontology, admin):
    viewer = MembershipFactory(client=admin.client, role="viewer", is_default=True)
    api_client.force_authenticate(viewer.user)
    response = api_client.get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active_kpis"] == ["active", "premium", "terminated"]
    assert body["active_value_chains"] == ["health", "motor"]
    assert body["inactive_kpis"] == [] and body["inactive_value_chains"] == []
    assert (body["default_locale"], body["time_zone"], body["currency"]) == ("en-US", "UTC", "EUR")
    assert body["features"] == {name: feature.default for name, feature in FEATURES.items()}
    assert body["features"] == {"live_recalculation": True, "simulations": True}


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_only_administrators_change_it(api_client, admin, role):
    member = MembershipFactory(client=admin.client, role=role, is_default=True)
    api_client.force_authenticate(member.user)
    response = api_client.patch(URL, {"time_zone": "Europe/Paris"}, format="json")
    assert response.status_code == 403
    assert ClientConfig.objects.get(client=admin.client).time_zone == "UTC"


def test_anonymous_callers_are_refused(api_client):
    assert api_client.get(URL).status_code == 401


def test_an_administrator_changes_defaults_and_switches(ontology, admin):
    response = ontology.patch(
        URL,
        {"time_zone": "Europe/Paris", "currency": "CHF", "default_locale": "de-CH", "features": {"simulations": False}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["time_zone"], body["currency"], body["default_locale"]) == ("Europe/Paris", "CHF", "de-CH")
    assert body["features"] == {"live_recalculation": True, "simulations": False}
    assert not feature_enabled(client_id=admin.client_id, name="simulations")
    assert feature_enabled(client_id=admin.client_id, name="live_recalculation")
    assert changes() == [
        {
            "kpis_deactivated": [], "kpis_reactivated": [], "value_chains_deactivated": [],
            "value_chains_reactivated": [], "features": {"simulations": False},
            "defaults": ["default_locale", "time_zone", "currency"],
        }
    ]  # fmt: skip
    # The same values again change nothing and publish nothing.
    again = {"time_zone": "Europe/Paris", "features": {"simulations": False}}
    assert ontology.patch(URL, again, format="json").status_code == 200
    assert len(changes()) == 1


@pytest.mark.parametrize(
    ("payload", "field", "named"),
    [
        ({"active_kpis": ["active", "churn"]}, "active_kpis", "churn"),
        ({"active_value_chains": ["health", "retail"]}, "active_value_chains", "retail"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone", "Europe/Atlantis"),
        ({"time_zone": "utc"}, "time_zone", "utc"),
        ({"currency": "EURO"}, "currency", "EURO"),
        ({"currency": "ABC"}, "currency", "ABC"),
        ({"default_locale": "english"}, "default_locale", "english"),
        ({"default_locale": "xx-US"}, "default_locale", "xx"),
        ({"default_locale": "en-XX"}, "default_locale", "XX"),
        ({"features": {"time_travel": True}}, "features", "time_travel"),
        ({"features": {"simulations": "yes"}}, "features", "simulations"),
        ({"timezone": "UTC"}, "timezone", "Unknown field"),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_nothing_changes(ontology, admin, payload, field, named):
    response = ontology.patch(URL, {**payload}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["details"], error
    assert named in str(error["details"][field]) or named in error["message"], error
    config = ClientConfig.objects.get(client=admin.client)
    assert (config.time_zone, config.currency, config.features) == ("UTC", "EUR", {})
    assert not config.inactive_metrics.exists() and not changes()


def test_every_bad_field_is_named_at_once(ontology):
    bad = {"time_zone": "Mars/Base", "currency": "XYZ", "active_kpis": ["nope"]}
    response = ontology.patch(URL, bad, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"time_zone", "currency", "active_kpis"}


def test_deactivating_a_kpi_and_reactivating_it(ontology, admin):
    response = ontology.patch(URL, {"active_kpis": ["active", "premium"]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["active_kpis"] == ["active", "premium"]
    assert body["inactive_kpis"] == [
        {"code": "terminated", "reason": "deactivated", "value_chains": [],
         "message": "KPI 'terminated' is deactivated for this client."}
    ]  # fmt: skip
    assert set(kpis_inactive(client_id=admin.client_id)) == {"terminated"}
    assert changes()[-1]["kpis_deactivated"] == ["terminated"]

    ontology.patch(URL, {"active_kpis": ["active", "premium", "terminated"]}, format="json")
    assert kpis_inactive(client_id=admin.client_id) == {}
    assert changes()[-1]["kpis_reactivated"] == ["terminated"]


def test_a_kpi_defined_later_starts_active(ontology, admin):
    ontology.patch(URL, {"active_kpis": ["active"]}, format="json")
    metric = {"code": "later", "name": "Later", "formula": "COUNT(policy_id)", "entity": "policy_snapshot"}
    assert ontology.post(BASE + "metrics/", metric, format="json").status_code == 201
    assert "later" in ontology.get(URL).json()["active_kpis"]
    assert set(kpis_inactive(client_id=admin.client_id)) == {"premium", "terminated"}


def test_deactivating_a_value_chain_deactivates_the_kpis_only_it_holds(ontology, admin):
    response = ontology.patch(URL, {"active_value_chains": ["motor"]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["inactive_value_chains"] == ["health"]
    # `terminated` is held by health only; `active` also by motor, which is active; `premium` by none.
    assert [(k["code"], k["reason"], k["value_chains"]) for k in body["inactive_kpis"]] == [
        ("terminated", "value_chain", ["health"])
    ]
    assert body["inactive_kpis"][0]["message"] == (
        "KPI 'terminated' is deactivated for this client (its value chain 'health' is inactive)."
    )
    assert changes()[-1]["value_chains_deactivated"] == ["health"]
    assert changes()[-1]["kpis_deactivated"] == ["terminated"]

    ontology.patch(URL, {"active_value_chains": []}, format="json")  # motor too: `active` goes
    assert set(kpis_inactive(client_id=admin.client_id)) == {"active", "terminated"}
    assert changes()[-1]["kpis_deactivated"] == ["active"]

    ontology.patch(URL, {"active_value_chains": ["health", "motor"]}, format="json")
    assert kpis_inactive(client_id=admin.client_id) == {}
    assert changes()[-1]["kpis_reactivated"] == ["active", "terminated"]


def test_another_clients_kpis_are_unknown_here(ontology, api_client):
    other = MembershipFactory(role="admin", is_default=True)
    api_client.force_authenticate(other.user)
    response = api_client.patch(URL, {"active_kpis": ["active"]}, format="json")
    assert response.status_code == 400
    assert "active" in response.json()["error"]["details"]["active_kpis"]
    assert api_client.get(URL).json()["active_kpis"] == []


def test_the_admin_saves_through_the_service(ontology, admin, client):
    admin.user.is_staff = admin.user.is_superuser = True
    admin.user.save()
    client.force_login(admin.user)
    config = ClientConfig.objects.get(client=admin.client)
    url = f"/admin/ontology/clientconfig/{config.pk}/change/"
    assert client.get(url).status_code == 200
    terminated = MetricDefinition.objects.get(client=admin.client, code="terminated")
    form = {
        "inactive_metrics": [terminated.pk], "default_locale": "fr-FR", "time_zone": "Europe/Paris",
        "currency": "EUR", "feature_live_recalculation": "on",
    }  # fmt: skip
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    config.refresh_from_db()
    assert config.time_zone == "Europe/Paris" and config.features == {"live_recalculation": True, "simulations": False}
    assert set(kpis_inactive(client_id=admin.client_id)) == {"terminated"}
    assert changes()[-1]["kpis_deactivated"] == ["terminated"]

    bad = client.post(url, {**form, "time_zone": "Nowhere/Land"})
    assert bad.status_code == 200 and "Nowhere/Land" in bad.content.decode()
    config.refresh_from_db()
    assert config.time_zone == "Europe/Paris"


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_the_clients_that_exist_their_configuration():
    before = [ClientFactory(), ClientFactory()]
    call_command("migrate", "ontology", "0004", verbosity=0)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('ontology_clientconfig')")
            assert cursor.fetchone() == (None,)
        later = ClientFactory()  # no trigger yet: created without a configuration
    finally:
        call_command("migrate", "ontology", verbosity=0)
    configured = set(ClientConfig.objects.values_list("client_id", flat=True))
    assert {c.pk for c in [*before, later]} <= configured
    assert set(ClientConfig.objects.filter(client_id=later.pk).values_list("time_zone", "currency")) == {("UTC", "EUR")}


def test_reading_the_inactive_kpis_of_a_client_gone_since_writes_nothing():
    """Live rounds read the KPIs of every listened client, one deleted since
    included: the read answers "nothing switched off" and creates no row (a
    row for a client that no longer exists breaks the foreign key at commit)."""
    gone = ClientFactory().pk
    Client.objects.filter(pk=gone).delete()
    assert kpis_inactive(client_id=gone) == {}
    assert not ClientConfig.objects.filter(client_id=gone).exists()
