"""The settings page in a real browser: API tokens (the key shown once), exchange
credentials checked by the real worker against the fake Binance (the key and secret never
in the page), sharing from the page, and a viewer's page without the credential form."""

import pytest
from playwright.sync_api import expect

from accounts.models import ApiToken, ExchangeCredential
from accounts.tokens import hash_key
from backtest import services
from backtest.strategy_templates import template_strategy
from tests.web.conftest import screenshots, sign_in

pytestmark = pytest.mark.celery_worker

# Binance's documented example key pair (tests/accounts/test_credential_check.py).
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
CHECK_TIMEOUT_MS = 60_000


def make_strategy(owner, name: str):
    sma = template_strategy("sma_cross")
    return services.create_strategy(
        owner, name=name, **{key: sma[key] for key in ("entry_rules", "exit_rules", "config")}
    )


def create_and_revoke_a_token(page, analyst) -> None:
    tokens = page.locator("[data-tokens]")
    expect(tokens.locator("[data-token-list]")).to_contain_text("You have no API tokens.")
    page.get_by_label("Name", exact=True).fill("nightly report")
    page.get_by_role("button", name="Create token").click()
    shown = page.locator("[data-new-token]")
    expect(shown).to_be_visible()
    expect(shown).to_contain_text("it will not be shown again")
    key = page.locator("#new-token-key").input_value()
    assert key.startswith("ct_")
    token = ApiToken.objects.get(owner=analyst, name="nightly report", revoked_at__isnull=True)
    assert token.key_hash == hash_key(key)
    row = tokens.locator(f'tr[data-row-id="{token.pk}"]')
    expect(row).to_contain_text(key[:8] + "…")
    expect(row).to_contain_text("never")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("[data-copy-status]")).not_to_be_empty()

    page.reload()
    expect(tokens.locator(f'tr[data-row-id="{token.pk}"]')).to_be_visible()
    expect(page.locator("[data-new-token]")).to_be_hidden()
    assert key not in page.content()
    assert page.locator("#new-token-key").input_value() == ""

    tokens.get_by_role("button", name="Revoke token nightly report").click()
    expect(tokens.locator("[data-token-list]")).to_contain_text("You have no API tokens.")
    token.refresh_from_db()
    assert token.revoked_at is not None


def add_and_check_a_credential(page, analyst) -> ExchangeCredential:
    section = page.locator("[data-credentials]")
    secret_input = page.get_by_label("API secret")
    assert secret_input.get_attribute("type") == "password"
    assert secret_input.get_attribute("autocomplete") == "off"
    page.get_by_label("Label").fill("main")
    page.get_by_label("Exchange", exact=True).select_option("binance")
    page.get_by_label("API key").fill(API_KEY)
    secret_input.fill(API_SECRET)
    page.get_by_role("button", name="Add credential").click()

    row = section.locator("[data-credential-list] tbody tr")
    expect(row).to_contain_text("…" + API_KEY[-4:])
    expect(row).to_contain_text("unchecked")
    credential = ExchangeCredential.objects.get(owner=analyst, label="main")
    assert secret_input.input_value() == ""
    html = page.content()
    assert API_SECRET not in html and API_KEY not in html and API_SECRET[:16] not in html

    section.get_by_role("button", name="Check main with the exchange").click()
    row = section.locator(f'tr[data-row-id="{credential.pk}"]')
    expect(row.locator('[data-check-status="valid"]')).to_be_visible(timeout=CHECK_TIMEOUT_MS)
    expect(row.locator("[data-check-detail]")).to_contain_text("can trade")
    html = page.content()
    assert API_SECRET not in html and API_KEY not in html
    return credential


def test_analyst_manages_tokens_credentials_and_sharing(
    browser_page, analyst, make_user, fake_binance
):
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    fake_binance.add_account(API_KEY, API_SECRET)
    bob = make_user("bob", role="analyst")
    strategy = make_strategy(analyst, "Ana's SMA")
    sign_in(page, analyst)
    page.goto("/settings/")
    expect(page.locator("[data-account-role]")).to_have_text("analyst")

    create_and_revoke_a_token(page, analyst)

    sharing = page.locator("#sharing")
    expect(sharing.locator("[data-shared-by-empty]")).to_be_visible()
    page.get_by_label("What").select_option(label="Strategy: Ana's SMA")
    page.get_by_label("Username or group name").fill("bob")
    page.get_by_role("button", name="Share", exact=True).click()
    shared = sharing.locator(f'tr[data-shared-object="/api/strategies/{strategy.pk}/shares/"]')
    expect(shared.locator('[data-share="user:bob"]')).to_contain_text("bob · view")
    expect(shared.get_by_role("link", name="Ana's SMA")).to_have_attribute(
        "href", f"/strategies/{strategy.pk}/"
    )
    assert page.url.endswith("#sharing")

    credential = add_and_check_a_credential(page, analyst)
    screenshots(page, "settings")

    section = page.locator("[data-credentials]")
    section.get_by_role("button", name="Delete main").click()
    expect(section.locator("[data-credential-list]")).to_contain_text(
        "You have no exchange credentials."
    )
    assert not ExchangeCredential.objects.filter(pk=credential.pk).exists()

    sign_in(page, bob)
    page.goto("/settings/")
    shared_with = page.locator("[data-shared-with]")
    row = shared_with.locator("tr", has=page.get_by_role("link", name="Ana's SMA"))
    expect(row).to_contain_text("ana")
    expect(row).to_contain_text("view")
    expect(page.locator("[data-shared-by-empty]")).to_be_visible()

    sign_in(page, analyst)
    page.goto("/settings/")
    page.get_by_role("button", name="Stop sharing Ana's SMA with bob").click()
    expect(page.locator("[data-shared-by-empty]")).to_be_visible()
    expect(page.locator("[data-shared-object]")).to_have_count(0)
    page.reload()
    expect(page.locator("[data-shared-by-empty]")).to_be_visible()


def test_viewer_sees_no_credential_form(browser_page, make_user):
    viewer = make_user("vera", role="viewer")
    page = browser_page
    sign_in(page, viewer)
    page.goto("/settings/")
    expect(page.locator("[data-no-credential-form]")).to_be_visible()
    expect(page.locator("[data-credential-form]")).to_have_count(0)
    expect(page.locator("[data-credential-list]")).to_contain_text(
        "You have no exchange credentials."
    )
    expect(page.locator("[data-shared-with-empty]")).to_be_visible()
    expect(page.locator("[data-account-username]")).to_have_text("vera")
    expect(page.locator("[data-account-role]")).to_have_text("viewer")
    screenshots(page, "settings-viewer")
