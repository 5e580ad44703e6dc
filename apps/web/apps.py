from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "apps.web"
    verbose_name = "Web console"
