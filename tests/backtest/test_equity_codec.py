"""Equity curves: stored compactly, read back exactly, thinned for charts."""

import numpy as np

from backtest import equity_codec


def curve(count: int, seed: int = 3) -> tuple:
    rng = np.random.default_rng(seed)
    timestamp = 1_704_067_200_000_000 + 60_000_000 * np.arange(count, dtype=np.int64)
    timestamp[count // 2 :] += 3_600_000_000  # a gap in the data
    equity = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    exposure = rng.uniform(-1, 1, count)
    stored = equity_codec.encode(timestamp, equity, exposure)
    return timestamp, equity, exposure, stored


def test_round_trip_is_exact_and_compact():
    timestamp, equity, exposure, stored = curve(100_000)
    assert stored["bar_count"] == 100_000
    assert len(stored["timestamps"]) < 10_000  # deltas nearly all equal
    decoded = equity_codec.decode(stored["timestamps"], stored["equity"], stored["exposure"])
    np.testing.assert_array_equal(decoded.timestamp, timestamp)
    np.testing.assert_array_equal(decoded.equity, equity)
    np.testing.assert_array_equal(decoded.exposure, exposure.astype(np.float32))


def test_drawdown_is_the_fraction_below_the_running_peak():
    drawdown = equity_codec.drawdown(np.array([100.0, 110.0, 99.0, 121.0, 60.5]), 100.0)
    np.testing.assert_allclose(drawdown, [0.0, 0.0, 0.1, 0.0, 0.5])
    assert len(equity_codec.drawdown(np.empty(0), 100.0)) == 0
    # from the starting balance, as the engine measures it: a first bar below it is down
    np.testing.assert_allclose(equity_codec.drawdown(np.array([99.0, 120.0]), 100.0), [0.01, 0])


def test_downsampling_keeps_the_extremes_and_both_ends():
    _, equity, _, stored = curve(50_000, seed=8)
    decoded = equity_codec.decode(stored["timestamps"], stored["equity"], stored["exposure"])
    picked = equity_codec.downsample(decoded, 600)
    assert len(picked) <= 600 + 2
    assert np.all(np.diff(picked) > 0)
    assert picked[0] == 0 and picked[-1] == 49_999
    assert np.argmin(equity) in picked and np.argmax(equity) in picked
    # the deepest drawdown survives thinning
    full = equity_codec.drawdown(equity, equity[0]).max()
    thinned = equity_codec.drawdown(equity[picked], equity[0]).max()
    assert thinned == full
    assert list(equity_codec.downsample(decoded, 100_000)) == list(range(50_000))
