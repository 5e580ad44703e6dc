"""Browser fixtures: Playwright driving Debian's Chromium (`browser`, `page`)
and `signed_in_page`, which opens a page of a running server already signed
in as a user (a real session, made as the login view makes it), so a test of
some page does not go through the login form each time.

Servers: `live_server` (WSGI, no WebSockets) or `asgi_server` (daphne, with
/ws/; conftest.py at the root). Either way mark the test
`django_db(transaction=True)` so the server sees the rows the test writes."""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes around it are ordinary synchronous ones. Only while the browser
    # lives: later tests' subprocesses must not inherit the switch (check --deploy
    # rightly refuses it).
    earlier = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _chromium(sync_playwright)
    finally:
        if earlier is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = earlier


def _chromium(sync_playwright):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as tests/artifacts/<name>.png (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # sticky bars belong at the top of a full-page shot
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def signed_in_page(browser) -> Callable:
    """`signed_in_page(base_url, user, path="/", color_scheme="light", viewport=DESKTOP)`:
    a new browser context holding a session of `user`, on `base_url + path`.
    The page collects JavaScript errors in `page.js_errors` (uncaught
    exceptions and console.error), for tests to assert there are none."""
    contexts = []

    def open_page(base_url: str, user, *, path: str = "/", color_scheme: str = "light", viewport: dict | None = None):
        django_client = Client()
        django_client.force_login(user)
        session = django_client.cookies[settings.SESSION_COOKIE_NAME].value
        context = browser.new_context(color_scheme=color_scheme, viewport=viewport or DESKTOP)
        contexts.append(context)
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base_url}])
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and page.js_errors.append(msg.text))
        page.goto(base_url + path)
        return page

    yield open_page
    for context in contexts:
        context.close()
