"""The comparison and sweep pages through Django's test client: sign-in, ids the user
may not see reported like missing ones, the better value of each metric marked, and
the controls each role gets on the sweep pages."""

from __future__ import annotations

import io
from dataclasses import fields

import pytest

from accounts import sharing
from backtest import services
from backtest.engine.types import RiskLimits
from backtest.execution import execute_backtest
from backtest.models import Backtest, RunStatus, Strategy, Sweep
from backtest.pages.comparison import metric_direction, metric_rows, requested_ids
from marketdata.services import import_candles
from tests.backtest.api.conftest import sine_klines, sma_cross_definition

pytestmark = pytest.mark.django_db

RISK_KEYS = tuple(field.name for field in fields(RiskLimits))


@pytest.fixture
def candles() -> None:
    import_candles(io.BytesIO(sine_klines()), symbol="BTCUSDT", timeframe="1h")


def make_strategy(owner) -> Strategy:
    return services.create_strategy(
        owner, name=f"SMA {Strategy.objects.count()}", **sma_cross_definition()
    )


def complete(owner, **parameters: int) -> Backtest:
    backtest = services.submit_backtest(
        owner,
        services.BacktestRequest(
            strategy=make_strategy(owner), symbol="BTCUSDT", timeframe="1h", parameters=parameters
        ),
    )
    execute_backtest(backtest.pk, respect_user_limit=False)
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.COMPLETED, backtest.error
    return backtest


def make_sweep(owner) -> Sweep:
    """A queued 2x2 sweep (tests run no on-commit callbacks: no worker is reached)."""
    return services.submit_sweep(
        owner,
        services.BacktestRequest(strategy=make_strategy(owner), symbol="BTCUSDT", timeframe="1h"),
        {"fast": [5, 8], "slow": [20, 30]},
        name="windows",
    )


def compare(client, *ids: object):
    return client.get("/backtests/compare/", {"ids": ",".join(map(str, ids))})


def test_pages_need_sign_in(client, analyst, candles):
    sweep = make_sweep(analyst)
    for path in ("/backtests/compare/?ids=1,2", "/sweeps/", "/sweeps/new/", f"/sweeps/{sweep.pk}/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/login/"), path


def test_compare_marks_the_better_value_on_the_right_run(client, analyst, candles):
    quick, slow = complete(analyst, fast=5, slow=20), complete(analyst, fast=10, slow=40)
    client.force_login(analyst)

    response = compare(client, quick.pk, slow.pk)

    assert response.status_code == 200
    assert response.context["comparable"] and not response.context["errors"]
    assert [c["id"] for c in response.context["columns"]] == [quick.pk, slow.pk]
    html = response.content.decode()
    assert f'href="/backtests/{quick.pk}/"' in html and f'href="/backtests/{slow.pk}/"' in html
    rows = {row.key: row for row in response.context["rows"]}
    returns = [run.performance_summary.metrics["total_pnl_percentage"] for run in (quick, slow)]
    assert returns[0] != returns[1]
    winner = (quick, slow)[returns.index(max(returns))]
    assert [cell["run"] for cell in rows["total_pnl_percentage"].cells if cell["best"]] == [
        winner.pk
    ]
    drawdowns = [r.performance_summary.metrics["max_drawdown_percentage"] for r in (quick, slow)]
    shallower = (quick, slow)[drawdowns.index(min(drawdowns))]
    assert [cell["run"] for cell in rows["max_drawdown_percentage"].cells if cell["best"]] == [
        shallower.pk
    ]
    assert not any(cell["best"] for cell in rows["total_trades"].cells)  # neutral
    assert f'<td class="num best" data-run="{winner.pk}">' in html


def test_foreign_ids_read_like_missing_ones(client, analyst, make_user, candles):
    mine = complete(analyst, fast=5, slow=20)
    theirs = complete(make_user("bob", role="analyst"), fast=5, slow=20)
    missing = theirs.pk + 1000
    client.force_login(analyst)

    foreign = compare(client, mine.pk, theirs.pk)
    absent = compare(client, mine.pk, missing)

    assert foreign.status_code == absent.status_code == 200
    assert foreign.context["errors"] == [f"No backtest you can see has the id #{theirs.pk}."]
    assert absent.context["errors"] == [f"No backtest you can see has the id #{missing}."]
    assert not foreign.context["comparable"] and not foreign.context["columns"]
    assert "Pick at least two completed backtests" in foreign.content.decode()
    # The picker lists only the user's own completed runs.
    assert [c["id"] for c in foreign.context["candidates"]] == [mine.pk]


def test_compare_reports_bad_ids_unfinished_runs_and_too_few(client, analyst, candles):
    done = complete(analyst, fast=5, slow=20)
    queued = services.submit_backtest(
        analyst,
        services.BacktestRequest(strategy=make_strategy(analyst), symbol="BTCUSDT", timeframe="1h"),
    )
    client.force_login(analyst)

    response = client.get("/backtests/compare/", {"ids": f"{done.pk},abc,{queued.pk}"})

    assert response.status_code == 200
    assert response.context["errors"] == [
        "Not backtest ids: “abc”.",
        f"Backtest #{queued.pk} is queued: only completed backtests have results to compare.",
    ]
    assert not response.context["comparable"]
    assert client.get("/backtests/compare/").status_code == 200


def test_requested_ids_accept_commas_and_repeated_parameters():
    assert requested_ids(["3,1", "1", "7", ""]) == ([3, 1, 7], [])
    assert requested_ids(["2,x,-1,0"]) == ([2], ["x", "-1", "0"])


def test_metric_rows_mark_ties_and_skip_missing_values(analyst, candles):
    first, second = complete(analyst, fast=5, slow=20), complete(analyst, fast=5, slow=20)
    rows = {row.key: row for row in metric_rows([first, second])}
    # Identical runs: nothing is better than anything.
    assert not any(cell["best"] for row in rows.values() for cell in row.cells)
    assert metric_direction("max_drawdown_percentage") == "lower"
    assert metric_direction("sharpe_ratio") == "higher"
    assert metric_direction("exposure_percentage") is None


def test_sweep_list_offers_new_sweep_only_to_those_who_may_run_one(client, analyst, viewer):
    client.force_login(analyst)
    assert "data-new-sweep" in client.get("/sweeps/").content.decode()
    client.force_login(viewer)
    response = client.get("/sweeps/")
    assert response.status_code == 200 and "data-new-sweep" not in response.content.decode()
    assert client.get("/sweeps/new/").status_code == 403


def test_sweep_form_offers_the_users_strategies_and_the_stored_data(client, analyst, candles):
    strategy = make_strategy(analyst)
    client.force_login(analyst)
    response = client.get(f"/sweeps/new/?strategy={strategy.pk}")
    assert response.status_code == 200
    data = response.context["page_data"]
    assert data["strategies"] == [
        {
            "id": strategy.pk,
            "name": strategy.name,
            "parameters": {"fast": 5, "slow": 20},
            "config": strategy.config,
        }
    ]
    assert data["selected"] == str(strategy.pk)
    assert [(s["symbol"], s["timeframe"]) for s in data["series"]] == [("BTCUSDT", "1h")]
    assert {t["name"] for t in data["templates"]} >= {"sma_cross"}
    assert all("config" in t for t in data["templates"])
    html = response.content.decode()
    # Every engine override the API takes, named by its error path; the fixed
    # parameters are built by the script from the page data.
    for name in (
        "source",
        "options.cash",
        "options.fee",
        "options.slippage",
        "options.direction",
        "options.fill",
        "options.sizing.mode",
        "options.sizing.value",
        "options.sizing.atr_window",
        "options.sizing.atr_multiple",
        *(f"options.risk.{key}" for key in RISK_KEYS),
    ):
        assert f'name="{name}"' in html, name
    assert "data-fixed-params" in html and "js/run-options." in html


def test_another_users_sweep_is_404(client, analyst, make_user, candles):
    sweep = make_sweep(analyst)
    client.force_login(make_user("bob", role="analyst"))
    assert client.get(f"/sweeps/{sweep.pk}/").status_code == 404
    assert client.get("/sweeps/999999/").status_code == 404


def test_owner_gets_cancel_and_sharing_a_viewer_neither(client, analyst, viewer, candles):
    sweep = make_sweep(analyst)
    client.force_login(analyst)
    html = client.get(f"/sweeps/{sweep.pk}/").content.decode()
    assert "data-cancel-sweep" in html and "data-share-panel" in html
    assert "windows" in html and f"/api/sweeps/{sweep.pk}/" in html

    sharing.share(sweep, grantee_type="user", grantee=viewer.username, actor=analyst)
    client.force_login(viewer)
    response = client.get(f"/sweeps/{sweep.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-cancel-sweep" not in html and "data-share-panel" not in html
    assert not response.context["can_cancel"] and not response.context["can_share"]
