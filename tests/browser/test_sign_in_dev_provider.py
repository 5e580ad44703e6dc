"""Issue #17's "done when", end to end: a browser signs in through the
development provider exactly as through Azure AD (the e-mail step, the
provider's own sign-in page, the code flow with PKCE back to our callback)
and lands on the console with the role its directory groups map to; a
directory sync of the same directory, served by the Graph stand-in, finds
the same people (the token's oid is Graph's id) and de-provisions a role
when a group membership goes."""

import pytest

from apps.core.models import Membership
from apps.core.tests.factories import ClientFactory
from apps.identity.dev_provider.directory import (
    ALEX,
    ANALYTICS_VIEWERS,
    CONTOSO,
    GROUPS,
    MEGAN,
    USERS,
    group_members,
)
from apps.identity.graph.client import graph_tokens_forget
from apps.identity.models import AccessAuditEntry, ExternalIdentity, IdentityProvider
from apps.identity.selectors.providers import provider_client_secret
from apps.identity.services.dev_provider import dev_provider_seed
from apps.identity.services.directory_sync import directory_sync_run_create, directory_sync_run_execute
from apps.identity.tests.graph_standin import GraphStandIn
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(live_server):
    """The demo client seeded against the provider the live server routes at /idp/."""
    client = ClientFactory(code="demo", name="Demo Insurance")
    # The provider on another origin than the platform (127.0.0.1 vs localhost), as
    # in `make run` (another port) and with Azure AD: cookies and CSP as in real life.
    dev_provider_seed(
        client_code="demo",
        base_url=_provider_origin(live_server),
        redirect_uris=[f"{live_server.url}/auth/oidc/callback/"],
    )
    return client


def _provider_origin(live_server) -> str:
    if "//localhost:" in live_server.url:
        return live_server.url.replace("//localhost:", "//127.0.0.1:")
    return live_server.url.replace("//127.0.0.1:", "//localhost:")


def _sign_in(page, live_server, person) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Work e-mail").fill(person.user_principal_name)
    page.get_by_role("button", name="Continue with single sign-on").click()
    # The development provider's own sign-in page, as Azure AD's would be.
    page.wait_for_url(f"{_provider_origin(live_server)}/idp/**")
    page.get_by_label("Account").select_option(f"{person.tenant_id}:{person.object_id}")
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_a_browser_signs_in_through_the_development_provider_with_the_role_its_groups_map_to(page, live_server, demo):
    _sign_in(page, live_server, ALEX)

    identity = ExternalIdentity.objects.get(tenant_id=CONTOSO.tenant_id, object_id=ALEX.object_id)
    assert identity.user.email == ALEX.mail
    # Alex is in Analytics Analysts (mapped to analyst) and EU Sales (unmapped).
    membership = Membership.objects.get(user=identity.user, client=demo)
    assert membership.role == "analyst"
    grant = AccessAuditEntry.objects.get(client=demo, user=identity.user)
    assert (grant.action, grant.source, grant.role) == ("grant", "sign_in", "analyst")
    body = page.locator("body").inner_text()
    assert "Demo Insurance" in body
    screenshot(page, "console-after-dev-provider-sign-in")

    # An analyst's page works; an administrator's API answers 403 naming the permission.
    answer = page.request.get(f"{live_server.url}/api/v1/roles/")
    assert answer.status == 403 and "manage_access" in answer.json()["error"]["message"]


def test_a_sync_of_the_same_directory_finds_the_signed_in_people_and_deprovisions_a_lost_role(page, live_server, demo):
    _sign_in(page, live_server, MEGAN)  # no e-mail claim: keyed on tid+oid alone
    megan = ExternalIdentity.objects.get(tenant_id=CONTOSO.tenant_id, object_id=MEGAN.object_id).user
    assert Membership.objects.get(user=megan, client=demo).role == "viewer"

    # The development directory, served by the Graph stand-in (Graph's ids are the tokens' oids and groups).
    contoso_users = [user for user in USERS if user.tenant_id == CONTOSO.tenant_id]
    contoso_groups = [group for group in GROUPS if group.tenant_id == CONTOSO.tenant_id]
    directory = {
        "users": [
            {
                "id": user.object_id,
                "displayName": user.display_name,
                "userPrincipalName": user.user_principal_name,
                "mail": user.mail,
                "accountEnabled": True,
            }
            for user in contoso_users
        ],
        "groups": [
            {
                "id": group.object_id,
                "displayName": group.display_name,
                "description": group.description,
                "members": [user.object_id for user in group_members(group)],
            }
            for group in contoso_groups
        ],
    }
    provider = IdentityProvider.objects.get(client=demo, tenant_id=CONTOSO.tenant_id)
    secret = provider_client_secret(provider=provider)
    graph_tokens_forget()
    graph = GraphStandIn(
        directory, tenant_id=CONTOSO.tenant_id, application_id=provider.application_id, client_secret=secret
    ).start()
    try:
        provider.authority = provider.graph_base_url = graph.url
        provider.save(update_fields=["authority", "graph_base_url"])

        def sync():
            run = directory_sync_run_create(client_id=demo.pk, provider_id=provider.pk)
            return directory_sync_run_execute(run_id=run.pk)

        assert sync().status == "succeeded"
        # Megan's directory row is the signed-in Megan (the same oid); Alex, who never
        # signed in, was provisioned in advance with the role his groups map to.
        alex = ExternalIdentity.objects.get(tenant_id=CONTOSO.tenant_id, object_id=ALEX.object_id).user
        assert Membership.objects.get(user=alex, client=demo).role == "analyst"
        assert ExternalIdentity.objects.filter(tenant_id=CONTOSO.tenant_id, object_id=MEGAN.object_id).count() == 1

        # Megan leaves Analytics Viewers: the next sync takes her role away, audited.
        graph.member_remove(ANALYTICS_VIEWERS.object_id, MEGAN.object_id)
        assert sync().status == "succeeded"
        assert not Membership.objects.filter(user=megan, client=demo).exists()
        revoke = AccessAuditEntry.objects.get(client=demo, user=megan, action="revoke")
        assert (revoke.source, revoke.previous_role, revoke.role) == ("directory_sync", "viewer", "")
    finally:
        graph.stop()
        graph_tokens_forget()
