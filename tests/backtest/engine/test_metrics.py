"""Metrics on hand-computed equity series and trade lists."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from backtest.engine.metrics import compute_metrics
from backtest.engine.types import Bars, EngineConfig, TradeLog

T0 = 1_704_067_200_000_000  # 2024-01-01 00:00 UTC, µs
DAY = 86_400_000_000
YEAR = 365 * DAY

KEYS = {
    "total_trades",
    "winning_trades",
    "losing_trades",
    "win_rate",
    "profit_factor",
    "max_drawdown",
    "max_drawdown_percentage",
    "sharpe_ratio",
    "sortino_ratio",
    "total_pnl",
    "total_pnl_percentage",
    "average_win",
    "average_loss",
    "largest_win",
    "largest_loss",
    "final_balance",
    "cagr",
    "annualized_volatility",
    "calmar_ratio",
    "expectancy",
    "sqn",
    "kelly_criterion",
    "exposure_percentage",
    "buy_and_hold_return",
    "average_trade_duration_seconds",
    "max_trade_duration_seconds",
    "fees_paid",
    "long_trades",
    "short_trades",
}


def make_bars(close, timestamp) -> Bars:
    close = np.asarray(close, dtype=float)
    return Bars(np.asarray(timestamp, dtype=np.int64), close, close, close, close, close)


def make_trades(entry_index=(), exit_index=(), side=None, pnl=None, fees=None) -> TradeLog:
    count = len(entry_index)
    return TradeLog(
        entry_index=np.asarray(entry_index, dtype=np.int64),
        exit_index=np.asarray(exit_index, dtype=np.int64),
        side=np.asarray(side if side is not None else [1] * count, dtype=np.int8),
        quantity=np.ones(count),
        entry_price=np.ones(count),
        exit_price=np.ones(count),
        pnl=np.asarray(pnl if pnl is not None else [0.0] * count, dtype=float),
        pnl_percentage=np.zeros(count),
        fees=np.asarray(fees if fees is not None else [0.0] * count, dtype=float),
        entry_reason=np.zeros(count, dtype=np.int8),
        exit_reason=np.zeros(count, dtype=np.int8),
    )


def assert_json_safe(metrics) -> None:
    assert set(metrics) == KEYS
    json.dumps(metrics, allow_nan=False)
    for value in metrics.values():
        assert value is None or type(value) in (int, float)


def test_account_metrics_of_a_known_equity_series():
    # Cash 100, equity 110, 99, 118.8: returns +10 %, -10 %, +20 %. Bars one year apart
    # (first to last: 2 years) and one period per year, so annualising is the identity.
    equity = np.array([110.0, 99.0, 118.8])
    bars = make_bars([50, 40, 60], [T0, T0 + YEAR, T0 + 2 * YEAR])
    metrics = compute_metrics(
        bars, make_trades(), equity, EngineConfig(cash=100, periods_per_year=1)
    )

    returns = [0.1, -0.1, 0.2]
    mean = sum(returns) / 3
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 2)
    assert std == pytest.approx(0.1527525)
    assert metrics["sharpe_ratio"] == pytest.approx(mean / std)
    assert metrics["sortino_ratio"] == pytest.approx(mean / math.sqrt(0.01 / 3))
    assert metrics["annualized_volatility"] == pytest.approx(std * 100)
    assert metrics["max_drawdown"] == pytest.approx(11)
    assert metrics["max_drawdown_percentage"] == pytest.approx(10)
    assert metrics["cagr"] == pytest.approx((math.sqrt(1.188) - 1) * 100)
    assert metrics["calmar_ratio"] == pytest.approx((math.sqrt(1.188) - 1) * 100 / 10)
    assert metrics["final_balance"] == pytest.approx(118.8)
    assert metrics["total_pnl"] == pytest.approx(18.8)
    assert metrics["total_pnl_percentage"] == pytest.approx(18.8)
    assert metrics["buy_and_hold_return"] == pytest.approx(20)
    assert_json_safe(metrics)


def test_annualisation_scales_with_periods_per_year():
    equity = np.array([110.0, 99.0, 118.8])
    bars = make_bars([1, 1, 1], [T0, T0 + DAY, T0 + 2 * DAY])
    yearly = compute_metrics(
        bars, make_trades(), equity, EngineConfig(cash=100, periods_per_year=1)
    )
    daily = compute_metrics(bars, make_trades(), equity, EngineConfig(cash=100))
    assert daily["sharpe_ratio"] == pytest.approx(yearly["sharpe_ratio"] * math.sqrt(365))
    assert daily["annualized_volatility"] == pytest.approx(
        yearly["annualized_volatility"] * math.sqrt(365)
    )
    # 18.8 % in two days, compounded over 182.5 such spans.
    assert daily["cagr"] == pytest.approx((1.188**182.5 - 1) * 100)


def test_drawdown_is_measured_from_the_initial_cash_and_money_and_percent_peak_apart():
    # Peaks: 100 (cash), then 400. Money: 400 -> 330 is the largest (70, 17.5 %);
    # percent: 100 -> 80 is the largest (20 %, 20 in money).
    equity = np.array([80.0, 400.0, 330.0])
    bars = make_bars([1, 1, 1], [T0, T0 + DAY, T0 + 2 * DAY])
    metrics = compute_metrics(bars, make_trades(), equity, EngineConfig(cash=100))
    assert metrics["max_drawdown"] == pytest.approx(70)
    assert metrics["max_drawdown_percentage"] == pytest.approx(20)


def test_trade_metrics():
    pnl = [10.0, -5.0, 20.0, -5.0, 0.0]
    trades = make_trades(
        entry_index=[0, 2, 3, 6, 8],
        exit_index=[2, 3, 5, 6, 9],
        side=[1, -1, 1, 1, -1],
        pnl=pnl,
        fees=[1.0, 0.5, 0.5, 0.25, 0.25],
    )
    bars = make_bars(np.ones(10), T0 + 60_000_000 * np.arange(10))
    metrics = compute_metrics(bars, trades, np.full(10, 10_020.0), EngineConfig())

    assert metrics["total_trades"] == 5
    assert (metrics["long_trades"], metrics["short_trades"]) == (3, 2)
    assert (metrics["winning_trades"], metrics["losing_trades"]) == (2, 2)
    assert metrics["win_rate"] == pytest.approx(40)
    assert metrics["profit_factor"] == pytest.approx(3)
    assert metrics["average_win"] == pytest.approx(15)
    assert metrics["average_loss"] == pytest.approx(-5)
    assert metrics["largest_win"] == pytest.approx(20)
    assert metrics["largest_loss"] == pytest.approx(-5)
    assert metrics["expectancy"] == pytest.approx(4)
    # pnl deviations from the mean 4: 6, -9, 16, -9, -4 -> variance 470 / 4.
    assert metrics["sqn"] == pytest.approx(math.sqrt(5) * 4 / math.sqrt(117.5))
    assert metrics["kelly_criterion"] == pytest.approx(0.4 - 0.6 / 3)
    # Bars 0-6, 8 and 9 (bar 7 is flat; bars 2, 3 and 6 shared by two trades count once).
    assert metrics["exposure_percentage"] == pytest.approx(90)
    assert metrics["average_trade_duration_seconds"] == pytest.approx(60 * 6 / 5)
    assert metrics["max_trade_duration_seconds"] == pytest.approx(120)
    assert metrics["fees_paid"] == pytest.approx(2.5)
    assert_json_safe(metrics)


def test_no_trades_and_flat_equity():
    bars = make_bars([10, 11, 12], [T0, T0 + DAY, T0 + 2 * DAY])
    metrics = compute_metrics(bars, make_trades(), np.full(3, 10_000.0), EngineConfig())
    assert metrics["total_trades"] == metrics["winning_trades"] == metrics["losing_trades"] == 0
    assert metrics["fees_paid"] == 0.0
    assert metrics["exposure_percentage"] == 0.0
    assert metrics["annualized_volatility"] == 0.0
    assert metrics["cagr"] == 0.0
    assert metrics["max_drawdown"] == 0.0
    for key in (
        "win_rate",
        "profit_factor",
        "average_win",
        "average_loss",
        "largest_win",
        "largest_loss",
        "expectancy",
        "sqn",
        "kelly_criterion",
        "average_trade_duration_seconds",
        "max_trade_duration_seconds",
        "sharpe_ratio",  # zero volatility
        "sortino_ratio",  # no negative return
        "calmar_ratio",  # no drawdown
    ):
        assert metrics[key] is None, key
    assert_json_safe(metrics)


def test_only_winning_trades_leave_profit_factor_and_kelly_undefined():
    bars = make_bars([1, 1, 1], [T0, T0 + DAY, T0 + 2 * DAY])
    trades = make_trades([0, 1], [1, 2], pnl=[5.0, 5.0])
    metrics = compute_metrics(bars, trades, np.array([10_000.0, 10_005, 10_010]), EngineConfig())
    assert metrics["profit_factor"] is None
    assert metrics["kelly_criterion"] is None
    assert metrics["average_loss"] is None
    assert metrics["sqn"] is None  # zero spread
    assert metrics["win_rate"] == 100
    assert_json_safe(metrics)


def test_wiped_out_account():
    bars = make_bars([1, 1, 1], [T0, T0 + DAY, T0 + 2 * DAY])
    equity = np.array([5_000.0, 0.0, 0.0])
    metrics = compute_metrics(bars, make_trades([0], [1], pnl=[-10_000.0]), equity, EngineConfig())
    assert metrics["cagr"] == -100
    assert metrics["max_drawdown_percentage"] == pytest.approx(100)
    assert metrics["sharpe_ratio"] is None
    assert metrics["annualized_volatility"] is None
    assert_json_safe(metrics)


def test_a_huge_gain_over_a_short_span_does_not_overflow():
    bars = make_bars([1, 1], [T0, T0 + 60_000_000])
    metrics = compute_metrics(bars, make_trades(), np.array([10_000.0, 15_000.0]), EngineConfig())
    assert metrics["cagr"] is None
    assert_json_safe(metrics)


def test_single_bar_and_no_bars():
    one = compute_metrics(make_bars([1], [T0]), make_trades(), np.array([10_000.0]), EngineConfig())
    assert one["cagr"] is None
    assert one["sharpe_ratio"] is None
    assert_json_safe(one)
    none = compute_metrics(make_bars([], []), make_trades(), np.empty(0), EngineConfig())
    assert none["final_balance"] == 10_000
    assert none["buy_and_hold_return"] is None
    assert_json_safe(none)
