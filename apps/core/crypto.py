"""Secrets encrypted at rest (webhook secrets, threshold webhook URLs, and
every credential to come), by envelope encryption (docs/security.md, "Secrets
at rest").

Each secret gets a fresh random 256-bit data key; AES-256-GCM encrypts the
secret under it with the caller's *purpose* as associated data
("<app>.<model>.<field>"), so a ciphertext copied into another field does not
decrypt. The data key is wrapped (AES-256-GCM, its own nonce) by a
key-encryption key (KEK) from `AE_SECRET_KEKS`, named by its id in the
envelope:

    v2:<kid>:<base64url(wrap nonce 12 | wrapped data key 48 | data nonce 12 | ciphertext+tag)>

`AE_SECRET_KEKS` lists `<kid>:<base64url 32-byte key>` entries, newest first:
the first wraps, every listed one unwraps. Rotation (`manage.py
secrets_rotate`) rewraps only the data key under the newest KEK; then the old
KEK can be removed. Tokens of the previous format (Fernet, under
`AE_ENCRYPTION_KEYS`) still decrypt, and rotation re-encrypts them in this
format. There is no fallback: without KEKs, storing or reading a secret is an
ImproperlyConfigured error (nothing is derived from SECRET_KEY). A checkout
gets a random KEK in .env from scripts/env_secrets.py.
"""

import base64
import binascii
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

VERSION = "v2"
KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_NONCE = 12
_KEY = 32
_WRAPPED = _KEY + 16  # the data key and its GCM tag
_GENERATE = "python3 -c 'import base64, os; print(\"k1:\" + base64.urlsafe_b64encode(os.urandom(32)).decode())'"


class SecretDecryptionError(Exception):
    """A stored secret cannot be read: tampered with, truncated, stored for
    another purpose (field), or wrapped by a key that is no longer listed."""


@dataclass(frozen=True)
class Kek:
    kid: str
    aead: AESGCM


def _listed(name: str) -> tuple[str, ...]:
    values = getattr(settings, name, None) or []
    if isinstance(values, str):
        values = values.split(",")
    return tuple(v.strip() for v in values if v and v.strip())


@lru_cache(maxsize=8)
def _keks(entries: tuple[str, ...]) -> tuple[Kek, ...]:
    if not entries:
        raise ImproperlyConfigured(
            "AE_SECRET_KEKS is not set, so secrets cannot be stored or read. In a checkout, `make run` "
            "(or `python3 scripts/env_secrets.py`) writes a random key into .env; in a deployment, set "
            f"`<id>:<32 random bytes, url-safe base64>` (`{_GENERATE}`)."
        )
    keks, seen = [], set()
    for position, entry in enumerate(entries, start=1):
        kid, _, encoded = entry.partition(":")
        kid = kid.strip()
        # Name the position (and the id, which is no secret), never the key.
        if not KID.match(kid) or not encoded:
            raise ImproperlyConfigured(
                f"AE_SECRET_KEKS: entry {position} is not `<id>:<key>` (an id of 1-32 letters, digits, '-' or '_')."
            )
        if kid in seen:
            raise ImproperlyConfigured(f"AE_SECRET_KEKS: entry {position} repeats the id {kid!r}.")
        try:
            raw = base64.urlsafe_b64decode(encoded.strip().encode("ascii"))
        except (binascii.Error, UnicodeError):
            raw = b""
        if len(raw) != _KEY:
            raise ImproperlyConfigured(
                f"AE_SECRET_KEKS: the key of entry {position} ({kid!r}) is not 32 url-safe base64-encoded bytes "
                f"(make one with `{_GENERATE}`)."
            )
        seen.add(kid)
        keks.append(Kek(kid=kid, aead=AESGCM(raw)))
    return tuple(keks)


def _configured_keks() -> tuple[Kek, ...]:
    return _keks(_listed("AE_SECRET_KEKS"))


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet | None:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"AE_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 url-safe base64-encoded bytes). "
                "These keys only read secrets stored before envelope encryption; run `manage.py secrets_rotate`, "
                "then remove them."
            ) from exc
    return MultiFernet(fernets) if fernets else None


def _legacy_fernet() -> MultiFernet | None:
    return _fernet(_listed("AE_ENCRYPTION_KEYS"))


def encryption_keys_load() -> None:
    """Raise ImproperlyConfigured when AE_SECRET_KEKS is empty or malformed
    (or AE_ENCRYPTION_KEYS, the legacy keys, is malformed)."""
    _configured_keks()
    _legacy_fernet()


def kek_current_id() -> str:
    """The id of the KEK that wraps new data keys (the first listed)."""
    return _configured_keks()[0].kid


def _purpose_bytes(purpose: str) -> bytes:
    if not purpose:
        raise ValueError("A secret needs a purpose (e.g. 'messaging.subscription.secret_encrypted').")
    return purpose.encode()


def _wrap_aad(kid: str) -> bytes:
    return f"ae-data-key:{VERSION}:{kid}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _envelope(kek: Kek, data_key: bytes, rest: bytes) -> str:
    wrap_nonce = os.urandom(_NONCE)
    wrapped = kek.aead.encrypt(wrap_nonce, data_key, _wrap_aad(kek.kid))
    return f"{VERSION}:{kek.kid}:{_b64(wrap_nonce + wrapped + rest)}"


def secret_encrypt_bytes(data: bytes, *, purpose: str) -> str:
    """Encrypt `data` for `purpose` under a fresh data key wrapped by the newest
    KEK; the envelope is ASCII, safe for a text column (sensitive files too)."""
    kek = _configured_keks()[0]
    aad = _purpose_bytes(purpose)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE)
    ciphertext = AESGCM(data_key).encrypt(nonce, bytes(data), aad)
    return _envelope(kek, data_key, nonce + ciphertext)


def secret_encrypt(text: str, *, purpose: str) -> str:
    """`secret_encrypt_bytes` of a text (UTF-8)."""
    return secret_encrypt_bytes(text.encode(), purpose=purpose)


_UNREADABLE = (
    "The stored secret could not be decrypted: it was altered, it belongs to another field, or its key is "
    "no longer listed in AE_SECRET_KEKS (or AE_ENCRYPTION_KEYS, for a secret stored before envelope encryption)."
)


def _open(token: str) -> tuple[str, bytes, bytes]:
    """The envelope's KEK id, its unwrapped data key and the rest (nonce + ciphertext)."""
    keks = _configured_keks()
    try:
        version, kid, body = token.split(":", 2)
        raw = _unb64(body)
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise SecretDecryptionError(_UNREADABLE) from exc
    if version != VERSION or len(raw) < _NONCE + _WRAPPED + _NONCE + 16:
        raise SecretDecryptionError(_UNREADABLE)
    kek = next((k for k in keks if k.kid == kid), None)
    if kek is None:
        raise SecretDecryptionError(f"{_UNREADABLE} (The envelope names the key id {kid!r}.)")
    try:
        data_key = kek.aead.decrypt(raw[:_NONCE], raw[_NONCE : _NONCE + _WRAPPED], _wrap_aad(kid))
    except InvalidTag as exc:
        raise SecretDecryptionError(_UNREADABLE) from exc
    return kid, data_key, raw[_NONCE + _WRAPPED :]


def _is_envelope(token: str) -> bool:
    return token.startswith(f"{VERSION}:")


def _legacy_decrypt(token: str) -> bytes:
    fernet = _legacy_fernet()
    if fernet is None:
        raise SecretDecryptionError(_UNREADABLE)
    try:
        return fernet.decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError) as exc:
        raise SecretDecryptionError(_UNREADABLE) from exc


def secret_decrypt_bytes(token: str, *, purpose: str) -> bytes:
    """The clear bytes of an envelope made for `purpose` under any listed KEK
    (or of a legacy Fernet token, which has no purpose)."""
    aad = _purpose_bytes(purpose)
    if not _is_envelope(token):
        _configured_keks()  # no KEKs is a configuration error, whatever the token
        return _legacy_decrypt(token)
    _kid, data_key, rest = _open(token)
    try:
        return AESGCM(data_key).decrypt(rest[:_NONCE], rest[_NONCE:], aad)
    except InvalidTag as exc:
        raise SecretDecryptionError(_UNREADABLE) from exc


def secret_decrypt(token: str, *, purpose: str) -> str:
    """The clear text of an envelope made by `secret_encrypt` for `purpose`."""
    try:
        return secret_decrypt_bytes(token, purpose=purpose).decode()
    except UnicodeError as exc:
        raise SecretDecryptionError(_UNREADABLE) from exc


def secret_is_current(token: str) -> bool:
    """Whether `token` is an envelope wrapped by the newest KEK (nothing to rotate)."""
    return _is_envelope(token) and token.split(":", 2)[1] == kek_current_id()


def secret_rotate(token: str, *, purpose: str) -> str:
    """The same secret under the newest KEK: an envelope only has its data key
    rewrapped (the ciphertext is kept); a legacy Fernet token is decrypted and
    encrypted anew. Unchanged when already current."""
    if not _is_envelope(token):
        return secret_encrypt_bytes(_legacy_decrypt(token), purpose=purpose)
    # Check the purpose (also of a current envelope), so a misplaced token is reported, not carried on.
    secret_decrypt_bytes(token, purpose=purpose)
    if secret_is_current(token):
        return token
    _kid, data_key, rest = _open(token)
    return _envelope(_configured_keks()[0], data_key, rest)
