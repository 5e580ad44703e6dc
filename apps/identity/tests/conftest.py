"""Fixtures of the directory sync and role mapping tests: the Graph
stand-in seeded with a small directory, a client with the three seeded
roles, and an Azure AD provider pointing at the stand-in."""

import pytest

from apps.core.crypto import secret_encrypt
from apps.core.tests.factories import ClientFactory
from apps.identity.graph.client import graph_tokens_forget
from apps.identity.models import DirectorySyncRun, IdentityProvider, Role
from apps.identity.selectors.providers import CLIENT_SECRET_PURPOSE
from apps.identity.services.directory_sync import directory_sync_run_create, directory_sync_run_execute
from apps.identity.tests.graph_standin import GraphStandIn

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP_ID = "4a1aa1d5-c567-49d0-ad0b-cd957a47f842"
SECRET = "stand-in-secret~value"

ALICE = "0a1b2c3d-0000-4000-8000-00000000a11c"
BOB = "0a1b2c3d-0000-4000-8000-000000000b0b"
CAROL = "0a1b2c3d-0000-4000-8000-0000000ca201"
DAVE = "0a1b2c3d-0000-4000-8000-00000000da7e"
ERIN = "0a1b2c3d-0000-4000-8000-00000000e217"
ANALYSTS = "9f000000-0000-4000-8000-0000000a0a1f"
ADMINS = "9f000000-0000-4000-8000-0000000ad313"
VIEWERS = "9f000000-0000-4000-8000-000000077e35"


def directory() -> dict:
    """Four users, three groups; page size 2 makes every listing two pages."""
    return {
        "users": [
            {"id": ALICE, "displayName": "Alice Analyst", "userPrincipalName": "alice@contoso.example",
             "mail": "alice@contoso.example", "accountEnabled": True, "department": "Finance", "country": "NL"},
            {"id": BOB, "displayName": "Bob Builder", "userPrincipalName": "bob@contoso.example",
             "mail": "bob@contoso.example", "accountEnabled": True, "department": "Sales", "country": "DE"},
            {"id": CAROL, "displayName": "Carol Chief", "userPrincipalName": "carol@contoso.example",
             "mail": None, "accountEnabled": True, "department": "IT", "jobTitle": "CIO"},
            {"id": DAVE, "displayName": "Dave Viewer", "userPrincipalName": "dave@contoso.example",
             "mail": "dave@contoso.example", "accountEnabled": True},
        ],
        "groups": [
            {"id": ANALYSTS, "displayName": "KPI Analysts", "description": "Build KPIs", "members": [ALICE, BOB]},
            {"id": ADMINS, "displayName": "KPI Admins", "description": "", "members": [CAROL]},
            {"id": VIEWERS, "displayName": "KPI Viewers", "description": "Read dashboards",
             "members": [ALICE, BOB, CAROL, DAVE]},
        ],
    }  # fmt: skip


@pytest.fixture
def graph():
    graph_tokens_forget()
    standin = GraphStandIn(directory(), tenant_id=TENANT, application_id=APP_ID, client_secret=SECRET).start()
    yield standin
    standin.stop()
    graph_tokens_forget()


@pytest.fixture(autouse=True)
def fast_graph_retries(settings):
    """Retry-After and backoff waits capped far below a second (the real cap is a setting)."""
    settings.AE_GRAPH_RETRY_AFTER_MAX_SECONDS = 0.01
    settings.AE_GRAPH_BACKOFF_BASE_SECONDS = 0.001
    settings.AE_GRAPH_MAX_ATTEMPTS = 4
    settings.AE_GRAPH_TIMEOUT_SECONDS = 10.0


def roles_seed(client) -> None:
    """The three seeded roles (the "roles" part seeds them for every client)."""
    for code, permissions in (
        ("admin", ["view_metrics", "edit_ontology", "load_data", "manage_sources", "manage_access", "administer"]),
        ("analyst", ["view_metrics", "edit_ontology", "load_data", "manage_sources"]),
        ("viewer", ["view_metrics"]),
    ):
        Role.objects.get_or_create(
            client=client, code=code, defaults={"name": code.title(), "permissions": permissions, "is_seeded": True}
        )


def provider_for(client, graph: GraphStandIn, *, secret: str = SECRET, name: str = "Contoso", tenant=TENANT):
    return IdentityProvider.objects.create(
        client=client,
        name=name,
        kind=IdentityProvider.Kind.AZURE_AD,
        authority=graph.url,
        tenant_id=tenant,
        application_id=APP_ID,
        client_secret_encrypted=secret_encrypt(secret, purpose=CLIENT_SECRET_PURPOSE),
        graph_base_url=graph.url,
    )


@pytest.fixture
def tenant_client(db):
    client = ClientFactory(code="contoso", name="Contoso")
    roles_seed(client)
    return client


@pytest.fixture
def provider(tenant_client, graph):
    return provider_for(tenant_client, graph)


def sync(provider) -> DirectorySyncRun:
    """One run of the provider, done here and now (what the Celery task does)."""
    run = directory_sync_run_create(client_id=provider.client_id, provider_id=provider.pk)
    return directory_sync_run_execute(run_id=run.pk)
