"""The OpenAPI (drf-spectacular) scheme of provider bearer tokens, so the
schema names it and drf-spectacular does not warn (W001) for every view."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ProviderBearerScheme(OpenApiAuthenticationExtension):
    target_class = "apps.identity.oidc.drf.ProviderBearerAuthentication"
    name = "azureAdBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An Azure AD access token issued for this API by a client's identity provider "
            "(docs/identity.md, 'API access with provider tokens').",
        }
