"""Connection profiles: how the platform reaches one of a client's systems (a
SQL database, a REST or GraphQL service, files). Settings are descriptive
(host, port, database, base URL, pagination); credentials are one encrypted
JSON object, write-only in the API (docs/sources.md)."""

from django.conf import settings as django_settings
from django.db import models

from apps.core.model_mixins import TenantScopedModel


class ConnectionProfile(TenantScopedModel):
    class Kind(models.TextChoices):
        POSTGRESQL = "postgresql", "PostgreSQL"
        MYSQL = "mysql", "MySQL / MariaDB"
        MSSQL = "mssql", "SQL Server"
        ORACLE = "oracle", "Oracle"
        REST = "rest", "REST API"
        GRAPHQL = "graphql", "GraphQL API"
        FILE = "file", "Files (CSV, Excel, Parquet)"

    class Stage(models.TextChoices):
        """Where a connection test stopped (API.md: the test's `stage`)."""

        DNS = "dns"
        CONNECT = "connect"
        TLS = "tls"
        AUTH = "auth"
        PERMISSION = "permission"
        QUERY = "query"

    code = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True, default="")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    settings = models.JSONField(default=dict, blank=True)
    # Envelope of apps.core.crypto (purpose "connectors.connectionprofile.credentials_encrypted")
    # around a JSON object: {"password": ...}, {"api_key": ...}, {"client_secret": ...}.
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    owner = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True, default="")
    last_test_message = models.TextField(blank=True, default="")
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_discovered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["client", "code"], name="connectors_connection_client_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.kind})"
