from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "apps.streams"
    verbose_name = "Live data feeds (telemetry, news, market)"

    def ready(self) -> None:
        from apps.streams import schemas  # noqa: F401 - registers the payload schemas (the publish API validates)
