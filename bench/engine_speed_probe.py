"""Probe: our simulate + metrics against vectorbt's from_signals + stats.

One year of synthetic one-minute bars (525 600, a geometric random walk with a fixed
seed), SMA(10)/SMA(20) crossover long/short signals from pandas rolling means, fee 0.1 %.
Both sides are warmed up (numba compilation) before timing; the best of a few runs is
printed. Run: `.venv/bin/python bench/engine_speed_probe.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from backtest.engine.simulator import simulate
from backtest.engine.types import Bars, EngineConfig, Signals

BARS = 525_600
MINUTE_US = 60_000_000
FEE = 0.001
REPEATS = 5


def synthetic_bars(n: int = BARS, seed: int = 42) -> Bars:
    rng = np.random.default_rng(seed)
    close = 20_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.normal(0, 0.0004, n))
    return Bars(
        timestamp=1_704_067_200_000_000 + MINUTE_US * np.arange(n, dtype=np.int64),
        open=open_,
        high=np.maximum(open_, close) * (1 + wick),
        low=np.minimum(open_, close) * (1 - wick),
        close=close,
        volume=rng.uniform(1, 10, n),
    )


def crossover_signals(close: np.ndarray) -> Signals:
    series = pd.Series(close)
    fast = series.rolling(10).mean().to_numpy()
    slow = series.rolling(20).mean().to_numpy()
    up = np.concatenate(([False], (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1])))
    down = np.concatenate(([False], (fast[1:] < slow[1:]) & (fast[:-1] >= slow[:-1])))
    return Signals(long_entry=up, long_exit=down, short_entry=down, short_exit=up)


def best_time(run: Callable[[], object]) -> float:
    run()  # warm-up: compilation and caches
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    import vectorbt as vbt

    bars = synthetic_bars()
    signals = crossover_signals(bars.close)
    config = EngineConfig(fee=FEE, direction="both", periods_per_year=BARS)
    close = pd.Series(bars.close, index=pd.to_datetime(bars.timestamp, unit="us"))

    def ours() -> object:
        return simulate(bars, signals, config).metrics

    def vectorbt() -> object:
        portfolio = vbt.Portfolio.from_signals(
            close,
            entries=signals.long_entry,
            exits=signals.long_exit,
            short_entries=signals.short_entry,
            short_exits=signals.short_exit,
            fees=FEE,
            freq="1min",
        )
        return portfolio.stats()

    trades = len(simulate(bars, signals, config).trades)
    ours_seconds = best_time(ours)
    vectorbt_seconds = best_time(vectorbt)
    print(f"bars: {BARS}, our trades: {trades}")
    print(f"ours     simulate + compute_metrics: {ours_seconds * 1000:8.1f} ms")
    print(f"vectorbt from_signals + stats:       {vectorbt_seconds * 1000:8.1f} ms")
    print(f"speed-up: {vectorbt_seconds / ours_seconds:.1f}x")


if __name__ == "__main__":
    main()
