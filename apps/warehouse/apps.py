from django.apps import AppConfig


class WarehouseConfig(AppConfig):
    name = "apps.warehouse"
    verbose_name = "Warehouse (analytics_data storage)"

    def ready(self) -> None:
        from apps.warehouse import schemas  # noqa: F401 - registers the archival topics' payload schemas
