from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "apps.identity"
    verbose_name = "Identity (sign-in, providers, directory, roles)"

    def ready(self) -> None:
        from apps.core.secret_fields import secret_field_register

        # An identity provider's client secret is stored encrypted; `manage.py
        # secrets_rotate` rewraps it.
        secret_field_register(model="identity.IdentityProvider", field="client_secret_encrypted")

        from apps.identity.oidc import schema  # noqa: F401  (registers the OpenAPI scheme of provider tokens)
