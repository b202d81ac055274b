"""Strategy pages in a real browser: build from a template, validate live, save,
duplicate, edit the rules, the JSON view, and the read-only view of a shared strategy."""

from __future__ import annotations

import json
import re

import pytest
from guardian.shortcuts import assign_perm
from playwright.sync_api import expect

from backtest import services
from backtest.models import Strategy
from tests.backtest.api.conftest import sma_cross_definition
from tests.web.conftest import screenshots, sign_in

pytestmark = pytest.mark.celery_worker

FIRST_WINDOW = 'input[data-error-for="entry_rules.long.left.params.window"]'
STRATEGY_PAGE = re.compile(r"/strategies/(\d+)/")


def open_builder(page, path: str) -> None:
    page.goto(path)
    page.locator("form[data-strategy-form][data-ready]").wait_for()


def error_of(page, control):
    """The message Central.showErrors put next to `control`."""
    expect(control).to_have_attribute("aria-invalid", "true")
    return page.locator("#" + control.get_attribute("aria-describedby"))


def test_new_strategy_from_a_template_with_a_changed_parameter(browser_page, analyst, make_user):
    page = browser_page
    sign_in(page, analyst)
    page.goto("/strategies/")
    page.get_by_role("link", name="New strategy").click()
    page.locator("form[data-strategy-form][data-ready]").wait_for()

    page.get_by_label("Start from").select_option("sma_cross")
    expect(page.locator("form[data-strategy-form]")).to_have_attribute("data-template", "sma_cross")
    expect(page.get_by_label("Name", exact=True)).to_have_value("SMA crossover")
    window = page.locator(FIRST_WINDOW)
    expect(window).to_have_value("10")
    window.fill("7")
    # The window is the template's "fast" parameter: the parameter and every rule using it follow.
    expect(page.locator('input[data-parameter="fast"]')).to_have_value("7")
    expect(
        page.locator('input[data-error-for="exit_rules.long.left.params.window"]')
    ).to_have_value("7")
    expect(page.locator("[data-validation-status]")).to_have_attribute("data-state", "valid")
    screenshots(page, "strategy-builder")

    page.get_by_role("button", name="Save strategy").click()
    page.wait_for_url(STRATEGY_PAGE)
    strategy = Strategy.objects.get(owner=analyst)
    assert strategy.name == "SMA crossover"
    assert strategy.config["parameters"] == {"fast": 7, "slow": 20}
    assert strategy.entry_rules["long"]["left"]["params"]["window"] == {"param": "fast"}
    form = page.locator("form[data-strategy-form]")
    expect(form).to_have_attribute("data-strategy-id", str(strategy.pk))
    expect(page.locator("[data-saved-notice]")).to_be_visible()
    page.locator("form[data-strategy-form][data-ready]").wait_for()
    expect(page.locator(FIRST_WINDOW)).to_have_value("7")

    bob = make_user("bob", role="analyst")
    services.create_strategy(bob, name="Bob's public one", is_public=True, **sma_cross_definition())
    page.goto("/strategies/")
    expect(page.locator("[data-public-badge]")).to_have_count(1)
    row = page.locator(f'[data-strategy-row="{strategy.pk}"]')
    expect(row).to_contain_text("SMA crossover")
    expect(row.get_by_role("link", name="Run a backtest of SMA crossover")).to_have_attribute(
        "href", f"/backtests/new/?strategy={strategy.pk}"
    )
    screenshots(page, "strategy-list")


def test_an_invalid_value_is_named_next_to_its_control_and_nothing_is_saved(browser_page, analyst):
    page = browser_page
    sign_in(page, analyst)
    open_builder(page, "/strategies/new/?template=sma_cross")
    window = page.locator(FIRST_WINDOW)
    expect(window).to_have_value("10")

    window.fill("-5")

    expect(error_of(page, window)).to_have_text(
        'must be an integer ≥ 1 and ≤ 100000 (got -5 from parameter "fast")'
    )
    expect(page.locator("[data-validation-status]")).to_have_attribute("data-state", "invalid")
    expect(window).to_be_focused()  # live checks leave the focus alone

    page.get_by_role("button", name="Save strategy").click()
    expect(page.locator("[data-save-status]")).to_have_attribute("data-state", "failed")
    expect(error_of(page, window)).to_contain_text("got -5")
    # The browser logs the refused request itself; that error is the expected one.
    refused = [e for e in page.console_errors if "status of 400" in e]
    assert len(refused) == 1, page.console_errors
    page.console_errors.remove(refused[0])
    assert not Strategy.objects.exists()
    assert STRATEGY_PAGE.search(page.url) is None

    # A literal number (not a parameter) in a fresh strategy is checked the same way.
    page.get_by_label("Start from").select_option("")
    right_window = page.locator('input[data-error-for="entry_rules.long.right.params.window"]')
    right_window.fill("0")
    expect(error_of(page, right_window)).to_have_text("must be an integer ≥ 1 and ≤ 100000 (got 0)")


def test_duplicate_from_the_page_and_from_the_list(browser_page, analyst):
    original = services.create_strategy(analyst, name="Mine", **sma_cross_definition())
    page = browser_page
    sign_in(page, analyst)
    open_builder(page, f"/strategies/{original.pk}/")

    page.get_by_role("button", name="Duplicate").click()
    page.wait_for_url(lambda url: STRATEGY_PAGE.search(url) and f"/{original.pk}/" not in url)
    expect(page.locator("[data-strategy-title]")).to_have_text("Copy of Mine")
    copy = Strategy.objects.get(name="Copy of Mine")
    assert copy.owner == analyst
    assert (copy.entry_rules, copy.exit_rules, copy.config) == (
        original.entry_rules,
        original.exit_rules,
        original.config,
    )

    page.goto("/strategies/")
    page.get_by_role("button", name="Duplicate Mine", exact=True).click()
    page.wait_for_url(lambda url: STRATEGY_PAGE.search(url) and "saved=1" in url)
    expect(page.locator("[data-strategy-title]")).to_have_text("Copy of Mine (2)")


def test_rules_edited_in_the_builder_and_in_the_json_view_are_saved(browser_page, analyst):
    strategy = services.create_strategy(analyst, name="Mine", **sma_cross_definition())
    page = browser_page
    sign_in(page, analyst)
    open_builder(page, f"/strategies/{strategy.pk}/")

    long_entry = page.locator('[data-rule="entry_rules.long"]')
    long_entry.get_by_role("button", name="Add another condition").click()
    added = long_entry.locator('[data-condition="entry_rules.long.all[1]"]')
    added.locator('select[data-error-for="entry_rules.long.all[1].left"]').select_option(
        "indicator"
    )
    added.locator('select[data-error-for="entry_rules.long.all[1].left.indicator"]').select_option(
        "rsi"
    )
    added.locator('select[data-error-for="entry_rules.long.all[1].op"]').select_option("<")
    added.locator('select[data-error-for="entry_rules.long.all[1].right"]').select_option("value")
    added.locator('input[data-error-for="entry_rules.long.all[1].right.value"]').fill("70")
    page.get_by_label("Stop loss").fill("0.05")
    expect(page.locator("[data-validation-status]")).to_have_attribute("data-state", "valid")

    page.locator("[data-json-view] summary").click()
    text = page.get_by_label("Entry rules, exit rules and config as JSON")
    definition = json.loads(text.input_value())
    assert definition["entry_rules"]["long"]["all"][1] == {
        "left": {"indicator": "rsi", "params": {"window": 14}},
        "op": "<",
        "right": {"value": 70},
    }
    definition["config"]["parameters"]["slow"] = 40
    text.fill(json.dumps(definition))
    expect(page.locator('input[data-parameter="slow"]')).to_have_value("40")

    page.get_by_role("button", name="Save strategy").click()
    expect(page.locator("[data-save-status]")).to_have_attribute("data-state", "saved")
    strategy.refresh_from_db()
    assert strategy.entry_rules["long"]["all"][1]["right"] == {"value": 70}
    assert strategy.config["risk"] == {"stop_loss": 0.05}
    assert strategy.config["parameters"] == {"fast": 5, "slow": 40}


def test_a_viewer_opens_a_strategy_shared_with_them_read_only(browser_page, viewer, make_user):
    bob = make_user("bob", role="analyst")
    shared = services.create_strategy(bob, name="Bob's cross", **sma_cross_definition())
    assign_perm("view_strategy", viewer, shared)
    page = browser_page
    sign_in(page, viewer)

    page.goto("/strategies/")
    page.get_by_role("link", name="Bob's cross", exact=True).click()
    page.locator("form[data-strategy-form][data-ready]").wait_for()

    expect(page.locator("[data-read-only]")).to_be_visible()
    expect(page.get_by_role("button", name="Save strategy")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    expect(page.get_by_role("button", name="Duplicate")).to_have_count(0)
    expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    window = page.locator(FIRST_WINDOW)
    expect(window).to_have_value("5")
    expect(window).to_be_disabled()
    expect(page.locator('select[data-error-for="entry_rules.long.op"]')).to_be_disabled()
    expect(page.locator("[data-add-condition]")).to_have_count(0)
