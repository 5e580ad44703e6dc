"""Every model field that stores a secret, in one place, and the rotation
that rewraps them all under the newest key-encryption key (`manage.py
secrets_rotate`; docs/security.md, "Secrets at rest").

Apps register their encrypted fields from `AppConfig.ready()` by model label,
so core imports no app:

    secret_field_register(model="messaging.Subscription", field="secret_encrypted")

The field's purpose (the associated data its ciphertexts are bound to) is
`<app_label>.<model_name>.<field>`; writers and readers get it from
`secret_purpose(...)`, so the rotation and the app agree on it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction

from apps.core.crypto import SecretDecryptionError, secret_is_current, secret_rotate


@dataclass(frozen=True)
class SecretField:
    model: str  # "<app_label>.<ModelName>"
    field: str

    @property
    def purpose(self) -> str:
        return secret_purpose(model=self.model, field=self.field)


_REGISTRY: dict[tuple[str, str], SecretField] = {}


def secret_purpose(*, model: str, field: str) -> str:
    """The associated data of a field's ciphertexts: "<app_label>.<model_name>.<field>"."""
    app_label, _, model_name = model.partition(".")
    return f"{app_label}.{model_name.lower()}.{field}"


def secret_field_register(*, model: str, field: str) -> SecretField:
    """Declare that `model.field` stores `secret_encrypt` envelopes (idempotent)."""
    entry = SecretField(model=model, field=field)
    _REGISTRY[(entry.model.lower(), field)] = entry
    return entry


def secret_fields() -> list[SecretField]:
    return sorted(_REGISTRY.values(), key=lambda f: (f.model.lower(), f.field))


@dataclass
class RotationCount:
    field: SecretField
    rewrapped: int = 0  # an envelope under an older KEK: only its data key was rewrapped
    reencrypted: int = 0  # a legacy Fernet token: decrypted and stored as an envelope
    current: int = 0  # already under the newest KEK
    changed: int = 0  # written by the application meanwhile (under the newest KEK): left alone
    unreadable: list = field(default_factory=list)  # primary keys whose secret no listed key decrypts

    def line(self) -> str:
        return (
            f"{self.field.model}.{self.field.field}: {self.rewrapped} rewrapped, {self.reencrypted} re-encrypted "
            f"from the legacy format, {self.current} already current, {self.changed} changed meanwhile, "
            f"{len(self.unreadable)} unreadable"
        )


def _rotate_one(model, name: str, purpose: str, pk, token: str, count: RotationCount) -> None:
    if not token or secret_is_current(token):
        count.current += bool(token)
        return
    try:
        rotated = secret_rotate(token, purpose=purpose)
    except SecretDecryptionError:
        count.unreadable.append(pk)
        return
    # Compare-and-set, one row at a time: a secret the application rewrote since
    # it was read is already under the newest KEK and is not overwritten.
    with transaction.atomic():
        updated = model._default_manager.filter(pk=pk, **{name: token}).update(**{name: rotated})
    if not updated:
        count.changed += 1
    elif token.startswith("v2:"):
        count.rewrapped += 1
    else:
        count.reencrypted += 1


def secrets_rotate(
    *, batch_size: int = 500, progress: Callable[[RotationCount], None] | None = None
) -> list[RotationCount]:
    """Rewrap every registered secret under the newest KEK, in batches of
    primary keys; idempotent and safe while the application serves (no
    long-held lock: each row is updated only if it still holds the token read)."""
    counts = []
    for entry in secret_fields():
        counts.append(secrets_rotate_field(entry, batch_size=batch_size))
        if progress:
            progress(counts[-1])
    return counts


def secrets_rotate_field(entry: SecretField, *, batch_size: int = 500) -> RotationCount:
    """`secrets_rotate` for one registered field."""
    model = apps.get_model(entry.model)
    count = RotationCount(field=entry)
    last = None
    while True:
        rows = model._default_manager.order_by("pk")
        if last is not None:
            rows = rows.filter(pk__gt=last)
        batch = list(rows.values_list("pk", entry.field)[:batch_size])
        if not batch:
            return count
        for pk, token in batch:
            _rotate_one(model, entry.field, entry.purpose, pk, token, count)
        last = batch[-1][0]
