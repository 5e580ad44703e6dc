"""Microsoft Graph for one identity provider: the client directory sync
uses, and the group-overage lookup sign-in uses when a token carries
`_claim_names.groups` instead of `groups` (more than 200 groups)."""

from urllib.parse import quote

from apps.identity.graph.client import GraphAuthError, GraphClient, GraphTenant
from apps.identity.models import IdentityProvider
from apps.identity.selectors.providers import provider_client_secret


def graph_client(*, provider: IdentityProvider, on_throttled=None) -> GraphClient:
    """A Graph client with the provider's app-only credentials (its client
    secret decrypted here, held only in memory)."""
    if not provider.client_secret_encrypted:
        raise GraphAuthError(
            f"Identity provider {provider.name!r} has no client secret, so no Graph token can be requested; "
            "set the app registration's client secret on the provider."
        )
    tenant = GraphTenant(
        authority=provider.authority,
        tenant_id=provider.tenant_id,
        application_id=provider.application_id,
        client_secret=provider_client_secret(provider=provider),
        graph_base_url=provider.graph_base_url,
    )
    return GraphClient(tenant, on_throttled=on_throttled)


def user_group_ids_fetch(*, provider_id: int, object_id: str) -> list[str]:
    """The object ids of every group (and directory role) the user belongs to,
    transitively, from Graph's `POST /v1.0/users/{id}/getMemberObjects`: what
    a token's `groups` claim would have said without the overage. Raises
    apps.identity.graph.client.GraphError when Graph cannot answer."""
    provider = IdentityProvider.objects.get(pk=provider_id)
    graph = graph_client(provider=provider)
    body = graph.post(f"/v1.0/users/{quote(object_id, safe='')}/getMemberObjects", json={"securityEnabledOnly": False})
    values = body.get("value") or []
    return [str(value) for value in values if isinstance(value, str)]
