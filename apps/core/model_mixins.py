"""Abstract base models every app builds on (other apps import these, never
apps.core.models: the import-linter contract in pyproject.toml)."""

from django.db import models


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TenantQuerySet(models.QuerySet):
    def for_client(self, client) -> "TenantQuerySet":
        return self.filter(client=client)


class TenantScopedModel(TimestampedModel):
    """Base for records owned by a client; query them through `for_client`."""

    client = models.ForeignKey("core.Client", on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True
