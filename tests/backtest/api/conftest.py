"""Backtest API fixtures: a sine-wave candle series, strategy definitions, and runs made
through the services (the API under test only reads them)."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable

import numpy as np
import pytest

from backtest import services
from backtest.execution import execute_backtest
from backtest.models import Backtest, RunStatus, Strategy
from marketdata.services import import_candles

T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
HOUR_MS = 3_600_000
BARS = 500


def sine_klines(count: int = BARS, period: int = 50, step_ms: int = HOUR_MS) -> bytes:
    """Hourly Binance klines whose close follows a sine wave: moving averages cross
    every half period, so crossover strategies trade regularly."""
    i = np.arange(count)
    close = 100 + 10 * np.sin(2 * np.pi * i / period)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + 0.5
    low = np.minimum(open_, close) - 0.5
    rows = []
    for k in range(count):
        t = T0_MS + k * step_ms
        rows.append(
            f"{t},{open_[k]:.4f},{high[k]:.4f},{low[k]:.4f},{close[k]:.4f},10.0,"
            f"{t + step_ms - 1},{10 * close[k]:.4f},100,5.0,{5 * close[k]:.4f},0\n"
        )
    return "".join(rows).encode()


@pytest.fixture
def candles() -> None:
    """BTCUSDT 1h from binance: 500 bars from 2024-01-01 00:00 UTC."""
    import_candles(io.BytesIO(sine_klines()), symbol="BTCUSDT", timeframe="1h")


def sma(window: object) -> dict:
    return {"indicator": "sma", "params": {"window": window}}


def cross(direction: str) -> dict:
    return {
        "left": sma({"param": "fast"}),
        "op": f"crosses_{direction}",
        "right": sma({"param": "slow"}),
    }


SMA_CROSS = {
    "entry_rules": {"long": cross("above")},
    "exit_rules": {"long": cross("below")},
    "config": {
        "parameters": {"fast": 5, "slow": 20},
        "direction": "long",
        "cash": 10000,
        "fee": 0.001,
    },
}


def sma_cross_definition(**changes: object) -> dict:
    return {**copy.deepcopy(SMA_CROSS), **changes}


@pytest.fixture
def make_strategy() -> Callable[..., Strategy]:
    def make(owner, name: str = "SMA cross", **changes: object) -> Strategy:
        return services.create_strategy(owner, name=name, **sma_cross_definition(**changes))

    return make


@pytest.fixture
def queued_backtest(make_strategy, candles) -> Callable[..., Backtest]:
    """A queued backtest of an SMA cross strategy, made through the service (the
    worker is never reached: tests do not run on_commit callbacks unless they ask)."""

    def make(owner, strategy: Strategy | None = None, **request: object) -> Backtest:
        strategy = strategy or make_strategy(owner, name=f"SMA {Strategy.objects.count()}")
        fields = {"symbol": "BTCUSDT", "timeframe": "1h", **request}
        return services.submit_backtest(
            owner, services.BacktestRequest(strategy=strategy, **fields)
        )

    return make


@pytest.fixture
def completed_backtest(queued_backtest) -> Callable[..., Backtest]:
    """A backtest run to the end in-process by the same function the worker calls."""

    def make(owner, **request: object) -> Backtest:
        backtest = queued_backtest(owner, **request)
        execute_backtest(backtest.pk, respect_user_limit=False)
        backtest.refresh_from_db()
        assert backtest.status == RunStatus.COMPLETED, backtest.error
        return backtest

    return make
