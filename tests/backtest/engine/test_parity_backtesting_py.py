"""Parity with backtesting.py 0.6.6 on its own GOOG data: SMA(10)/SMA(20) crossover.

The reference strategy, on each bar's close: when SMA(10) crosses above SMA(20), close
the position and buy; when it crosses below, close and sell. Commission 0.1 %, cash
10 000, fills at the next open. Our engine runs the same rule as direction "both"
(an opposite entry is a reversal) with fee 0.001.

Conventions that differ, and how the comparison handles them (read from
backtesting/backtesting.py):
- Crossing: `lib.crossover` tests `a[-2] < b[-2] and a[-1] > b[-1]`; our rules use
  `a[i-1] <= b[i-1]`. The two only differ when the averages are exactly equal on the
  bar before a cross, which never happens on GOOG; the test checks that rather than
  assuming it.
- Warm-up: `Strategy.next` first runs on bar 1 + (the indicators' NaN warm-up) = 20,
  the first bar where both averages exist on it and on the bar before; our signals are
  False wherever an average is NaN, so the first possible signal bar is the same.
- Size: `buy()`/`sell()` default to 1 - epsilon of the available margin, with units
  floored to integers after adding the commission per unit: size =
  floor(equity / (open * (1 + commission))). `FractionalBacktest` scales prices down
  by 1e8 so a unit is 1e-8 of a share; our "fraction" 1.0 sizing is the same formula
  without the flooring, a difference of about 1e-10 relative.
- Commission: charged on entry (on the fill price) and on exit, as ours.
- End of data: with `finalize_trades=False` (the default) the last trade stays open; it
  is missing from `_trades` and the final equity marks it at the last close without an
  exit commission. Ours closes it at the last close ("end_of_data") and charges the
  exit fee. So our last trade is compared with the open trade, and our final equity
  plus that exit fee with theirs. (`finalize_trades=True` would fill the close at the
  last bar's open instead, a different convention again.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover
from backtesting.test import GOOG, SMA

from backtest.engine.simulator import simulate
from backtest.engine.types import EXIT_REASONS, Bars, EngineConfig, Signals

FEE = 0.001
CASH = 10_000


class SmaCross(Strategy):
    def init(self):
        self.ma1 = self.I(SMA, self.data.Close, 10)
        self.ma2 = self.I(SMA, self.data.Close, 20)

    def next(self):
        if crossover(self.ma1, self.ma2):
            self.position.close()
            self.buy()
        elif crossover(self.ma2, self.ma1):
            self.position.close()
            self.sell()


def crosses_above(left: np.ndarray, right: np.ndarray, *, strict_before: bool) -> np.ndarray:
    before = left[:-1] < right[:-1] if strict_before else left[:-1] <= right[:-1]
    return np.concatenate(([False], (left[1:] > right[1:]) & before))


@pytest.fixture(scope="module")
def reference():
    backtest = FractionalBacktest(GOOG, SmaCross, commission=FEE, cash=CASH)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "trades remain open", tqdm
        return backtest.run()


@pytest.fixture(scope="module")
def ours():
    close = GOOG["Close"]
    fast = close.rolling(10).mean().to_numpy()
    slow = close.rolling(20).mean().to_numpy()
    up = crosses_above(fast, slow, strict_before=False)
    down = crosses_above(slow, fast, strict_before=False)
    assert np.array_equal(up, crosses_above(fast, slow, strict_before=True))
    assert np.array_equal(down, crosses_above(slow, fast, strict_before=True))

    bars = Bars.from_arrays(
        {
            "timestamp": pd.DatetimeIndex(GOOG.index).as_unit("us").asi8,
            **{name.lower(): GOOG[name].to_numpy() for name in GOOG.columns},
        }
    )
    never = np.zeros(len(bars), dtype=bool)
    signals = Signals(long_entry=up, long_exit=never, short_entry=down, short_exit=never)
    return simulate(bars, signals, EngineConfig(cash=CASH, fee=FEE, direction="both"))


def test_same_closed_trades(reference, ours):
    theirs = reference["_trades"]
    closed = slice(0, len(ours.trades) - 1)  # all but our end_of_data trade
    assert len(theirs) > 50
    assert len(ours.trades) == len(theirs) + 1
    np.testing.assert_array_equal(ours.trades.entry_index[closed], theirs["EntryBar"])
    np.testing.assert_array_equal(ours.trades.exit_index[closed], theirs["ExitBar"])
    np.testing.assert_array_equal(ours.trades.side[closed], np.sign(theirs["Size"]))
    np.testing.assert_allclose(ours.trades.entry_price[closed], theirs["EntryPrice"])
    np.testing.assert_allclose(ours.trades.exit_price[closed], theirs["ExitPrice"])
    np.testing.assert_allclose(ours.trades.quantity[closed], theirs["Size"].abs(), rtol=1e-8)
    np.testing.assert_allclose(ours.trades.pnl[closed], theirs["PnL"], rtol=1e-6)
    np.testing.assert_allclose(ours.trades.fees[closed], theirs["Commission"], rtol=1e-6)


def test_the_trade_still_open_at_the_end(reference, ours):
    (open_trade,) = reference["_strategy"].trades
    assert ours.trades.entry_index[-1] == open_trade.entry_bar
    assert ours.trades.side[-1] == np.sign(open_trade.size)
    assert EXIT_REASONS[ours.trades.exit_reason[-1]] == "end_of_data"
    assert ours.trades.exit_index[-1] == len(GOOG) - 1


def test_same_equity(reference, ours):
    theirs = reference["_equity_curve"]["Equity"].to_numpy()
    np.testing.assert_allclose(ours.equity[:-1], theirs[:-1], rtol=1e-6)
    exit_fee = ours.trades.quantity[-1] * ours.trades.exit_price[-1] * FEE
    assert ours.equity[-1] + exit_fee == pytest.approx(theirs[-1], rel=1e-3)
    assert ours.metrics["final_balance"] + exit_fee == pytest.approx(
        reference["Equity Final [$]"], rel=1e-3
    )
