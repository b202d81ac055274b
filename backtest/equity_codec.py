"""Compact storage of per-bar curves: a year of one-minute bars is 525,600 points, so a
curve is a few zlib-compressed arrays in one row, never one row per bar.

Timestamps are stored as zlib-compressed deltas (nearly all equal, so they shrink to
almost nothing); equity as raw float64 (exact) and exposure as raw float32 (a chart
value): market noise does not compress, so trying would only cost time. The columns'
storage is EXTERNAL, so PostgreSQL does not try either.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from backtest.engine.metrics import running_peak

_LEVEL = 1  # fast: the curve is written once per run, inside the run's time budget


@dataclass(frozen=True)
class Curve:
    timestamp: np.ndarray  # int64 µs
    equity: np.ndarray  # float64
    exposure: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.timestamp)


def encode(timestamp: np.ndarray, equity: np.ndarray, exposure: np.ndarray) -> dict:
    deltas = np.diff(np.asarray(timestamp, dtype=np.int64), prepend=np.int64(0))
    return {
        "bar_count": len(timestamp),
        "timestamps": zlib.compress(deltas.tobytes(), _LEVEL),
        "equity": np.asarray(equity, dtype=np.float64).tobytes(),
        "exposure": np.asarray(exposure, dtype=np.float32).tobytes(),
    }


def decode(timestamps: bytes, equity: bytes, exposure: bytes) -> Curve:
    deltas = np.frombuffer(zlib.decompress(bytes(timestamps)), dtype=np.int64)
    return Curve(
        timestamp=np.cumsum(deltas),
        equity=np.frombuffer(bytes(equity), dtype=np.float64),
        exposure=np.frombuffer(bytes(exposure), dtype=np.float32),
    )


def drawdown(equity: np.ndarray, initial: float) -> np.ndarray:
    """Fraction below the running peak (starting balance included, as in the engine's
    metrics), per bar: 0 at a new high."""
    peak = running_peak(equity, initial)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, 1.0 - equity / peak, 0.0)


def downsample(curve: Curve, max_points: int) -> np.ndarray:
    """Indices of at most ~max_points bars that keep each bucket's first, lowest and
    highest equity and the last bar, so drawdowns and peaks survive on a chart."""
    count = len(curve)
    if count <= max_points:
        return np.arange(count)
    buckets = max(1, max_points // 3)
    edges = np.linspace(0, count, buckets + 1).astype(np.int64)
    starts = edges[:-1]
    lows = np.minimum.reduceat(curve.equity, starts)
    highs = np.maximum.reduceat(curve.equity, starts)
    picks = [starts, [count - 1]]
    for target in (lows, highs):
        # first index in each bucket whose equity equals the bucket's extreme
        hit = curve.equity == np.repeat(target, np.diff(edges))
        bucket_of = np.repeat(np.arange(buckets), np.diff(edges))
        first = np.full(buckets, -1)
        indices = np.flatnonzero(hit)
        first[bucket_of[indices][::-1]] = indices[::-1]
        picks.append(first[first >= 0])
    return np.unique(np.concatenate(picks))
