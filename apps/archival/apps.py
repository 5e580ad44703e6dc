from django.apps import AppConfig


class ArchivalConfig(AppConfig):
    name = "apps.archival"
    verbose_name = "Archival (lakehouse)"
