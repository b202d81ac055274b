"""Replaying real fills in the context of a backtest: matches, missed signals, timing and
PnL, on a hand-made backtest whose trades are known."""

import pytest
from rest_framework.test import APIClient

from backtest.models import RunStatus, Trade
from replay import runs
from replay.models import ReplayRun
from tests.replay.replay_helpers import T0, at, flat_candles, make_backtest, make_fills

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(analyst):
    flat_candles("BTCUSDT", T0, 60, 100.0)
    backtest = make_backtest(analyst)
    fills = make_fills(
        analyst,
        [
            {"time": at(10.5), "side": "buy", "price": 100, "quantity": 1},  # entry, 30 s late
            {"time": at(29), "side": "sell", "price": 101, "quantity": 1},  # exit, 60 s early
            {"time": at(55), "side": "buy", "price": 100, "quantity": 1},  # 5 min after exit
            {"time": at(61), "side": "sell", "price": 100, "quantity": 1},  # after the period
        ],
    )
    return backtest, fills


def test_the_summary_compares_fills_with_the_backtest_s_signals(analyst, scene):
    backtest, fills = scene

    run = runs.submit_backtest_replay(analyst, backtest)
    runs.execute_replay(run.pk)
    run.refresh_from_db()

    assert run.status == RunStatus.COMPLETED, run.error
    assert run.backtest == backtest and run.transaction_count == 3  # the 4th is outside
    comparison = run.summary["comparison"]
    assert comparison["tolerance_seconds"] == 60  # one bar by default
    assert (comparison["signals"], comparison["fills"]) == (4, 3)
    assert (comparison["matched"], comparison["unmatched_fills"]) == (2, 1)
    assert comparison["missed_signals"] == 2
    short = Trade.objects.get(backtest=backtest, side="short").pk
    assert comparison["missed"] == [
        {"time": "2024-01-01T00:40:00Z", "side": "sell", "kind": "entry", "trade": short},
        {"time": "2024-01-01T00:50:00Z", "side": "buy", "kind": "exit", "trade": short},
    ]
    long_trade = Trade.objects.get(backtest=backtest, side="long").pk
    assert comparison["matches"] == [
        {"transaction": fills[0].pk, "trade": long_trade, "kind": "entry", "delay_seconds": 30.0},
        {"transaction": fills[1].pk, "trade": long_trade, "kind": "exit", "delay_seconds": -60.0},
    ]
    assert comparison["timing"]["mean_s"] == -15.0
    assert comparison["pnl"]["strategy"] == 3.0
    # Real: bought at 100, sold at 101 (+1), then bought 1 more, marked at 100 (0).
    assert comparison["pnl"]["real"] == run.summary["symbols"]["BTCUSDT"]["real"]


def test_a_wider_tolerance_matches_more(analyst, scene):
    backtest, _ = scene
    run = runs.submit_backtest_replay(analyst, backtest, tolerance_seconds=600)
    runs.execute_replay(run.pk)
    run.refresh_from_db()
    assert run.summary["comparison"]["matched"] == 3  # the late buy now follows the exit


def test_bad_requests_name_the_parameter_and_store_nothing(analyst, scene):
    backtest, _ = scene
    with pytest.raises(runs.InvalidReplayInput, match="tolerance_seconds"):
        runs.submit_backtest_replay(analyst, backtest, tolerance_seconds=-1)
    backtest.status = RunStatus.RUNNING
    with pytest.raises(runs.InvalidReplayInput, match="has not completed"):
        runs.submit_backtest_replay(analyst, backtest)
    assert not ReplayRun.objects.exists()


def test_the_api_starts_it_for_whoever_can_see_the_backtest(analyst, make_user, scene):
    backtest, _ = scene
    client = APIClient()
    client.force_authenticate(analyst)
    url = f"/api/backtests/{backtest.pk}/replay/"

    response = client.post(url, {"fill": "open", "tolerance_seconds": 120}, format="json")

    assert response.status_code == 202, response.content
    run = ReplayRun.objects.get(pk=response.json()["id"])
    assert (run.backtest_id, run.fill_model) == (backtest.pk, "open")
    assert run.parameters["tolerance_seconds"] == 120
    bad = client.post(url, {"tolerance_seconds": -5}, format="json")
    assert bad.status_code == 400 and "tolerance_seconds" in bad.json()

    stranger = APIClient()
    stranger.force_authenticate(make_user("zed", role="analyst"))
    assert stranger.post(url, {}, format="json").status_code == 404
    viewer = APIClient()
    viewer.force_authenticate(make_user("vee", role="viewer"))
    assert viewer.post(url, {}, format="json").status_code == 403
    assert APIClient().post(url, {}, format="json").status_code == 401
