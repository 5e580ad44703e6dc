import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from apps.core.crypto import SecretDecryptionError, secret_decrypt, secret_encrypt, secret_rotate


def test_round_trip(settings):
    settings.AE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = secret_encrypt("whsec_clear text é")
    assert "whsec" not in token
    assert secret_decrypt(token) == "whsec_clear text é"
    assert secret_encrypt("same") != secret_encrypt("same")  # random IV: equal secrets do not look equal


@pytest.mark.parametrize("keys", [[], "", " , "])
def test_without_keys_nothing_is_derived_from_secret_key(settings, keys):
    # SECRET_KEY once had a published value; a key derived from it protects nothing.
    settings.AE_ENCRYPTION_KEYS = keys
    with pytest.raises(ImproperlyConfigured, match="AE_ENCRYPTION_KEYS is not set"):
        secret_encrypt("s3cret")
    with pytest.raises(ImproperlyConfigured, match="AE_ENCRYPTION_KEYS is not set"):
        secret_decrypt("gAAAAAB-any-token")


def test_rotation_with_two_keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.AE_ENCRYPTION_KEYS = [old]
    token = secret_encrypt("s3cret")

    settings.AE_ENCRYPTION_KEYS = [new, old]  # new key first: encrypts; old still decrypts
    assert secret_decrypt(token) == "s3cret"
    rotated = secret_rotate(token)
    assert rotated != token
    assert Fernet(new).decrypt(rotated.encode()) == b"s3cret"

    settings.AE_ENCRYPTION_KEYS = [new]  # old key retired: rotated tokens still read, old ones do not
    assert secret_decrypt(rotated) == "s3cret"
    with pytest.raises(SecretDecryptionError, match="AE_ENCRYPTION_KEYS"):
        secret_decrypt(token)
    with pytest.raises(SecretDecryptionError):
        secret_rotate(token)


def test_keys_from_a_comma_separated_string(settings):
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.AE_ENCRYPTION_KEYS = f"{first}, {second}"
    assert Fernet(first).decrypt(secret_encrypt("x").encode()) == b"x"


def test_tampered_token_is_a_clear_error(settings):
    settings.AE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = secret_encrypt("s3cret")
    tampered = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    with pytest.raises(SecretDecryptionError, match="could not be decrypted"):
        secret_decrypt(tampered)
    with pytest.raises(SecretDecryptionError):
        secret_decrypt("not a token at all")
    with pytest.raises(SecretDecryptionError):
        secret_decrypt("café")  # not even ASCII


def test_a_malformed_key_names_its_position_not_its_value(settings):
    settings.AE_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "too-short-key"]
    with pytest.raises(ImproperlyConfigured, match="key 2 is not a Fernet key") as excinfo:
        secret_encrypt("x")
    assert "too-short-key" not in str(excinfo.value)
