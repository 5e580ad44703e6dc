"""Secrets encrypted at rest (webhook secrets, connection credentials,
artifacts), with rotatable keys.

`AE_ENCRYPTION_KEYS` lists Fernet keys, newest first: the first encrypts,
every one decrypts. To rotate, put a new key in front, re-encrypt the stored
tokens with `secret_rotate` (services that own secrets offer a sweep), then
drop the old key. Without the setting, one key is derived from SECRET_KEY
(HKDF-SHA256), so development needs no setup; changing SECRET_KEY then makes
every stored secret unreadable, which is why production sets explicit keys.
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_DERIVATION_INFO = b"analytics-engine secrets at rest v1"


class SecretDecryptionError(Exception):
    """A stored secret cannot be read: tampered with, truncated, or encrypted
    with a key that is no longer in AE_ENCRYPTION_KEYS."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def _configured_keys() -> tuple[str, ...]:
    keys = getattr(settings, "AE_ENCRYPTION_KEYS", None) or []
    if isinstance(keys, str):
        keys = keys.split(",")
    return tuple(k.strip() for k in keys if k and k.strip())


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        return MultiFernet([Fernet(_derived_key(secret_key))])
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except ValueError as exc:
            # Name the position, never the key.
            raise ImproperlyConfigured(
                f"AE_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 url-safe base64-encoded bytes; make "
                "one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
            ) from exc
    return MultiFernet(fernets)


def _multi_fernet() -> MultiFernet:
    return _fernet(_configured_keys(), settings.SECRET_KEY)


def secret_encrypt(text: str) -> str:
    """Encrypt `text` with the first key; the token is ASCII, safe for a text column."""
    return _multi_fernet().encrypt(text.encode()).decode("ascii")


def secret_decrypt(token: str) -> str:
    """The clear text of a token made by `secret_encrypt` with any configured key."""
    try:
        return _multi_fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise SecretDecryptionError(
            "The stored secret could not be decrypted: it was altered, or it was encrypted with a key "
            "that is no longer listed in AE_ENCRYPTION_KEYS."
        ) from exc


def secret_rotate(token: str) -> str:
    """The same secret re-encrypted with the current first key (a no-op in
    meaning; run it over stored tokens before retiring an old key)."""
    try:
        return _multi_fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as exc:
        raise SecretDecryptionError(
            "The stored secret could not be re-encrypted: none of the keys in AE_ENCRYPTION_KEYS decrypts it."
        ) from exc
