"""Backtest API: queueing runs, visibility and sharing, cancel and re-run, and the
results of a run executed in-process by the worker's own function."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from unittest import mock

import pytest
from guardian.shortcuts import assign_perm

from backtest.api.permissions import CanManageBacktest
from backtest.models import Backtest, EquityCurve, RunStatus, Trade
from backtest.reports import TRADE_CSV_COLUMNS

pytestmark = pytest.mark.django_db

LIST = "/api/backtests/"


def url(backtest: Backtest | int, action: str = "") -> str:
    return f"/api/backtests/{getattr(backtest, 'pk', backtest)}/{action}"


# --- submitting ----------------------------------------------------------------------


def test_post_queues_a_backtest_of_a_saved_strategy(
    analyst, analyst_client, make_strategy, candles, django_capture_on_commit_callbacks
):
    strategy = make_strategy(analyst)
    body = {
        "strategy": strategy.pk,
        "symbol": "btc/usdt",
        "timeframe": "1h",
        "start": "2024-01-02T00:00:00Z",
        "end": "2024-01-20",
        "parameters": {"fast": 8},
        "options": {"cash": 5000, "risk": {"stop_loss": 0.05}},
    }
    with (
        mock.patch("backtest.tasks.run_backtest.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        delay.return_value.id = "task-1"
        response = analyst_client.post(LIST, body, format="json")

    assert response.status_code == 202, response.json()
    backtest = Backtest.objects.get()
    delay.assert_called_once_with(backtest.pk)
    data = response.json()
    assert data["id"] == backtest.pk
    assert data["status"] == "queued"
    assert data["url"] == f"http://testserver/api/backtests/{backtest.pk}/"
    assert response["Location"] == data["url"]
    assert data["owner"] == "ana"
    assert data["strategy"] == strategy.pk
    assert (data["symbol"], data["timeframe"], data["source"]) == ("BTCUSDT", "1h", "binance")
    assert (data["start_time"], data["end_time"]) == (
        "2024-01-02T00:00:00Z",
        "2024-01-20T00:00:00Z",
    )
    assert data["initial_balance"] == "5000.00000000"
    assert data["parameters"]["parameters"] == {"fast": 8, "slow": 20}
    assert data["parameters"]["risk"]["stop_loss"] == 0.05
    assert data["parameters"]["cash"] == 5000
    assert data["strategy_snapshot"]["entry_rules"] == strategy.entry_rules
    assert data["summary"] is None
    assert data["links"] == {
        "trades": f"http://testserver/api/backtests/{backtest.pk}/trades/",
        "equity": f"http://testserver/api/backtests/{backtest.pk}/equity/",
        "report_csv": f"http://testserver/api/backtests/{backtest.pk}/report.csv",
        "report_json": f"http://testserver/api/backtests/{backtest.pk}/report.json",
        "ws": f"/ws/backtests/{backtest.pk}/",
    }
    assert len(data["reproducibility_hash"]) == 64
    assert data["queued_at"] is not None and data["duration_seconds"] is None


def test_post_runs_a_template_with_params(analyst_client, candles):
    body = {
        "template": "sma_cross",
        "params": {"fast": 6, "slow": 24},
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "options": {"cash": 1000},
    }
    response = analyst_client.post(LIST, body, format="json")

    assert response.status_code == 202, response.json()
    backtest = Backtest.objects.get()
    assert backtest.strategy is None
    assert backtest.strategy_snapshot["name"] == "SMA crossover"
    assert backtest.parameters["parameters"] == {"fast": 6, "slow": 24}


def test_post_reports_every_problem_at_once_and_writes_nothing(
    analyst, analyst_client, make_strategy, candles
):
    strategy = make_strategy(analyst)
    body = {
        "strategy": strategy.pk,
        "symbol": "BTCUSDT",
        "timeframe": "7m",
        "source": "Not Valid",
        "parameters": {"fast": 5, "fsat": 3},
        "options": {"fee": 2, "direction": "sideways"},
    }
    response = analyst_client.post(LIST, body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "timeframe": [
            "unknown timeframe '7m'; use one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, "
            "1d, 3d, 1w, 1M"
        ],
        "source": ["'Not Valid' must be 1-32 lower-case letters, digits, _.-"],
        "options.direction": ['must be one of long, short, both (got "sideways")'],
        "options.fee": ["must be a number ≥ 0 and < 1 (got 2)"],
        "parameters.fsat": ["is not used by any rule (used: fast, slow)"],
    }
    assert not Backtest.objects.exists()


def test_post_with_parameters_that_break_a_rule(analyst, analyst_client, make_strategy, candles):
    body = {
        "strategy": make_strategy(analyst).pk,
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "parameters": {"slow": 0},
    }
    response = analyst_client.post(LIST, body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [
        "entry_rules.long.right.params.window",
        "exit_rules.long.right.params.window",
    ]
    assert not Backtest.objects.exists()


def test_post_without_stored_candles_names_the_symbol(
    analyst, analyst_client, make_strategy, candles
):
    strategy = make_strategy(analyst)
    body = {"strategy": strategy.pk, "symbol": "ETHUSDT", "timeframe": "1h"}
    response = analyst_client.post(LIST, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"symbol": ["no ETHUSDT 1h candles are stored (source binance)"]}


def test_post_with_an_invisible_strategy_is_a_400_on_strategy(
    make_user, make_strategy, analyst_client, candles
):
    others = make_strategy(make_user("bob", role="analyst"))
    body = {"strategy": others.pk, "symbol": "BTCUSDT", "timeframe": "1h"}
    response = analyst_client.post(LIST, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"strategy": [f"no strategy #{others.pk} that you can see"]}
    assert not Backtest.objects.exists()


def test_post_with_a_public_strategy_of_another_user(
    make_user, make_strategy, analyst_client, candles
):
    public = make_strategy(make_user("bob", role="analyst"), is_public=True)
    body = {"strategy": public.pk, "symbol": "BTCUSDT", "timeframe": "1h"}
    response = analyst_client.post(LIST, body, format="json")
    assert response.status_code == 202
    assert response.json()["owner"] == "ana"


def test_post_without_strategy_or_template(analyst_client, candles):
    response = analyst_client.post(LIST, {"symbol": "BTCUSDT", "timeframe": "1h"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"strategy": ["give exactly one of a strategy or a template"]}
    assert not Backtest.objects.exists()


def test_post_with_a_null_strategy_and_a_template(analyst_client, candles):
    body = {"strategy": None, "template": "sma_cross", "symbol": "BTCUSDT", "timeframe": "1h"}
    assert analyst_client.post(LIST, body, format="json").status_code == 202


def test_post_with_both_strategy_and_template(analyst, analyst_client, make_strategy, candles):
    body = {
        "strategy": make_strategy(analyst).pk,
        "template": "sma_cross",
        "symbol": "BTCUSDT",
        "timeframe": "1h",
    }
    response = analyst_client.post(LIST, body, format="json")
    assert response.status_code == 400
    assert response.json()["strategy"] == ["give exactly one of a strategy or a template"]


def test_viewer_may_not_run_backtests(viewer_client, candles):
    body = {"template": "sma_cross", "symbol": "BTCUSDT", "timeframe": "1h"}
    response = viewer_client.post(LIST, body, format="json")
    assert response.status_code == 403
    assert not Backtest.objects.exists()


def test_anonymous_gets_401_everywhere(anon_client, analyst, queued_backtest):
    backtest = queued_backtest(analyst)
    assert anon_client.get(LIST).status_code == 401
    assert anon_client.post(LIST, {}, format="json").status_code == 401
    for action in ("", "trades/", "equity/", "report.csv", "report.json"):
        assert anon_client.get(url(backtest, action)).status_code == 401, action
    for action in ("cancel/", "rerun/"):
        assert anon_client.post(url(backtest, action)).status_code == 401, action


# --- visibility ----------------------------------------------------------------------


@pytest.fixture
def bob(make_user):
    return make_user("bob", role="analyst")


@pytest.fixture
def bob_client(bob):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(bob)
    return client


def test_another_analysts_backtest_is_404(analyst, bob_client, queued_backtest):
    backtest = queued_backtest(analyst)
    for action in ("", "trades/", "equity/", "report.csv", "report.json"):
        assert bob_client.get(url(backtest, action)).status_code == 404, action
    for action in ("cancel/", "rerun/"):
        assert bob_client.post(url(backtest, action)).status_code == 404, action
    assert bob_client.get(LIST).json()["count"] == 0
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.QUEUED


def test_shared_backtest_is_readable_but_not_manageable(analyst, bob, bob_client, queued_backtest):
    backtest = queued_backtest(analyst)
    assign_perm("view_backtest", bob, backtest)

    assert bob_client.get(url(backtest)).status_code == 200
    assert [row["id"] for row in bob_client.get(LIST).json()["results"]] == [backtest.pk]
    cancel = bob_client.post(url(backtest, "cancel/"))
    assert cancel.status_code == 403
    assert cancel.json() == {"detail": CanManageBacktest.message}
    assert bob_client.post(url(backtest, "rerun/")).status_code == 403
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.QUEUED
    assert Backtest.objects.count() == 1


def test_operator_sees_and_cancels_anyones_backtest(analyst, operator_client, queued_backtest):
    backtest = queued_backtest(analyst)
    assert operator_client.get(LIST).json()["count"] == 1
    assert operator_client.post(url(backtest, "cancel/")).json()["status"] == "cancelled"


# --- list: pagination and filters ----------------------------------------------------


def test_list_is_paginated_newest_first(analyst, analyst_client, queued_backtest):
    runs = [queued_backtest(analyst) for _ in range(3)]

    first = analyst_client.get(LIST, {"page_size": 2}).json()
    assert first["count"] == 3
    assert [row["id"] for row in first["results"]] == [runs[2].pk, runs[1].pk]
    second = analyst_client.get(first["next"]).json()
    assert [row["id"] for row in second["results"]] == [runs[0].pk]
    assert set(first["results"][0]) >= {"id", "url", "status", "progress", "symbol"}
    assert analyst_client.get(LIST, {"page": 9}).status_code == 404


def test_list_filters_and_ordering(analyst, analyst_client, queued_backtest, make_strategy):
    from marketdata.services import import_candles
    from tests.backtest.api.conftest import HOUR_MS, sine_klines

    import_candles(
        io.BytesIO(sine_klines(100, step_ms=4 * HOUR_MS)), symbol="ETHUSDT", timeframe="4h"
    )
    other = make_strategy(analyst, name="Other")
    btc = queued_backtest(analyst)
    eth = queued_backtest(analyst, strategy=other, symbol="ETHUSDT", timeframe="4h")
    Backtest.objects.filter(pk=btc.pk).update(status=RunStatus.COMPLETED)

    def ids(**query) -> list[int]:
        response = analyst_client.get(LIST, query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids(status="completed") == [btc.pk]
    assert ids(status=["completed", "queued"]) == [eth.pk, btc.pk]
    assert ids(symbol="eth/usdt") == [eth.pk]
    assert ids(symbol="not a symbol") == []
    assert ids(timeframe="1h") == [btc.pk]
    assert ids(strategy=other.pk) == [eth.pk]
    assert ids(sweep=12345) == []
    assert ids(created_after=btc.created_at.isoformat()) == [eth.pk, btc.pk]
    assert ids(created_before=eth.created_at.isoformat()) == [btc.pk]
    assert ids(ordering="created_at") == [btc.pk, eth.pk]
    assert ids(ordering="-symbol") == [eth.pk, btc.pk]
    bad = analyst_client.get(LIST, {"status": "sleeping"})
    assert bad.status_code == 400 and list(bad.json()) == ["status"]
    assert analyst_client.get(LIST, {"ordering": "owner__password"}).status_code == 400


# --- cancel and re-run ---------------------------------------------------------------


def test_cancel_a_queued_backtest_then_again(analyst, analyst_client, queued_backtest):
    backtest = queued_backtest(analyst)

    response = analyst_client.post(url(backtest, "cancel/"))

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"] == "cancelled by the user"
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.CANCELLED
    again = analyst_client.post(url(backtest, "cancel/"))
    assert again.status_code == 409
    assert again.json() == {"detail": f"backtest #{backtest.pk} has already finished (cancelled)"}


def test_rerun_queues_a_copy(
    analyst, analyst_client, queued_backtest, django_capture_on_commit_callbacks
):
    backtest = queued_backtest(analyst, parameters={"fast": 7})
    with (
        mock.patch("backtest.tasks.run_backtest.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        delay.return_value.id = "task-2"
        response = analyst_client.post(url(backtest, "rerun/"))

    assert response.status_code == 202, response.json()
    copy = Backtest.objects.get(pk=response.json()["id"])
    delay.assert_called_once_with(copy.pk)
    assert copy.pk != backtest.pk
    assert copy.status == RunStatus.QUEUED
    assert copy.metadata == {"rerun_of": backtest.pk}
    assert copy.parameters == backtest.parameters
    assert copy.reproducibility_hash == backtest.reproducibility_hash
    assert response["Location"].endswith(f"/api/backtests/{copy.pk}/")


def test_results_of_an_unfinished_run(analyst, analyst_client, queued_backtest):
    backtest = queued_backtest(analyst)
    response = analyst_client.get(url(backtest, "equity/"))
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"backtest #{backtest.pk} is queued: "
        "only a completed backtest has an equity curve"
    }
    trades = analyst_client.get(url(backtest, "trades/")).json()
    assert (trades["count"], trades["results"]) == (0, [])
    assert analyst_client.get(url(backtest)).json()["summary"] is None


# --- a completed run -----------------------------------------------------------------


@pytest.fixture
def finished(analyst, completed_backtest) -> Backtest:
    return completed_backtest(analyst)


def test_completed_run_detail_has_its_summary(finished, analyst_client):
    data = analyst_client.get(url(finished)).json()

    summary = finished.performance_summary
    assert data["status"] == "completed"
    assert data["progress"] == 100.0
    assert data["final_balance"] == str(finished.final_balance)
    assert data["duration_seconds"] == finished.duration_seconds
    assert data["summary"]["total_trades"] == summary.total_trades > 0
    assert data["summary"]["sharpe_ratio"] == str(summary.sharpe_ratio)
    assert data["summary"]["metrics"] == summary.metrics
    assert {"cagr", "fees_paid", "sqn"} <= set(data["summary"]["metrics"])
    assert data["metadata"]["bars"] == 500


def test_completed_run_cannot_be_cancelled(finished, analyst_client):
    response = analyst_client.post(url(finished, "cancel/"))
    assert response.status_code == 409
    assert response.json()["detail"].endswith("has already finished (completed)")


def test_trades_are_paginated_in_entry_order_with_decimal_strings(finished, analyst_client):
    stored = list(Trade.objects.filter(backtest=finished).order_by("entry_time", "id"))
    assert len(stored) > 3

    page = analyst_client.get(url(finished, "trades/"), {"page_size": 2}).json()
    assert page["count"] == len(stored)
    assert [t["id"] for t in page["results"]] == [t.pk for t in stored[:2]]
    first = page["results"][0]
    assert first["entry_price"] == str(stored[0].entry_price)
    assert isinstance(first["pnl"], str) and Decimal(first["pnl"]) == stored[0].pnl
    assert first["side"] == "long"
    everything = analyst_client.get(url(finished, "trades/"), {"page_size": 5000}).json()
    assert len(everything["results"]) == len(stored)
    times = [t["entry_time"] for t in everything["results"]]
    assert times == sorted(times)


def test_equity_curve_default_and_downsampled(finished, analyst_client):
    full = analyst_client.get(url(finished, "equity/")).json()
    assert full["bar_count"] == 500
    assert full["downsampled"] is False
    points = full["points"]
    assert len(points) == 500
    assert points[0]["t"] == "2024-01-01T00:00:00Z"
    assert points[-1]["t"] == "2024-01-21T19:00:00Z"
    assert points[0]["equity"] == 10000.0
    assert all(0.0 <= p["drawdown"] < 1.0 for p in points)
    assert max(p["drawdown"] for p in points) > 0
    assert {p["exposure"] for p in points} >= {0.0}

    small = analyst_client.get(url(finished, "equity/"), {"max_points": 10}).json()
    assert small["downsampled"] is True
    assert 3 <= len(small["points"]) <= 10
    assert small["points"][0] == points[0]
    assert small["points"][-1] == points[-1]
    by_time = {p["t"]: p for p in points}
    assert all(by_time[p["t"]] == p for p in small["points"])
    lowest = min(points, key=lambda p: p["equity"])
    assert lowest["equity"] in {p["equity"] for p in small["points"]}


@pytest.mark.parametrize("value", ["9", "20001", "many", "-5"])
def test_equity_max_points_out_of_bounds_is_a_400(finished, analyst_client, value):
    response = analyst_client.get(url(finished, "equity/"), {"max_points": value})
    assert response.status_code == 400
    assert list(response.json()) == ["max_points"]


def test_csv_report_lists_the_stored_trades(finished, analyst_client):
    response = analyst_client.get(url(finished, "report.csv"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        f'attachment; filename="backtest-{finished.pk}-trades.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    stored = list(Trade.objects.filter(backtest=finished).order_by("entry_time", "id"))
    assert len(rows) == len(stored)
    assert list(rows[0]) == list(TRADE_CSV_COLUMNS)
    for row, trade in zip(rows, stored, strict=True):
        assert Decimal(row["entry_price"]) == trade.entry_price
        assert Decimal(row["pnl"]) == trade.pnl
        assert Decimal(row["fees"]) == trade.fees
        assert row["side"] == trade.side
        assert row["exit_reason"] == trade.exit_reason
        assert row["entry_time"] == trade.entry_time.isoformat().replace("+00:00", "Z")


def test_csv_report_when_the_client_accepts_only_csv(finished, analyst_client, bob_client):
    ok = analyst_client.get(url(finished, "report.csv"), HTTP_ACCEPT="text/csv")
    assert ok.status_code == 200
    missing = bob_client.get(url(finished, "report.csv"), HTTP_ACCEPT="text/csv")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No Backtest matches the given query."}


def test_json_report_has_the_summary_and_the_stored_trades(finished, analyst_client):
    response = analyst_client.get(url(finished, "report.json"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["summary"]["backtest_id"] == finished.pk
    assert body["summary"]["status"] == "completed"
    assert body["summary"]["total_trades"] == finished.performance_summary.total_trades
    stored = list(Trade.objects.filter(backtest=finished).order_by("entry_time", "id"))
    assert [Decimal(t["exit_price"]) for t in body["trades"]] == [t.exit_price for t in stored]
    assert [t["quantity"] for t in body["trades"]] == [str(t.quantity) for t in stored]


def test_report_paths_are_not_format_suffixes(finished, analyst_client):
    assert analyst_client.get(f"/api/backtests/{finished.pk}.json").status_code == 404
    assert analyst_client.get(url(finished, "report")).status_code == 404


def test_shared_completed_run_results_are_readable(finished, bob, bob_client):
    assign_perm("view_backtest", bob, finished)
    for action in ("trades/", "equity/", "report.csv", "report.json"):
        assert bob_client.get(url(finished, action)).status_code == 200, action
    assert EquityCurve.objects.filter(backtest=finished).exists()
