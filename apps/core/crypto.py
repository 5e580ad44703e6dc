"""Secrets encrypted at rest (webhook secrets, connection credentials,
artifacts), with rotatable keys.

`AE_ENCRYPTION_KEYS` lists Fernet keys, newest first: the first encrypts,
every one decrypts. To rotate, put a new key in front, re-encrypt the stored
tokens with `secret_rotate` (services that own secrets offer a sweep), then
drop the old key. There is no fallback: without the setting, storing or
reading a secret is an ImproperlyConfigured error (nothing is derived from
SECRET_KEY, which once had a published development value). A checkout gets a
random key in .env from scripts/env_secrets.py (`make run`, `make test`).
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretDecryptionError(Exception):
    """A stored secret cannot be read: tampered with, truncated, or encrypted
    with a key that is no longer in AE_ENCRYPTION_KEYS."""


def _configured_keys() -> tuple[str, ...]:
    keys = getattr(settings, "AE_ENCRYPTION_KEYS", None) or []
    if isinstance(keys, str):
        keys = keys.split(",")
    return tuple(k.strip() for k in keys if k and k.strip())


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "AE_ENCRYPTION_KEYS is not set, so secrets cannot be stored or read. In a checkout, `make run` "
            "(or `python3 scripts/env_secrets.py`) writes a random key into .env; in a deployment, set one "
            "(`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
        )
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
    return _fernet(_configured_keys())


def encryption_keys_load() -> None:
    """Raise ImproperlyConfigured when AE_ENCRYPTION_KEYS is empty or malformed."""
    _multi_fernet()


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
