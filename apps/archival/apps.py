from django.apps import AppConfig


class ArchivalConfig(AppConfig):
    name = "apps.archival"
    verbose_name = "Archival (lakehouse)"

    def ready(self) -> None:
        from apps.archival import selectors  # noqa: F401 - shows the worker's jobs in the retention API
