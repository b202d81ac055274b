"""Backtest fixtures: stored synthetic candles to run strategies on."""

from __future__ import annotations

import io

import pytest

from marketdata.sample_data import kline_rows
from marketdata.services import import_candles

HOUR_MS = 3_600_000
START_2024_MS = 1_704_067_200_000


def store_candles(
    symbol: str = "BTCUSDT",
    timeframe: str = "1h",
    count: int = 600,
    seed: int = 7,
    step_ms: int = HOUR_MS,
    start_ms: int = START_2024_MS,
) -> None:
    """A deterministic random walk of `count` candles, stored through the importer."""
    data = kline_rows(start_ms, step_ms, count, 40_000.0, seed)
    import_candles(io.BytesIO(data), symbol=symbol, timeframe=timeframe, filename="klines.csv")


@pytest.fixture
def hourly_candles(db) -> str:
    """600 hourly BTCUSDT candles from 2024-01-01; returns the symbol."""
    store_candles()
    return "BTCUSDT"
