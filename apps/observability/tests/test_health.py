import json
import socket

import pytest
from django.db import connection
from django_guid import set_guid

from apps.observability.tasks import worker_probe

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health_ok_with_every_dependency_up(client, celery_worker_process):
    response = client.get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["timescaledb"]["license"] == "apache"
    assert body["checks"]["timescaledb"]["version"][0].isdigit()
    assert body["checks"]["redis"]["status"] == "ok"
    assert any(name.startswith("test-") for name in body["checks"]["worker"]["workers"])
    assert body["checks"]["messaging"]["status"] == "ok"
    assert "failed" not in body


def test_health_is_503_naming_redis_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["failed"] == ["redis", "worker", "messaging"]
    assert "refused" in body["checks"]["redis"]["error"].lower()
    assert body["checks"]["database"]["status"] == "ok"


def test_health_is_503_naming_the_database_when_it_is_unreachable(client, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "PORT", str(_closed_port()))
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"][:2] == ["database", "timescaledb"]
    assert body["checks"]["timescaledb"]["error"] == "database unavailable"
    assert body["checks"]["redis"]["status"] == "ok"


def test_health_is_503_naming_the_worker_when_none_answers(client, settings):
    # A broker database no worker listens on: Redis is up, nobody answers.
    settings.CELERY_BROKER_URL = settings.REDIS_URL.rsplit("/", 1)[0] + "/10"
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["worker"]
    assert body["checks"]["worker"]["error"] == "no Celery worker answered the ping"


def test_task_round_trip_through_a_real_worker_keeps_the_correlation_id(celery_worker_process):
    set_guid("corr-round-trip-1")
    try:
        answer = worker_probe.delay().get(timeout=30)
    finally:
        set_guid(None)
    assert answer["database"] == "ok"
    assert answer["correlation_id"] == "corr-round-trip-1"

    lines = [json.loads(line) for line in celery_worker_process.read_text().splitlines() if line.startswith("{")]
    probe_lines = [line for line in lines if line["message"] == "worker probe answered"]
    assert probe_lines and probe_lines[-1]["correlation_id"] == "corr-round-trip-1"


def test_system_health_api_deep_check_runs_a_task(auth_client, api_client, celery_worker_process):
    response = auth_client.get("/api/v1/system/health/?deep=1")
    assert response.status_code == 200, response.content
    roundtrip = response.json()["checks"]["worker_roundtrip"]
    assert roundtrip["status"] == "ok"
    assert roundtrip["database"] == "ok"
    assert response.json()["runtime"]["django"].startswith("5.")


def test_system_health_api_requires_authentication(api_client):
    assert api_client.get("/api/v1/system/health").status_code == 401


def test_health_runs_the_checks_other_apps_register_while_enabled(client, monkeypatch, celery_worker_process):
    # How the lakehouse check (and any app's) reaches /health
    # without observability importing it: the registry in apps.core.health.
    from apps.core import health as registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    state = {"enabled": False, "up": True}

    def check_thing() -> dict:
        if not state["up"]:
            raise ConnectionError("thing refused the connection")
        return {"status": "ok", "detail": 42}

    registry.health_check_register("thing", check_thing, enabled=lambda: state["enabled"])
    assert "thing" not in client.get("/health").json()["checks"]

    state["enabled"] = True
    response = client.get("/health")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["thing"] == {"status": "ok", "detail": 42}

    state["up"] = False
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failed"] == ["thing"]
    assert response.json()["checks"]["thing"]["error"] == "ConnectionError: thing refused the connection"
