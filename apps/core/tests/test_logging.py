import io
import json
import logging

import pytest


@pytest.mark.django_db
def test_log_lines_are_json_and_carry_the_request_correlation_id(client):
    """The configured console handler (settings.LOGGING) writes JSON with the
    correlation id of the request that caused the line."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        client.get("/api/v1/definitely-missing/", HTTP_X_CORRELATION_ID="trace-me-7")
    finally:
        handler.setStream(previous)

    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    not_found = [line for line in lines if "definitely-missing" in line["message"]]
    assert not_found, lines
    assert not_found[0]["correlation_id"] == "trace-me-7"
    assert not_found[0]["level"] == "WARNING"
    assert not_found[0]["logger"] == "django.request"
