"""The settings page (/settings/) through Django's test client: who gets it, what it
shows of tokens and credentials (never a key or a secret), who sees the credential form,
and the "shared by me" / "shared with me" lists (right, private, and read in a fixed
number of queries)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import credentials, sharing, tokens
from backtest import services
from backtest.models import Backtest, Strategy
from backtest.strategy_templates import template_strategy
from replay.models import ImportBatch, ReplayRun

pytestmark = pytest.mark.django_db

URL = "/settings/"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def page_for(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


def make_strategy(owner, name: str) -> Strategy:
    sma = template_strategy("sma_cross")
    return services.create_strategy(
        owner, name=name, **{key: sma[key] for key in ("entry_rules", "exit_rules", "config")}
    )


def make_backtest(owner, strategy: Strategy) -> Backtest:
    return Backtest.objects.create(
        owner=owner,
        strategy=strategy,
        strategy_snapshot={"name": strategy.name},
        symbol="BTCUSDT",
        timeframe="1h",
        start_time=datetime(2024, 1, 1, tzinfo=UTC),
        end_time=datetime(2024, 2, 1, tzinfo=UTC),
        initial_balance=Decimal("10000"),
        parameters={},
        reproducibility_hash="a" * 64,
    )


def share(obj, grantee: str, actor, *, grantee_type: str = "user", permission: str = "view"):
    return sharing.share(
        obj, grantee_type=grantee_type, grantee=grantee, permission=permission, actor=actor
    )


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/settings/")


def test_analyst_gets_every_section_and_both_forms(analyst):
    html = page_for(analyst)
    for anchor in ('id="tokens"', 'id="credentials"', 'id="sharing"', 'id="account"'):
        assert anchor in html
    assert "data-token-form" in html
    assert "data-credential-form" in html
    assert "data-no-credential-form" not in html
    assert "data-account-role>analyst<" in html
    assert 'href="/accounts/password_change/"' in html


def test_secret_input_is_a_password_field_without_autocomplete(analyst):
    html = page_for(analyst)
    secret_input = html[html.index('id="credential-secret"') :].split(">", 1)[0]
    assert 'type="password"' in secret_input
    assert 'autocomplete="off"' in secret_input


def test_no_key_or_secret_and_no_token_key_in_the_page(analyst):
    credentials.store_credential(
        analyst, exchange="binance", label="main", api_key=API_KEY, api_secret=API_SECRET
    )
    _, token_key = tokens.create_token(analyst, "ci")
    html = page_for(analyst)
    for secret in (API_KEY, API_SECRET, API_SECRET[:16], token_key, token_key[10:]):
        assert secret not in html


def test_viewer_gets_no_credential_form(make_user):
    html = page_for(make_user("vera", role="viewer"))
    assert "data-credential-form" not in html
    assert 'name="api_secret"' not in html
    assert "data-no-credential-form" in html
    assert "data-share-something" not in html  # owns nothing to share
    assert "data-account-role>viewer<" in html


@pytest.fixture
def bob(make_user):
    return make_user("bob", role="analyst")


@pytest.fixture
def carol(make_user):
    return make_user("carol", role="analyst")


def test_shared_by_me_and_with_me(analyst, bob, carol, viewer):
    mine = make_strategy(analyst, "Ana's SMA")
    unshared = make_strategy(analyst, "Ana's private SMA")
    run = make_backtest(analyst, mine)
    batch = ImportBatch.objects.create(owner=analyst, format="generic", file_name="fills.csv")
    replay = ReplayRun.objects.create(owner=analyst, name="March replay")
    share(mine, "bob", analyst, permission="change")
    share(run, "bob", analyst)
    share(batch, "viewer", analyst, grantee_type="group")
    share(replay, "bob", analyst)
    theirs = make_strategy(carol, "Carol's SMA")
    share(theirs, "bob", carol)
    share(make_strategy(carol, "Carol's secret"), "vic", carol)

    html = page_for(analyst)
    shared_by = html[html.index("data-shared-by") : html.index("Shared with me")]
    assert f'href="/strategies/{mine.pk}/"' in shared_by
    assert f'href="/backtests/{run.pk}/"' in shared_by
    assert 'href="/transactions/"' in shared_by
    assert f'href="/replays/{replay.pk}/"' in shared_by
    assert 'data-share="user:bob"' in shared_by and 'data-share="group:viewer"' in shared_by
    assert f'data-shares-url="/api/strategies/{mine.pk}/shares/"' in shared_by
    assert "bob · change" in shared_by
    assert unshared.name not in shared_by
    assert "Carol" not in html  # nothing of carol's is shared with ana

    html = page_for(bob)
    shared_with = html[html.index("data-shared-with") :]
    assert f'href="/strategies/{mine.pk}/"' in shared_with
    assert f'href="/strategies/{theirs.pk}/"' in shared_with
    assert f'href="/backtests/{run.pk}/"' in shared_with
    assert f'href="/replays/{replay.pk}/"' in shared_with
    assert "Carol&#x27;s secret" not in html and "Carol's secret" not in html
    assert unshared.name not in html
    assert "data-shared-by-empty>" in html.replace(" hidden", "")  # bob shares nothing
    assert "data-shared-object" not in html

    html = page_for(viewer)  # through the viewer group
    assert 'href="/transactions/"' in html
    assert "Carol&#x27;s secret" in html
    assert mine.name.replace("'", "&#x27;") not in html


def test_operators_see_only_what_is_shared_with_them(analyst, operator):
    make_strategy(analyst, "Ana's SMA")  # operators may view it, but it is not a share
    html = page_for(operator)
    assert "Ana&#x27;s SMA" not in html
    assert "data-shared-with-empty" in html


def test_sharing_lists_cost_the_same_for_many_objects(analyst, bob):
    def queries() -> int:
        client = Client()
        client.force_login(bob)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured)

    first = make_strategy(analyst, "one")
    share(first, "bob", analyst)
    share(make_strategy(bob, "bob's"), "ana", bob)
    share(make_backtest(bob, first), "ana", bob)
    few = queries()
    for index in range(6):
        strategy = make_strategy(analyst, f"more {index}")
        share(strategy, "bob", analyst)
        share(make_backtest(bob, strategy), "ana", bob)
        share(make_strategy(bob, f"bob's {index}"), "ana", bob, permission="change")
    assert queries() == few
