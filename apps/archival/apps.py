from django.apps import AppConfig


class ArchivalConfig(AppConfig):
    name = "apps.archival"
    verbose_name = "Archival (lakehouse)"

    def ready(self) -> None:
        from apps.archival import selectors  # noqa: F401 - shows the worker's jobs in the retention API
        from apps.archival.lakehouse.checks import lakehouse_check, lakehouse_check_enabled
        from apps.core.health import health_check_register

        # /health probes the lakehouse only while a remote (ADLS) target is
        # configured (asked at every probe); the local folder needs no probe.
        health_check_register("lakehouse", lakehouse_check, enabled=lakehouse_check_enabled)
