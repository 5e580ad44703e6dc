"""Sensitive artifacts (issue #17, item 9): files a client must not leave in
clear anywhere (generated credentials files, exported reports), stored
encrypted with the envelope service of apps.core.crypto under the purpose
`core.sensitiveartifact.content_encrypted` (so `manage.py secrets_rotate`
rewraps them), readable only by the client's administrators (the API in
apps/core/api/artifact_views.py checks the role; these functions check the
client).

- services: `artifact_store`, `artifact_delete`;
- reads: `artifact_list`, `artifact_get`, `artifact_content`.
"""

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from apps.core.crypto import secret_decrypt_bytes, secret_encrypt_bytes
from apps.core.errors import AppError, NotFound
from apps.core.models import SensitiveArtifact
from apps.core.secret_fields import secret_purpose

CONTENT_PURPOSE = secret_purpose(model="core.SensitiveArtifact", field="content_encrypted")


class ArtifactTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


@dataclass(frozen=True)
class ArtifactContent:
    name: str
    content_type: str
    data: bytes


@transaction.atomic
def artifact_store(
    *, client_id: int, name: str, content: bytes | BinaryIO, content_type: str = "", user=None
) -> SensitiveArtifact:
    """Encrypt and store `content` (bytes, or a file such as an upload); the
    clear bytes are kept nowhere. A file larger than AE_ARTIFACT_MAX_BYTES is
    refused before it is read into memory (by its declared size, and by
    reading at most one byte past the limit)."""
    limit = settings.AE_ARTIFACT_MAX_BYTES
    too_large = ArtifactTooLarge(f"The file is too large: at most {limit} bytes (AE_ARTIFACT_MAX_BYTES).")
    if not isinstance(content, bytes | bytearray):
        if (getattr(content, "size", None) or 0) > limit:
            raise too_large
        content = content.read(limit + 1)
    if len(content) > limit:
        raise too_large
    name = (name or "").strip()
    if not name or len(name) > 255 or any(c in name for c in "/\\\x00"):
        raise AppError(
            "The file needs a name of 1 to 255 characters without '/' or '\\'.",
            details={"file": ["The file needs a name of 1 to 255 characters without '/' or '\\'."]},
        )
    return SensitiveArtifact.objects.create(
        client_id=client_id,
        name=name,
        content_type=(content_type or "application/octet-stream")[:255],
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content_encrypted=secret_encrypt_bytes(content, purpose=CONTENT_PURPOSE),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def artifact_delete(*, artifact: SensitiveArtifact) -> None:
    artifact.delete()


def artifact_list(*, client_id: int) -> QuerySet[SensitiveArtifact]:
    return SensitiveArtifact.objects.filter(client_id=client_id).defer("content_encrypted")


def artifact_get(*, client_id: int, artifact_id) -> SensitiveArtifact:
    """The client's artifact; another client's (or none) is a 404."""
    try:
        return SensitiveArtifact.objects.get(client_id=client_id, pk=int(artifact_id))
    except (SensitiveArtifact.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such artifact.") from None


def artifact_content(*, artifact: SensitiveArtifact) -> ArtifactContent:
    """The artifact decrypted (SecretDecryptionError when no listed key reads it)."""
    data = secret_decrypt_bytes(artifact.content_encrypted, purpose=CONTENT_PURPOSE)
    return ArtifactContent(name=artifact.name, content_type=artifact.content_type, data=data)
