"""The development provider's signing key in the form settings read: a PEM RSA
private key, base64-encoded on one line (an environment variable holds no
newlines). scripts/env_secrets.py makes one with openssl for `.env`; the test
settings make one per run with this (no key is ever committed)."""

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def rsa_private_key_new_b64() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return base64.b64encode(pem).decode("ascii")
