"""The shared layout in a real browser: navigation, theme toggle, sign-out, vendored assets."""

import re

import pytest

from tests.web.conftest import screenshots, sign_in

pytestmark = pytest.mark.celery_worker


def test_theme_toggle_switches_and_is_remembered(browser_page, analyst):
    page = browser_page
    sign_in(page, analyst)
    page.goto("/")
    before = page.get_attribute("html", "data-theme")
    page.get_by_role("button", name="Switch between light and dark theme").click()
    after = page.get_attribute("html", "data-theme")
    assert {before, after} == {"light", "dark"}
    page.reload()
    assert page.get_attribute("html", "data-theme") == after
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(17, 20, 24)" if after == "dark" else "rgb(255, 255, 255)")


def test_signed_out_visitors_see_no_navigation_and_can_sign_in(browser_page):
    page = browser_page
    page.goto("/")
    assert page.locator("nav.site-nav").count() == 0
    assert page.locator("header").get_by_role("link", name="Sign in").is_visible()


def test_pages_load_nothing_from_outside(browser_page, analyst):
    page = browser_page
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, analyst)
    page.goto("/")
    page.wait_for_load_state("networkidle")
    outside = [url for url in requested if not re.match(r"^(http|ws)://127\.0\.0\.1:\d+/", url)]
    assert requested and not outside
    screenshots(page, "dashboard-layout")
