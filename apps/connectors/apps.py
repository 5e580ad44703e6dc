from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "apps.connectors"
    verbose_name = "Connectors (connections, adapters, schema discovery, preview)"

    def ready(self) -> None:
        from apps.core.secret_fields import secret_field_register

        # A connection's credentials are stored encrypted; `manage.py secrets_rotate` rewraps them.
        secret_field_register(model="connectors.ConnectionProfile", field="credentials_encrypted")
