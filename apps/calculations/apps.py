from django.apps import AppConfig


class CalculationsConfig(AppConfig):
    name = "apps.calculations"
    verbose_name = "Calculation engine"

    def ready(self) -> None:
        from apps.calculations import (
            cache,  # noqa: F401 - registers cache invalidation on rows loaded
            checks,  # noqa: F401 - registers the compile check on metric definitions
        )
        from apps.calculations.rollups import listeners  # noqa: F401 - rollup invalidation, automatic generation
