"""`manage.py check --deploy` with the production settings behind TLS gives no
warning at all (issue #15, item 1), and an empty AE_SECRET_KEKS is an error."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _check_deploy(**env: str) -> subprocess.CompletedProcess:
    # The test run's own switches (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE) are
    # not a deployment's: the check sees what a production environment would have.
    # AE_DEV_IDP_ENABLED: `make run`'s development sign-in provider, never a deployment's.
    test_only = ("DJANGO_SETTINGS_MODULE", "SECURE_HSTS_PRELOAD", "DJANGO_ALLOW_ASYNC_UNSAFE", "AE_DEV_IDP_ENABLED")
    environment = {k: v for k, v in os.environ.items() if k not in test_only}
    environment.update(
        DJANGO_SETTINGS_MODULE="analytics_engine.settings.base",
        SECURE_HTTPS="true",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        AE_SECRET_KEKS="k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode(),
    )
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_check_deploy_gives_no_warning():
    result = _check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_fails_without_encryption_keys():
    result = _check_deploy(AE_SECRET_KEKS="")
    assert result.returncode != 0
    assert "core.E001" in result.stderr and "AE_SECRET_KEKS is not set" in result.stderr


def test_check_deploy_names_a_malformed_kek_by_position_never_by_value():
    key = base64.urlsafe_b64encode(os.urandom(16)).decode()  # 16 bytes: too short for AES-256
    result = _check_deploy(AE_SECRET_KEKS=f"k2:{key},k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode())
    assert result.returncode != 0
    assert "the key of entry 1 ('k2') is not 32" in result.stderr and key not in result.stderr
