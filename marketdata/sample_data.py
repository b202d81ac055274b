"""Deterministic synthetic candles in Binance's 12-column kline format.

Used for the bundled demo data, the benchmarks and tests. It is a geometric random
walk, not market history; it is labelled as such wherever it is shown.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def kline_rows(
    start_ms: int,
    step_ms: int,
    count: int,
    start_price: float,
    seed: int,
    microseconds: bool = False,
) -> bytes:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0, 0.0015 * np.sqrt(step_ms / 60_000), count)
    close = start_price * np.exp(np.cumsum(returns))
    open_ = np.r_[start_price, close[:-1]]
    spread = np.abs(rng.normal(0, 0.0008, count)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread * rng.random(count)
    volume = rng.gamma(2.0, 5.0, count)
    trades = rng.integers(50, 5000, count)
    open_time = start_ms + step_ms * np.arange(count, dtype=np.int64)
    close_time = open_time + step_ms - 1
    scale = 1000 if microseconds else 1
    buf = io.StringIO()
    for i in range(count):
        buf.write(
            f"{open_time[i] * scale},{open_[i]:.2f},{high[i]:.2f},{low[i]:.2f},{close[i]:.2f},"
            f"{volume[i]:.5f},{close_time[i] * scale + (scale - 1)},{volume[i] * close[i]:.4f},"
            f"{trades[i]},{volume[i] / 2:.5f},{volume[i] * close[i] / 2:.4f},0\n"
        )
    return buf.getvalue().encode()


SAMPLE_DIR = Path(__file__).parent / "fixtures" / "sample"
# (file name, symbol, timeframe, start ms, step ms, count, start price, seed)
SAMPLES = (
    ("BTCUSDT-1h-2024.csv.gz", "BTCUSDT", "1h", 1_704_067_200_000, 3_600_000, 8784, 42_000.0, 1),
    ("ETHUSDT-1h-2024.csv.gz", "ETHUSDT", "1h", 1_704_067_200_000, 3_600_000, 8784, 2_300.0, 2),
    (
        "BTCUSDT-1m-2024-12-01.csv.gz",
        "BTCUSDT",
        "1m",
        1_733_011_200_000,
        60_000,
        10_080,
        96_000.0,
        3,
    ),
)


def write_samples() -> None:
    """Regenerate the bundled demo files (python -m marketdata.sample_data)."""
    import gzip

    SAMPLE_DIR.mkdir(parents=True, exist_ok=True)
    for name, _symbol, _tf, start, step, count, price, seed in SAMPLES:
        data = kline_rows(start, step, count, price, seed)
        (SAMPLE_DIR / name).write_bytes(gzip.compress(data, mtime=0))


if __name__ == "__main__":
    write_samples()
