"""Every management command the docs name runs as documented in a checkout
where `make run` works (issue #14, item 10): no SECRET_KEY in the environment,
only the checkout's .env that `make run` writes, the production settings, and
DEBUG off. For each: `--help`, then one real invocation against the test
database (the demo client, as `make run` loads it)."""

import json
import os
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.db import connection
from psycopg import sql

from apps.connectors.tests.source_servers import mariadb_database_drop

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A command may wrap onto the next line in prose; `manage.py` above a folder
# name in a layout tree (`analytics_engine/`) is no command.
COMMAND = re.compile(r"manage\.py\s+([a-z][a-z0-9_]*)(?![\w/])")
# The commands' Redis: a database of their own, emptied afterwards, so nothing
# they queue or publish reaches a later test's worker or consumers.
COMMANDS_REDIS_DB = 11


def _documented_commands() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in DOCS:
        for match in COMMAND.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(1), []).append(path.name)
    return found


DOCUMENTED = _documented_commands()


def test_the_docs_name_commands_and_run_them_with_the_virtualenv():
    assert {"archive_restore", "run_consumers", "demo_bootstrap", "migrate"} <= set(DOCUMENTED)
    # `python manage.py` is the system interpreter in a `make run` checkout: no Django there.
    bare = [
        f"{path.name}: {match.group(0)!r}"
        for path in DOCS
        for match in re.finditer(r"(?<![/\w])python3?\s+manage\.py", path.read_text(encoding="utf-8"))
    ]
    assert bare == []


@pytest.fixture(scope="module")
def checkout_env(django_db_setup, django_db_blocker):
    """The environment of a `make run` shell: the checkout's .env (written the
    way `make run` writes it), no keys in the environment, base settings;
    pointed at the test database and a Redis database of its own."""
    subprocess.run(["python3", "scripts/env_secrets.py"], cwd=ROOT, check=True, timeout=60)
    db = settings.DATABASES["default"]
    parts = urlsplit(settings.DATABASE_URL)
    redis_url = settings.REDIS_URL.rsplit("/", 1)[0] + f"/{COMMANDS_REDIS_DB}"
    drop = {
        "SECRET_KEY",
        "AE_SECRET_KEKS",
        "AE_ENCRYPTION_KEYS",
        "DJANGO_SETTINGS_MODULE",
        "DEBUG",
        "CELERY_BROKER_URL",
    }
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        DATABASE_URL=urlunsplit((parts.scheme, parts.netloc, "/" + db["NAME"], parts.query, parts.fragment)),
        REDIS_URL=redis_url,
        # As in the test settings: no side work queued for a later test's worker.
        AE_ROLLUPS_AUTO="false",
        AE_LIVE_RECALCULATE="false",
        # The demo's source database (demo_bootstrap -> sources_demo) under a name of its own, dropped after.
        SOURCES_DEMO_DATABASE=f"demo_cmd_{uuid.uuid4().hex[:12]}",
    )
    yield env
    redis.Redis.from_url(redis_url).flushdb()
    mariadb_database_drop(env["SOURCES_DEMO_DATABASE"])


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    assert "SECRET_KEY" not in result.stderr
    return result.stdout


# `manage.py <command> --help` for each command, in ONE interpreter (Django
# set up once, as manage.py does it; each help is what `manage.py` prints):
# a process per command cost the suite about 3 s each.
_HELPS = """
import contextlib, io, json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_engine.settings.base")  # as manage.py
from django.core.management import ManagementUtility
helps = {}
for command in json.loads(sys.stdin.read()):
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            ManagementUtility(["manage.py", command, "--help"]).execute()
        except SystemExit as exc:
            code = exc.code or 0
    helps[command] = [code, out.getvalue()]
print(json.dumps(helps))
"""


def test_help_of_every_documented_command(checkout_env):
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", _HELPS],
        cwd=ROOT, env=checkout_env, input=json.dumps(sorted(DOCUMENTED)), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    helps = json.loads(_ok(result).strip().splitlines()[-1])
    failed = {
        command: out[:300]
        for command, (code, out) in helps.items()
        if code != 0 or not out.startswith("usage: manage.py " + command)
    }
    assert sorted(helps) == sorted(DOCUMENTED) and failed == {}, failed


def _client_tables(client_id: int, *, hypertables: bool = False) -> list[str]:
    view, column = ("timescaledb_information", "hypertable") if hypertables else ("information_schema", "table")
    statement = sql.SQL("SELECT {name} FROM {view} WHERE {schema} = %s AND {name} LIKE %s ORDER BY 1").format(
        name=sql.Identifier(f"{column}_name"),
        view=sql.Identifier(view, column + "s"),
        schema=sql.Identifier(f"{column}_schema"),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [settings.ANALYTICS_SCHEMA, f"c{client_id}\\_%"])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_one_real_invocation_of_every_documented_command(checkout_env, tmp_path):
    from apps.core.selectors import client_id_for_code

    invoked = set()

    def run(command: str, *args: str) -> str:
        invoked.add(command)
        return _ok(_manage(checkout_env, command, *args))

    assert "No planned migration operations." in run("migrate", "--plan")
    run("check", "--deploy")  # errors (an empty AE_SECRET_KEKS, say) would fail it
    # What `make run` does: the demo client, its admin and the demo scenarios' data.
    assert "demo client 'demo' ready" in run("demo_bootstrap")
    client_id = client_id_for_code(code="demo")
    tables = _client_tables(client_id, hypertables=True)
    try:
        assert tables, "the demo data made no hypertable"
        table = tables[0]
        assert "demo data" in run("simulation_demo", "--client", "demo")  # again: skipped, data present
        entity = table.removeprefix(f"c{client_id}_")
        assert "class " in run("generate_artifacts", "--client", "demo", "--entity", entity)
        out = tmp_path / "artifacts"
        run("generate_artifacts", "--client", "demo", "--output", str(out))
        assert (out / "models.py").is_file() and (out / "ddl.sql").is_file()
        assert "calculations" in run("run_consumers", "--list")
        policies = tmp_path / "retention.json"
        policies.write_text(json.dumps({"policies": [{"table": table, "keep_for": "3650 days", "active": False}]}))
        assert "1 created" in run("retention_load", str(policies))
        start = datetime(2000, 1, 1, tzinfo=UTC)
        assert "0 rows restored" in run(
            "archive_restore",
            "--table",
            table,
            "--start",
            start.isoformat(),
            "--end",
            (start + timedelta(days=1)).isoformat(),
        )
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        assert "seconds recomputed" in run("streams_aggregator_rebuild", "--client", "demo", "--since", since)
        # security.md ("Secrets at rest"): rewrapping every stored secret under the newest KEK, twice (idempotent).
        for _ in range(2):
            rotated = run("secrets_rotate").strip().splitlines()
            assert rotated[0].startswith("rewrapping stored secrets under key 'k")  # the id env_secrets.py made
            assert any(line.startswith("messaging.Subscription.secret_encrypted: ") for line in rotated)
            assert rotated[-1].endswith(" secrets rotated, 0 unreadable")
        # identity.md ("The development provider"): seeding it, with the provider on as `make run` has it.
        seeded = _ok(_manage({**checkout_env, "AE_DEV_IDP_ENABLED": "true"}, "idp_seed", "--client", "demo"))
        invoked.add("idp_seed")
        assert "development provider 'Contoso (development)'" in seeded
        if "axes_reset_username" in DOCUMENTED:  # lifting a sign-in lockout (docs/console.md)
            out = run("axes_reset_username", "nobody-locked-out")
            assert "No attempts found." in out or "attempts removed." in out
    finally:
        with connection.cursor() as cursor:  # the flush after the test empties the platform's tables, not these
            for name in _client_tables(client_id) if client_id else []:
                cursor.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(settings.ANALYTICS_SCHEMA, name))
                )
    assert invoked == set(DOCUMENTED), "a documented command has no real invocation here"
