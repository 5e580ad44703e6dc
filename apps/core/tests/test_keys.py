"""No known signing or encryption key in any mode (issue #15, item 1): the
settings refuse a missing, short or published SECRET_KEY, the checkout's keys
are random and written once into .env, and a token signed with a key that was
once in the source opens nothing."""

import base64
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from django.conf import settings
from django.utils import timezone

ROOT = Path(__file__).resolve().parents[3]
# Every key this repository ever shipped in its source.
PUBLISHED_KEYS = [
    "insecure-local-development-key-do-not-use-in-production",
    "test-only-secret-key-long-enough-for-hs256-jwt",
    "bench-only-secret-key-not-for-serving",
]


def _load_settings(**env: str) -> subprocess.CompletedProcess:
    """Import the production settings in a fresh interpreter, as `make run` does."""
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    environment.update(DJANGO_SETTINGS_MODULE="analytics_engine.settings.base", **env)
    code = "import django; from django.conf import settings; django.setup(); print(len(settings.SECRET_KEY))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("debug", ["true", "false"])
def test_no_secret_key_is_an_error_even_with_debug_on(debug):
    # An empty variable wins over the checkout's .env: this is a checkout without a key.
    result = _load_settings(SECRET_KEY="", DEBUG=debug)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "env_secrets.py" in result.stderr


@pytest.mark.parametrize("key", [*PUBLISHED_KEYS, "short-but-not-empty"])
@pytest.mark.parametrize("setting", ["SECRET_KEY", "SECRET_KEY_FALLBACKS"])
def test_published_or_short_keys_are_refused(key, setting):
    env = {"SECRET_KEY": "a-random-enough-key-" + "k" * 40, setting: key}
    result = _load_settings(DEBUG="true", **env)
    assert result.returncode != 0
    assert "published or short key" in result.stderr
    assert key not in result.stderr  # the message never echoes a key


def test_test_settings_use_no_published_key():
    assert settings.SECRET_KEY not in PUBLISHED_KEYS
    assert len(settings.SECRET_KEY) >= 32
    assert settings.AE_SECRET_KEKS


@pytest.mark.django_db
@pytest.mark.parametrize("key", PUBLISHED_KEYS)
def test_a_token_signed_with_a_published_key_is_refused(api_client, key):
    from apps.core.tests.factories import MembershipFactory

    admin = MembershipFactory(is_default=True, role="admin", user__is_staff=True, user__is_superuser=True).user
    now = timezone.now()
    claims = {
        "token_type": "access",
        "user_id": str(admin.pk),
        "jti": "forged",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    forged = jwt.encode(claims, key, algorithm="HS256")
    response = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


# --- scripts/env_secrets.py ---------------------------------------------------------


def _run_env_secrets(path: Path) -> subprocess.CompletedProcess:
    # The system python3, as scripts/bootstrap.sh runs it (before the virtualenv exists).
    return subprocess.run(
        ["python3", str(ROOT / "scripts" / "env_secrets.py"), str(path)], capture_output=True, text=True, timeout=60
    )


def _values(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if "=" in line]
    return {name.strip(): value for name, value in pairs}


def test_env_secrets_writes_random_keys_once_with_mode_0600(tmp_path):
    env_file = tmp_path / ".env"
    assert _run_env_secrets(env_file).returncode == 0
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    first = _values(env_file)
    assert len(first["SECRET_KEY"]) >= 50
    assert first["SECRET_KEY"] not in PUBLISHED_KEYS
    from apps.core.crypto import _keks

    assert len(_keks((first["AE_SECRET_KEKS"],))) == 1  # one valid `<id>:<key>` entry
    # The development provider's signing key: a 2048-bit RSA private key, PEM in base64.
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    assert load_pem_private_key(base64.b64decode(first["AE_DEV_IDP_RSA_KEY"]), password=None).key_size == 2048

    result = _run_env_secrets(env_file)  # again: nothing changes
    assert result.returncode == 0 and result.stderr == ""
    assert _values(env_file) == first

    other = tmp_path / "other.env"
    _run_env_secrets(other)
    assert _values(other)["SECRET_KEY"] != first["SECRET_KEY"]  # random, per checkout
    assert _values(other)["AE_SECRET_KEKS"] != first["AE_SECRET_KEKS"]
    assert _values(other)["AE_DEV_IDP_RSA_KEY"] != first["AE_DEV_IDP_RSA_KEY"]


def test_env_secrets_keeps_existing_values_and_fills_empty_ones(tmp_path):
    env_file = tmp_path / ".env"
    own = 'export SECRET_KEY="my-own-key-that-is-long-enough-0123456789"'
    env_file.write_text(f"# mine\nDEBUG=true\n{own}\nAE_ENCRYPTION_KEYS=legacy\nAE_SECRET_KEKS=\n")
    env_file.chmod(0o644)
    result = _run_env_secrets(env_file)
    assert result.returncode == 0
    assert "AE_SECRET_KEKS" in result.stderr and "SECRET_KEY" not in result.stderr
    lines = env_file.read_text().splitlines()
    assert lines[:4] == ["# mine", "DEBUG=true", own, "AE_ENCRYPTION_KEYS=legacy"]  # legacy keys left alone
    # The empty line is replaced in place (the first occurrence of a name wins when .env is read).
    assert lines[4].startswith("AE_SECRET_KEKS=") and len(lines[4]) > len("AE_SECRET_KEKS=") + 40
    assert lines[5].startswith("AE_DEV_IDP_RSA_KEY=")  # the missing one appended
    assert len(lines) == 6
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # tightened


def test_the_checkout_env_file_is_ignored_by_git():
    result = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, timeout=30)
    assert result.returncode == 0
