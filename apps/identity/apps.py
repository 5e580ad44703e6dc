from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "apps.identity"
    verbose_name = "Identity (sign-in, providers, directory, roles)"

    def ready(self) -> None:
        from apps.core.access import access_roles_register
        from apps.core.bearer_tokens import bearer_verifier_register
        from apps.core.secret_fields import secret_field_register
        from apps.identity.oidc.bearer import provider_access_token_credential
        from apps.identity.receivers import receivers_connect
        from apps.identity.selectors.roles import ROLE_DIRECTORY

        # An identity provider's client secret is stored encrypted; `manage.py
        # secrets_rotate` rewraps it.
        secret_field_register(model="identity.IdentityProvider", field="client_secret_encrypted")
        # Core reads a membership's permissions from the client's roles, stored here.
        access_roles_register(ROLE_DIRECTORY)
        # WebSockets (core) accept a provider's access token as the DRF API does.
        bearer_verifier_register(provider_access_token_credential)
        # New clients get the seeded roles.
        receivers_connect()

        from apps.identity.oidc import schema  # noqa: F401  (registers the OpenAPI scheme of provider tokens)
