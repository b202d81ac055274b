"""Synthetic candles for the pure engine tests (no database)."""

from __future__ import annotations

import numpy as np

from backtest.engine.types import Bars

MINUTE_US = 60_000_000


def bars_from_close(close, volume=None) -> Bars:
    """Candles whose open is the previous close and whose wicks reach 0.5 % beyond."""
    close = np.asarray(close, dtype=np.float64)
    opens = np.concatenate([close[:1], close[:-1]])
    return Bars.from_arrays(
        {
            "timestamp": np.arange(len(close), dtype=np.int64) * MINUTE_US,
            "open": opens,
            "high": np.maximum(opens, close) * 1.005,
            "low": np.minimum(opens, close) * 0.995,
            "close": close,
            "volume": np.ones(len(close)) if volume is None else np.asarray(volume, float),
        }
    )


def random_bars(n: int, seed: int = 0, start: float = 100.0) -> Bars:
    """A random walk with consistent OHLC, varied volume and some unchanged closes."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.01, n)
    steps[rng.random(n) < 0.05] = 0.0  # flat bars exercise ties (OBV, crosses)
    close = start * np.exp(np.cumsum(steps))
    opens = np.concatenate([[start], close[:-1]])
    return Bars.from_arrays(
        {
            "timestamp": np.arange(n, dtype=np.int64) * MINUTE_US,
            "open": opens,
            "high": np.maximum(opens, close) * (1 + rng.uniform(0, 0.005, n)),
            "low": np.minimum(opens, close) * (1 - rng.uniform(0, 0.005, n)),
            "close": close,
            "volume": rng.uniform(1, 100, n),
        }
    )


def sine_bars(n: int = 1000, period: int = 100, amplitude: float = 10.0) -> Bars:
    t = np.arange(n)
    return bars_from_close(100 + amplitude * np.sin(2 * np.pi * t / period))


def with_future_replaced(bars: Bars, after: int, seed: int) -> Bars:
    """`bars` with every bar after index `after` replaced by unrelated candles."""
    other = random_bars(len(bars), seed=seed, start=50.0)
    fields = {}
    for name in ("timestamp", "open", "high", "low", "close", "volume"):
        values = getattr(bars, name).copy()
        values[after + 1 :] = getattr(other, name)[after + 1 :]
        fields[name] = values
    fields["timestamp"] = bars.timestamp
    return Bars.from_arrays(fields)
