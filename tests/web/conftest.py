"""Browser tests: Playwright driving Chromium against a live Central.

The server is a real `daphne` subprocess (HTTP and WebSockets) on the test database,
beside the session's real Celery worker; tests commit their data (transactional_db) so
both see it. The browser is the Chromium `make test` found (`CENTRAL_CHROMIUM`, see
central.devstack.find_chromium), else Playwright's own. Every page's JavaScript console
errors and uncaught exceptions fail the test that caused them.

Helpers:
- `browser_page`: a fresh 1280 px page; `sign_in(page, user)` gives it the user's session.
- `screenshots(page, name)`: full-page PNGs at 1280 px and 375 px under
  test-artifacts/screenshots/, and a check that nothing overflows a 375 px screen.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connections

from tests.conftest import BASE_DIR, current_test_database, stop_worker, worker_environment

ARTIFACTS = Path(os.environ.get("CENTRAL_TEST_ARTIFACTS", BASE_DIR / "test-artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"
WIDTHS = (1280, 375)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early; see {log_path}")
        try:
            with urllib.request.urlopen(url + "/accounts/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"daphne did not serve within 60 s; see {log_path}")


@pytest.fixture(scope="session")
def live_web(django_db_setup, django_db_blocker, celery_worker) -> str:
    """Base URL of a daphne serving Central on the test database."""
    port = _free_port()
    env = worker_environment(
        current_test_database(django_db_blocker),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
        SECURE_COOKIES="false",
        STATIC_ROOT=str(django_settings.STATIC_ROOT),
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "web-server.log"
    log_file = open(log_path, "w")  # noqa: SIM115 (kept open for the server)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "tests.web.server_app:application",
        ],
        env=env,
        cwd=BASE_DIR,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process, log_path)
        yield url
    finally:
        stop_worker(process, log_file)  # any subprocess: terminate, wait, kill, close log


class ConsoleErrors(list):
    """Console errors and uncaught exceptions seen on a page."""

    def watch(self, page) -> None:
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and self.append(f"console: {message.text} ({message.location.get('url')})")
            ),
        )
        page.on("pageerror", lambda error: self.append(f"uncaught: {error}"))


@pytest.fixture
def browser_page(live_web, transactional_db, monkeypatch):
    """A new 1280 px page in a fresh headless Chromium on the live server; its console
    must stay free of errors.

    Playwright's sync API keeps an event loop running in this thread while it is open, so
    it is started after the database fixtures and stopped with the test: a session-wide
    browser would make every later test's ORM calls look like calls from async code. For
    the test's own (synchronous) ORM calls the async-safety check is switched off, only
    for this test, so no subprocess started later inherits the switch."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CENTRAL_CHROMIUM") or None,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        context = browser.new_context(
            base_url=live_web, viewport={"width": WIDTHS[0], "height": 900}
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors = ConsoleErrors()
        errors.watch(page)
        page.console_errors = errors
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # ORM calls made while Playwright's loop ran opened connections in that
            # context's storage; close them here or they outlive the test database.
            connections.close_all()
    assert not errors, "JavaScript console errors:\n" + "\n".join(errors)


def forgive_refusal(page, path: str, status: int = 400) -> None:
    """Chromium logs every error answer of fetch() on the console; the one refusal a test
    provokes on purpose is taken off the list of console errors that would fail it."""
    expected = [e for e in page.console_errors if f"status of {status}" in e and path in e]
    assert len(expected) == 1, page.console_errors
    page.console_errors.remove(expected[0])


def sign_in(page, user) -> None:
    """Give the page `user`'s session (a session made here, as the login form would)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "domain": "127.0.0.1", "path": "/"}]
    )


def screenshots(page, name: str) -> list[Path]:
    """Full-page screenshots at 1280 px and 375 px; fails if the page is wider than a
    375 px phone screen (content must wrap or scroll inside its own box)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    paths = []
    original = page.viewport_size
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(250)  # charts re-layout on resize
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width + 1, f"{name} is {overflow} px wide on a {width} px screen"
        path = SCREENSHOTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(original)
    return paths
