"""django-oauth-toolkit's validator, made to issue Azure AD v2's claims
(the research note's traps: `oidc_claim_scope` silently drops unmapped claims,
so it is off and the scope rules live in claims.py; the issuer can only be set
through `get_oidc_issuer_endpoint`)."""

from oauth2_provider.oauth2_validators import OAuth2Validator

from apps.identity.dev_provider.accounts import person_of
from apps.identity.dev_provider.claims import id_token_claims, issuer_v2, provider_root, userinfo_claims


class AzureParityValidator(OAuth2Validator):
    # None: every claim get_additional_claims returns goes into the token
    # (claims.py already applies Azure's scope rules: profile, email).
    oidc_claim_scope = None

    def _person(self, request):
        person = person_of(request.user)
        if person is None:
            # Only the provider's own sign-in makes resource owners; anything else is a bug.
            raise RuntimeError("the development provider issued a token for a user who is not a development identity")
        return person

    def get_additional_claims(self, request):
        return id_token_claims(
            self._person(request),
            client_id=request.client.client_id,
            scopes=list(request.scopes or []),
            root=provider_root(request),
        )

    def get_oidc_issuer_endpoint(self, request):
        # `{base}/idp/{tid}/v2.0` with the signed-in user's own tenant, as Azure AD's.
        return issuer_v2(provider_root(request), self._person(request).tenant_id)

    def get_userinfo_claims(self, request):
        return userinfo_claims(
            self._person(request), client_id=request.client.client_id, scopes=list(request.scopes or [])
        )
