#!/usr/bin/env python3
"""Give the checkout its own secrets, once: random SECRET_KEY (Django's signing
key: sessions, CSRF, API tokens) and AE_SECRET_KEKS (the key-encryption key of
the secrets stored in the database, `<id>:<key>`) and AE_DEV_IDP_RSA_KEY (the
development OIDC provider's RSA signing key, PEM base64-encoded on one line;
made by `openssl genpkey`) in `.env`, mode 0600 (ignored by git). An
AE_ENCRYPTION_KEYS line (the Fernet keys of the format before envelope
encryption) is left as it is: it still reads older secrets.

    scripts/env_secrets.py [PATH]      (default: the checkout's .env)

A value already in the file is kept, never overwritten and never printed; only
missing (or empty) ones are written. `make run` and `make test` call it through
scripts/bootstrap.sh. Standard library only: it runs before the virtualenv exists.
"""

import base64
import fcntl
import os
import re
import secrets
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def secret_key_new() -> str:
    return secrets.token_urlsafe(64)


def kek_new() -> str:
    # `<id>:<32 random bytes, url-safe base64>` (apps/core/crypto.py); the id dates the key.
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return f"k{stamp}-{secrets.token_hex(2)}:" + base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def dev_idp_rsa_key_new() -> str:
    # PEM (PKCS#8) of a fresh 2048-bit RSA key, base64 on one line (settings decode it).
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("[secrets] openssl is needed to make the development provider's signing key (apt: openssl)")
    pem = subprocess.run(  # noqa: S603 (fixed arguments, openssl found on PATH)
        [openssl, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        check=True,
        capture_output=True,
    ).stdout
    return base64.b64encode(pem).decode("ascii")


GENERATED = {"SECRET_KEY": secret_key_new, "AE_SECRET_KEKS": kek_new, "AE_DEV_IDP_RSA_KEY": dev_idp_rsa_key_new}
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def _value(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        raw = raw[1:-1]
    return raw.strip()


def env_secrets_ensure(path: Path) -> list[str]:
    """Write the missing secrets into `path`; the names written."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as file:
        # Two `make` runs at once must not both append a key.
        fcntl.flock(file, fcntl.LOCK_EX)
        os.fchmod(file.fileno(), 0o600)  # an older .env may have been readable by others
        lines = file.read().splitlines()
        present, empty = set(), {}
        for index, line in enumerate(lines):
            match = _LINE.match(line)
            if not match or match.group(1) not in GENERATED:
                continue
            name = match.group(1)
            if _value(match.group(2)):
                present.add(name)
            else:
                empty.setdefault(name, index)
        written = [name for name in GENERATED if name not in present]
        if not written:
            return []
        for name in written:
            line = f"{name}={GENERATED[name]()}"
            if name in empty:
                # An empty line would win over an appended one (the first occurrence counts).
                lines[empty[name]] = line
            else:
                lines.append(line)
        file.seek(0)
        file.write("\n".join(lines) + "\n")
        file.truncate()
        return written


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".env"
    written = env_secrets_ensure(path)
    if written:
        print(f"[secrets] wrote a new random {' and '.join(written)} into {path} (mode 0600)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
