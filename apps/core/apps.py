from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = "Core (tenants, errors)"

    def ready(self) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        from apps.core.receivers import receivers_connect
        from apps.core.tracing import tracing_configure

        receivers_connect()

        from apps.core.secret_fields import secret_field_register

        # Sensitive artifacts are stored encrypted; `manage.py secrets_rotate` rewraps them.
        secret_field_register(model="core.SensitiveArtifact", field="content_encrypted")

        # ready() runs once per process (web, worker, beat, consumers); the
        # guard covers a second django.setup() in the same process.
        if not isinstance(trace.get_tracer_provider(), TracerProvider):
            tracing_configure()

        from apps.core.health import health_check_register
        from apps.core.lakehouse.checks import lakehouse_check, lakehouse_check_enabled

        # /health probes the lakehouse (archival's targets, file connections'
        # location "lake") only while a remote (ADLS) target is configured
        # (asked at every probe); the local folder needs no probe.
        health_check_register("lakehouse", lakehouse_check, enabled=lakehouse_check_enabled)

        from apps.core import checks  # noqa: F401  (registers the system checks)
        from apps.core.api import schema  # noqa: F401  (registers the OpenAPI extensions)
