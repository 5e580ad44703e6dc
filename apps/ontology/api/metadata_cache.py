"""Ontology metadata answers (definition lists and details, the UML graph)
cached and revalidated per client, per version of its definitions and per
caller's role and its permissions (apps/core/api/response_cache.py does the HTTP and the cache).

The version is `definitions_version`: it moves with every committed change to
any of the client's definitions, whatever wrote it, so the next GET after a
change computes afresh under a new key and the old entries age out by TTL.
The client's name is part of the scope because the diagram's title shows it."""

from django.conf import settings

from apps.core.api.response_cache import CachedGetMixin
from apps.core.api.tenancy import request_client
from apps.ontology.selectors import definitions_version


class MetadataCacheMixin(CachedGetMixin):
    # Viewset actions whose answer is read from the definitions alone
    # (`history` reads the version records, so it is not cached).
    metadata_cache_actions = frozenset({"list", "retrieve"})

    def response_cache_scope(self) -> str | None:
        action = getattr(self, "action", None)
        if action is not None and action not in self.metadata_cache_actions:
            return None
        access = request_client(self.request)
        version = definitions_version(client_id=access.client_id)
        permissions = ",".join(sorted(access.permissions))  # a role whose permissions changed reads afresh
        return (
            f"ontology|client={access.client_id}|version={version}|role={access.role}|perms={permissions}"
            f"|name={access.name}"
        )

    def response_cache_ttl(self) -> int:
        return settings.ONTOLOGY_METADATA_CACHE_TTL
