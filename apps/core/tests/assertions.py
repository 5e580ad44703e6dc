"""Assertions every app's API tests share."""

from collections.abc import Iterable


def assert_error(response, status: int | None = None, code: str | None = None, *, mentions: Iterable[str] = ()) -> dict:
    """`response` is the API's one error shape, {"error": {"code", "message",
    "details"}} and nothing else: a non-empty code and message, a dict of details.
    With `status` and `code`, those too; every one of `mentions` is in the message
    (any case). Returns the `error` object for the test's own further checks."""
    if status is not None:
        assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["details"], dict), body
    if code is not None:
        assert error["code"] == code, body
    for needle in mentions:
        assert needle.lower() in error["message"].lower(), (needle, body)
    return error
