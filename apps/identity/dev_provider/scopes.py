"""Scopes as Azure AD names them: the OIDC ones, and each application's API
scopes as `api://<application id>/<name>` (django-oauth-toolkit's settings
scopes are one global list, so a backend of our own)."""

from oauth2_provider.scopes import BaseScopes

from apps.identity.dev_provider.claims import API_SCOPES, OIDC_SCOPES

_OIDC_DESCRIPTIONS = {
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "offline_access": "Maintain access to data you have given it access to",
}


class _Descriptions(dict):
    def __missing__(self, scope: str) -> str:
        # `api://<id>/<name>`: the description of <name>.
        return API_SCOPES.get(scope.rsplit("/", 1)[-1], scope)


class AzureScopes(BaseScopes):
    def get_all_scopes(self):
        return _Descriptions(_OIDC_DESCRIPTIONS)

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        scopes = list(OIDC_SCOPES)
        if application is not None:
            scopes += [f"api://{application.client_id}/{name}" for name in API_SCOPES]
        return scopes

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return ["openid"]
