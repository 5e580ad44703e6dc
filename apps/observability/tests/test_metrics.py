"""GET /metrics: Prometheus text merged from every process, and who may read it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "scrape-token-0123456789"

# What a worker or consumer process does: load the settings (which export
# PROMETHEUS_MULTIPROC_DIR), declare a metric, count.
_CHILD = """
import django
django.setup()
from prometheus_client import Counter, Histogram
Counter("ae_test_archived_chunks", "Chunks archived (test)", ["table"]).labels(table="metric_history").inc(3)
Histogram("ae_test_archive_seconds", "Archive duration (test)").observe(0.2)
"""


@pytest.fixture
def multiproc_dir(settings, tmp_path):
    settings.PROMETHEUS_MULTIPROC_DIR = tmp_path
    return tmp_path


def _count_in_a_subprocess(directory: Path) -> None:
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="analytics_engine.settings.test", PROMETHEUS_MULTIPROC_DIR=str(directory)
    )
    subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, env=env, check=True, timeout=60)


def test_a_counter_incremented_in_another_process_is_exposed(client, settings, multiproc_dir):
    settings.METRICS_TOKEN = TOKEN
    _count_in_a_subprocess(multiproc_dir)
    _count_in_a_subprocess(multiproc_dir)  # a second process: counts add up

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")  # the exposition format
    text = response.content.decode()
    assert 'ae_test_archived_chunks_total{table="metric_history"} 6.0' in text
    assert "ae_test_archive_seconds_count 2.0" in text
    # This process's own resource usage comes along.
    assert "process_resident_memory_bytes" in text
    assert "python_info" in text


def test_the_scraper_token_is_required_when_configured(client, settings, multiproc_dir):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 401
    # With a token configured, even a staff session is not enough: one credential, the scraper's.
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_without_a_token_only_staff_may_read_metrics(client, settings, multiproc_dir):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 401

    member = UserFactory()
    staff = UserFactory(is_staff=True)
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(member)}").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(staff)}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-a-jwt").status_code == 401

    client.force_login(member)
    assert client.get("/metrics").status_code == 403
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200
