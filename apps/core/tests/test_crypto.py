"""Envelope encryption of stored secrets (issue #17, item 9): a fresh AES-GCM
data key per secret, bound to its field, wrapped by a rotatable KEK; the
legacy Fernet tokens still read and are rewritten by rotation."""

import base64
import os

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from apps.core.crypto import (
    SecretDecryptionError,
    kek_current_id,
    secret_decrypt,
    secret_decrypt_bytes,
    secret_encrypt,
    secret_encrypt_bytes,
    secret_is_current,
    secret_rotate,
)

PURPOSE = "messaging.subscription.secret_encrypted"


def kek(kid: str) -> str:
    return f"{kid}:" + base64.urlsafe_b64encode(os.urandom(32)).decode()


def _unpadded(body: str) -> bytes:
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_round_trip_in_the_versioned_format(settings):
    settings.AE_SECRET_KEKS = [kek("k1")]
    token = secret_encrypt("whsec_clear text é", purpose=PURPOSE)
    version, kid, body = token.split(":", 2)
    assert (version, kid) == ("v2", "k1")
    # wrap nonce 12 + wrapped data key 48 + data nonce 12 + ciphertext + tag 16
    assert len(_unpadded(body)) == 12 + 48 + 12 + len("whsec_clear text é".encode()) + 16
    assert "whsec" not in token
    assert secret_decrypt(token, purpose=PURPOSE) == "whsec_clear text é"
    assert secret_encrypt("same", purpose=PURPOSE) != secret_encrypt("same", purpose=PURPOSE)  # fresh key, nonce


def test_a_ciphertext_copied_to_another_field_does_not_decrypt(settings):
    settings.AE_SECRET_KEKS = [kek("k1")]
    token = secret_encrypt("https://hooks.example/SECRET", purpose="calculations.thresholdrule.webhook_url_encrypted")
    with pytest.raises(SecretDecryptionError, match="belongs to another field"):
        secret_decrypt(token, purpose=PURPOSE)
    with pytest.raises(SecretDecryptionError):
        secret_rotate(token, purpose=PURPOSE)  # nor is it carried on by a rotation


def test_rotation_of_the_kek_without_downtime(settings):
    first, second = kek("k1"), kek("k2")
    settings.AE_SECRET_KEKS = [first]
    token = secret_encrypt("s3cret", purpose=PURPOSE)

    settings.AE_SECRET_KEKS = [second, first]  # KEK2 in front: wraps new keys; KEK1 still unwraps
    assert secret_decrypt(token, purpose=PURPOSE) == "s3cret"
    assert kek_current_id() == "k2" and not secret_is_current(token)
    assert secret_encrypt("new", purpose=PURPOSE).startswith("v2:k2:")
    rotated = secret_rotate(token, purpose=PURPOSE)
    assert rotated.startswith("v2:k2:") and secret_is_current(rotated)
    # Only the data key was rewrapped: the data nonce and ciphertext are the same bytes.
    assert _unpadded(rotated.split(":", 2)[2])[60:] == _unpadded(token.split(":", 2)[2])[60:]
    assert secret_rotate(rotated, purpose=PURPOSE) == rotated  # idempotent

    settings.AE_SECRET_KEKS = [second]  # KEK1 removed: rotated envelopes still read, unrotated ones do not
    assert secret_decrypt(rotated, purpose=PURPOSE) == "s3cret"
    with pytest.raises(SecretDecryptionError, match="'k1'"):
        secret_decrypt(token, purpose=PURPOSE)


@pytest.mark.parametrize("position", [3, 10, 40, 70, -1])  # in the wrap nonce, wrapped key, data nonce, ciphertext, tag
def test_a_tampered_byte_is_a_clear_error(settings, position):
    settings.AE_SECRET_KEKS = [kek("k1")]
    token = secret_encrypt("s3cret, long enough to reach byte seventy", purpose=PURPOSE)
    prefix, body = token.rsplit(":", 1)
    raw = bytearray(_unpadded(body))
    raw[position] ^= 0x01
    tampered = f"{prefix}:{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    with pytest.raises(SecretDecryptionError, match="could not be decrypted"):
        secret_decrypt(tampered, purpose=PURPOSE)


@pytest.mark.parametrize("token", ["not a token at all", "café", "v2:k1:", "v2:k1:!!!", "v3:k1:AAAA", ""])
def test_garbage_is_a_clear_error(settings, token):
    settings.AE_SECRET_KEKS = [kek("k1")]
    with pytest.raises(SecretDecryptionError):
        secret_decrypt(token, purpose=PURPOSE)


def test_a_legacy_fernet_token_is_read_and_rotated_into_an_envelope(settings):
    legacy_key = Fernet.generate_key().decode()
    token = Fernet(legacy_key).encrypt(b"old secret").decode()  # as stored before envelope encryption
    settings.AE_SECRET_KEKS = [kek("k1")]
    settings.AE_ENCRYPTION_KEYS = f"{Fernet.generate_key().decode()}, {legacy_key}"  # a string, as from env
    assert secret_decrypt(token, purpose=PURPOSE) == "old secret"
    assert not secret_is_current(token)
    rotated = secret_rotate(token, purpose=PURPOSE)
    assert rotated.startswith("v2:k1:")

    settings.AE_ENCRYPTION_KEYS = []  # legacy keys removed after the rotation
    assert secret_decrypt(rotated, purpose=PURPOSE) == "old secret"
    with pytest.raises(SecretDecryptionError, match="AE_ENCRYPTION_KEYS"):
        secret_decrypt(token, purpose=PURPOSE)


@pytest.mark.parametrize("keks", [[], "", " , "])
def test_without_keks_nothing_is_derived_from_secret_key(settings, keks):
    # SECRET_KEY once had a published value; a key derived from it protects nothing.
    settings.AE_SECRET_KEKS = keks
    settings.AE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # legacy keys alone are not enough
    with pytest.raises(ImproperlyConfigured, match="AE_SECRET_KEKS is not set"):
        secret_encrypt("s3cret", purpose=PURPOSE)
    with pytest.raises(ImproperlyConfigured, match="AE_SECRET_KEKS is not set"):
        secret_decrypt("gAAAAAB-any-token", purpose=PURPOSE)
    with pytest.raises(ImproperlyConfigured, match="AE_SECRET_KEKS is not set"):
        secret_decrypt("v2:k1:AAAA", purpose=PURPOSE)


def test_keks_from_a_comma_separated_string(settings):
    settings.AE_SECRET_KEKS = f"{kek('k2')}, {kek('k1')}"
    assert secret_encrypt("x", purpose=PURPOSE).startswith("v2:k2:")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("no-id-separator", "entry 2 is not `<id>:<key>`"),
        ("bad id!:" + base64.urlsafe_b64encode(os.urandom(32)).decode(), "entry 2 is not `<id>:<key>`"),
        ("k9:" + base64.urlsafe_b64encode(os.urandom(16)).decode(), r"the key of entry 2 \('k9'\) is not 32"),
        ("k9:not*base64", r"the key of entry 2 \('k9'\) is not 32"),
    ],
)
def test_a_malformed_kek_names_its_position_not_its_value(settings, entry, message):
    settings.AE_SECRET_KEKS = [kek("k1"), entry]
    with pytest.raises(ImproperlyConfigured, match=message) as excinfo:
        secret_encrypt("x", purpose=PURPOSE)
    assert entry.partition(":")[2] not in str(excinfo.value) or not entry.partition(":")[2]


def test_a_repeated_kek_id_is_refused(settings):
    settings.AE_SECRET_KEKS = [kek("k1"), kek("k1")]
    with pytest.raises(ImproperlyConfigured, match="entry 2 repeats the id 'k1'"):
        secret_encrypt("x", purpose=PURPOSE)


def test_a_malformed_legacy_key_names_its_position(settings):
    settings.AE_SECRET_KEKS = [kek("k1")]
    settings.AE_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "too-short-key"]
    with pytest.raises(ImproperlyConfigured, match="key 2 is not a Fernet key") as excinfo:
        secret_decrypt("gAAAAAB-legacy", purpose=PURPOSE)
    assert "too-short-key" not in str(excinfo.value)


def test_a_purpose_is_required(settings):
    settings.AE_SECRET_KEKS = [kek("k1")]
    with pytest.raises(ValueError, match="purpose"):
        secret_encrypt("x", purpose="")


def test_bytes_such_as_a_sensitive_file_round_trip_and_rotate(settings):
    first, second = kek("k1"), kek("k2")
    settings.AE_SECRET_KEKS = [first]
    data = bytes(range(256)) * 40  # not UTF-8
    token = secret_encrypt_bytes(data, purpose="core.artifact.content")
    assert token.isascii() and secret_decrypt_bytes(token, purpose="core.artifact.content") == data
    with pytest.raises(SecretDecryptionError):
        secret_decrypt(token, purpose="core.artifact.content")  # not a text: a clear error, no UnicodeError
    settings.AE_SECRET_KEKS = [second, first]
    rotated = secret_rotate(token, purpose="core.artifact.content")  # rewrapped without decoding
    settings.AE_SECRET_KEKS = [second]
    assert rotated.startswith("v2:k2:") and secret_decrypt_bytes(rotated, purpose="core.artifact.content") == data
