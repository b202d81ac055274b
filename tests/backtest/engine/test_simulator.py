"""The simulator on tiny hand-computed cases, plus properties over random runs.

Unless a test says otherwise: cash 10 000, no fee, no slippage, sizing "fraction" 1.0,
"next_open" fills, and bars one hour apart starting 2024-01-01 00:00 UTC.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.engine import simulator
from backtest.engine.simulator import simulate
from backtest.engine.types import (
    ENTRY_REASONS,
    EXIT_REASONS,
    Bars,
    EngineConfig,
    RiskLimits,
    Signals,
    Sizing,
)

T0 = 1_704_067_200_000_000  # 2024-01-01 00:00 UTC, µs
HOUR = 3_600_000_000


def make_bars(open_, close=None, high=None, low=None, timestamp=None) -> Bars:
    open_ = np.asarray(open_, dtype=float)
    close = open_ if close is None else np.asarray(close, dtype=float)
    high = np.maximum(open_, close) if high is None else np.asarray(high, dtype=float)
    low = np.minimum(open_, close) if low is None else np.asarray(low, dtype=float)
    if timestamp is None:
        timestamp = T0 + HOUR * np.arange(len(open_))
    return Bars(np.asarray(timestamp, dtype=np.int64), open_, high, low, close, np.ones_like(open_))


def make_signals(
    n, long_entry=(), long_exit=(), short_entry=(), short_exit=(), atr=None
) -> Signals:
    def flags(indices) -> np.ndarray:
        array = np.zeros(n, dtype=bool)
        array[list(indices)] = True
        return array

    return Signals(
        flags(long_entry),
        flags(long_exit),
        flags(short_entry),
        flags(short_exit),
        None if atr is None else np.asarray(atr, dtype=float),
    )


def config(**overrides) -> EngineConfig:
    return EngineConfig(**{"fee": 0.0, **overrides})


def entry_reasons(result) -> list[str]:
    return [ENTRY_REASONS[r] for r in result.trades.entry_reason]


def exit_reasons(result) -> list[str]:
    return [EXIT_REASONS[r] for r in result.trades.exit_reason]


def test_long_fills_at_next_open_and_marks_equity_at_close():
    bars = make_bars(open_=[10, 10, 12, 15, 14], close=[10, 11, 9.9, 14, 14])
    result = simulate(bars, make_signals(5, long_entry=[0], long_exit=[2]), config())

    trades = result.trades
    assert len(trades) == 1
    assert (trades.entry_index[0], trades.exit_index[0], trades.side[0]) == (1, 3, 1)
    assert trades.quantity[0] == pytest.approx(1000)
    assert (trades.entry_price[0], trades.exit_price[0]) == (10, 15)
    assert trades.pnl[0] == pytest.approx(5000)
    assert trades.pnl_percentage[0] == pytest.approx(50)
    assert trades.fees[0] == 0
    assert entry_reasons(result) == ["long_entry"]
    assert exit_reasons(result) == ["exit_signal"]
    assert result.equity == pytest.approx([10_000, 11_000, 9_900, 15_000, 15_000])
    assert result.drawdown == pytest.approx([0, 0, 0.1, 0, 0])
    assert result.exposure == pytest.approx([0, 1, 1, 0, 0])
    assert result.metrics["total_trades"] == 1
    assert result.metrics["final_balance"] == pytest.approx(15_000)


def test_same_close_fills_at_the_signal_bars_close():
    bars = make_bars(open_=[10, 10, 12, 15, 14], close=[10, 11, 9.9, 14, 14])
    result = simulate(
        bars, make_signals(5, long_entry=[0], long_exit=[2]), config(fill="same_close")
    )

    trades = result.trades
    assert (trades.entry_index[0], trades.exit_index[0]) == (0, 2)
    assert (trades.entry_price[0], trades.exit_price[0]) == (10, 9.9)
    assert trades.pnl[0] == pytest.approx(-100)
    assert result.equity == pytest.approx([10_000, 11_000, 9_900, 9_900, 9_900])


@pytest.mark.parametrize("fill", ["next_open", "same_close"])
def test_an_entry_on_the_last_bar_does_nothing(fill):
    bars = make_bars(open_=[10, 11, 12])
    result = simulate(bars, make_signals(3, long_entry=[2]), config(fill=fill))
    assert len(result.trades) == 0
    assert result.equity == pytest.approx([10_000] * 3)


def test_short_position_cash_accounting():
    bars = make_bars(open_=[10, 10, 9, 8, 8], close=[10, 9.5, 8.5, 8, 8])
    result = simulate(
        bars, make_signals(5, short_entry=[0], short_exit=[2]), config(direction="short")
    )

    trades = result.trades
    assert (trades.entry_index[0], trades.exit_index[0], trades.side[0]) == (1, 3, -1)
    assert trades.quantity[0] == pytest.approx(1000)
    assert trades.pnl[0] == pytest.approx(2000)
    # Short sale proceeds are cash: 20 000 cash, minus 1000 units marked at the close.
    assert result.equity == pytest.approx([10_000, 10_500, 11_500, 12_000, 12_000])
    assert result.exposure[1] == pytest.approx(-9_500 / 10_500)


def test_direction_filters_the_other_sides_signals():
    bars = make_bars(open_=[10, 10, 12, 15, 14])
    signals = make_signals(5, long_entry=[0], short_entry=[1])
    short_only = simulate(bars, signals, config(direction="short"))
    assert list(short_only.trades.side) == [-1]
    long_only = simulate(bars, signals, config(direction="long"))
    assert list(long_only.trades.side) == [1]
    assert exit_reasons(long_only) == ["end_of_data"]


def test_reversal_closes_and_opens_the_other_side_in_one_fill():
    bars = make_bars(open_=[10, 10, 12, 12, 11, 11])
    result = simulate(
        bars, make_signals(6, long_entry=[0], short_entry=[2]), config(direction="both")
    )

    trades = result.trades
    assert list(trades.entry_index) == [1, 3]
    assert list(trades.exit_index) == [3, 5]
    assert list(trades.side) == [1, -1]
    assert entry_reasons(result) == ["long_entry", "reversal"]
    assert exit_reasons(result) == ["reversal", "end_of_data"]
    # The short is sized from the cash after closing the long: 12 000 / 12.
    assert trades.quantity == pytest.approx([1000, 1000])
    assert trades.pnl == pytest.approx([2000, 1000])
    assert result.equity[-1] == pytest.approx(13_000)


class TestSignalPrecedence:
    bars = make_bars(open_=[10, 10, 10, 10, 10, 10])

    def run(self, direction="both", **signals):
        return simulate(self.bars, make_signals(6, **signals), config(direction=direction))

    def test_entry_and_exit_together_when_flat_opens_nothing(self):
        assert len(self.run(long_entry=[1], long_exit=[1]).trades) == 0

    def test_entry_and_exit_together_in_a_position_exits(self):
        result = self.run(long_entry=[0, 2], long_exit=[2])
        assert list(result.trades.exit_index) == [3]
        assert exit_reasons(result) == ["exit_signal"]

    def test_exit_with_an_opposite_entry_exits_then_opens_plainly(self):
        result = self.run(long_entry=[0], long_exit=[2], short_entry=[2])
        assert exit_reasons(result) == ["exit_signal", "end_of_data"]
        assert entry_reasons(result) == ["long_entry", "short_entry"]
        assert list(result.trades.entry_index) == [1, 3]

    def test_long_and_short_entries_together_when_flat_open_nothing(self):
        assert len(self.run(long_entry=[1], short_entry=[1]).trades) == 0

    def test_an_opposite_entry_cancelled_by_its_own_exit_does_not_reverse(self):
        result = self.run(long_entry=[0], short_entry=[2], short_exit=[2])
        assert exit_reasons(result) == ["end_of_data"]

    def test_no_pyramiding(self):
        result = self.run(direction="long", long_entry=[0, 2])
        assert len(result.trades) == 1
        assert result.trades.quantity[0] == pytest.approx(1000)


def test_fees_on_entry_and_exit():
    bars = make_bars(open_=[10, 10, 12, 12])
    result = simulate(bars, make_signals(4, long_entry=[0], long_exit=[1]), config(fee=0.001))

    quantity = 10_000 / (10 * 1.001)
    entry_fee = quantity * 10 * 0.001
    exit_fee = quantity * 12 * 0.001
    trades = result.trades
    assert trades.quantity[0] == pytest.approx(quantity)
    assert trades.fees[0] == pytest.approx(entry_fee + exit_fee)
    assert trades.pnl[0] == pytest.approx(quantity * 2 - entry_fee - exit_fee)
    # Notional plus the entry fee uses all the equity: no cash left after the entry.
    assert result.equity[1] == pytest.approx(quantity * 10)
    assert result.equity[-1] == pytest.approx(10_000 + trades.pnl[0])
    assert result.metrics["fees_paid"] == pytest.approx(entry_fee + exit_fee)


@pytest.mark.parametrize(
    ("direction", "signals", "entry", "exit_"),
    [
        ("long", {"long_entry": [0], "long_exit": [1]}, 10 * 1.01, 12 * 0.99),
        ("short", {"short_entry": [0], "short_exit": [1]}, 10 * 0.99, 12 * 1.01),
    ],
)
def test_slippage_buys_higher_and_sells_lower(direction, signals, entry, exit_):
    bars = make_bars(open_=[10, 10, 12, 12])
    result = simulate(bars, make_signals(4, **signals), config(direction=direction, slippage=0.01))
    trades = result.trades
    side = 1 if direction == "long" else -1
    assert trades.entry_price[0] == pytest.approx(entry)
    assert trades.exit_price[0] == pytest.approx(exit_)
    assert trades.quantity[0] == pytest.approx(10_000 / entry)
    assert trades.pnl[0] == pytest.approx(side * 10_000 / entry * (exit_ - entry))


class TestSizing:
    bars = make_bars(open_=[10, 10, 10, 10], low=[10, 10, 10, 10])

    def quantity(self, sizing=None, risk=None, direction="long", fee=0.0, atr=None):
        signals = make_signals(4, long_entry=[0], short_entry=[0], atr=atr)
        result = simulate(
            self.bars,
            signals,
            config(
                direction=direction,
                fee=fee,
                sizing=sizing or Sizing(),
                risk=risk or RiskLimits(),
            ),
        )
        return result.trades.quantity[0] if len(result.trades) else None

    def test_fraction(self):
        assert self.quantity(Sizing("fraction", 0.5)) == pytest.approx(500)

    def test_quantity(self):
        assert self.quantity(Sizing("quantity", 5)) == pytest.approx(5)

    def test_notional(self):
        assert self.quantity(Sizing("notional", 1000)) == pytest.approx(100)

    def test_risk(self):
        # Risk 1 % of 10 000 with the stop 2 ATRs (2 * 0.5) away: 100 / 1 = 100 units.
        sizing = Sizing("risk", 0.01, atr_multiple=2.0)
        assert self.quantity(sizing, atr=[0.5, 0, 0, 0]) == pytest.approx(100)

    @pytest.mark.parametrize("atr", [np.nan, 0.0, -1.0])
    def test_risk_skips_the_entry_without_a_usable_atr(self, atr):
        assert self.quantity(Sizing("risk", 0.01), atr=[atr, 1, 1, 1]) is None

    def test_max_position_size_caps_the_notional(self):
        assert self.quantity(risk=RiskLimits(max_position_size=0.25)) == pytest.approx(250)

    @pytest.mark.parametrize("direction", ["long", "short"])
    def test_no_leverage_for_longs_or_shorts(self, direction):
        quantity = self.quantity(Sizing("quantity", 5000), direction=direction, fee=0.001)
        assert quantity == pytest.approx(10_000 / (10 * 1.001))


def test_risk_sizing_distance_is_the_stop_loss():
    bars = make_bars(open_=[10, 10, 10, 10], low=[10, 9.8, 8.9, 10])
    sizing = Sizing("risk", 0.01, atr_multiple=2.0)
    result = simulate(bars, make_signals(4, long_entry=[0], atr=[0.5] * 4), config(sizing=sizing))
    assert exit_reasons(result) == ["stop_loss"]
    assert result.trades.exit_index[0] == 2
    assert result.trades.exit_price[0] == pytest.approx(9)
    assert result.trades.pnl[0] == pytest.approx(-100)  # the 1 % risked


def test_the_tighter_of_risk_stop_and_stop_loss_applies():
    bars = make_bars(open_=[10, 10, 10, 10], low=[10, 9.8, 9.4, 10])
    result = simulate(
        bars,
        make_signals(4, long_entry=[0], atr=[0.5] * 4),
        config(sizing=Sizing("risk", 0.01), risk=RiskLimits(stop_loss=0.05)),
    )
    assert result.trades.exit_price[0] == pytest.approx(9.5)


class TestStops:
    """A long (or short) entered at bar 1's open of 10 with 1000 units."""

    def run(self, high, low, open_=None, direction="long", fill="next_open", **limits):
        open_ = open_ or [10] * len(high)
        bars = make_bars(open_=open_, close=open_, high=high, low=low)
        signals = make_signals(len(high), long_entry=[0], short_entry=[0])
        return simulate(
            bars, signals, config(direction=direction, fill=fill, risk=RiskLimits(**limits))
        )

    def test_stop_loss_can_hit_on_the_entry_bar(self):
        result = self.run(high=[10, 10, 10], low=[10, 9.4, 10], stop_loss=0.05)
        assert exit_reasons(result) == ["stop_loss"]
        assert (result.trades.entry_index[0], result.trades.exit_index[0]) == (1, 1)
        assert result.trades.exit_price[0] == pytest.approx(9.5)
        assert result.trades.pnl[0] == pytest.approx(-500)

    def test_stop_loss_on_a_later_bar(self):
        result = self.run(high=[10, 10, 10, 10], low=[10, 9.8, 9.4, 10], stop_loss=0.05)
        assert result.trades.exit_index[0] == 2
        assert result.trades.exit_price[0] == pytest.approx(9.5)

    def test_take_profit(self):
        result = self.run(high=[10, 10.5, 11.2, 10], low=[10] * 4, take_profit=0.1)
        assert exit_reasons(result) == ["take_profit"]
        assert result.trades.exit_index[0] == 2
        assert result.trades.exit_price[0] == pytest.approx(11)

    def test_stop_and_target_in_one_bar_assumes_the_stop(self):
        result = self.run(
            high=[10, 10, 11.2, 10], low=[10, 10, 9.4, 10], stop_loss=0.05, take_profit=0.1
        )
        assert exit_reasons(result) == ["stop_loss"]
        assert result.trades.exit_price[0] == pytest.approx(9.5)

    def test_a_gap_through_the_stop_fills_at_the_open(self):
        result = self.run(
            open_=[10, 10, 9, 9], high=[10, 10, 9.2, 9], low=[10, 10, 8.8, 9], stop_loss=0.05
        )
        assert exit_reasons(result) == ["stop_loss"]
        assert result.trades.exit_price[0] == pytest.approx(9)

    def test_a_gap_through_the_target_fills_at_the_open(self):
        result = self.run(
            open_=[10, 10, 11.5, 11],
            high=[10, 10, 11.6, 11],
            low=[10, 10, 9.0, 11],
            stop_loss=0.05,
            take_profit=0.1,
        )
        assert exit_reasons(result) == ["take_profit"]
        assert result.trades.exit_price[0] == pytest.approx(11.5)

    def test_trailing_stop_follows_the_best_high_of_earlier_bars(self):
        # Bar 1: best so far is the fill (10), level 9: its low 9.5 holds although its
        # own high (12) would put the level at 10.8. Bar 2: level 10.8, low 10.9 holds.
        # Bar 3: level 12.5 * 0.9 = 11.25, low 11 hits it.
        result = self.run(
            open_=[10, 10, 12, 12, 12],
            high=[10, 12, 12.5, 12, 12],
            low=[10, 9.5, 10.9, 11, 12],
            trailing_stop=0.1,
        )
        assert exit_reasons(result) == ["trailing_stop"]
        assert result.trades.exit_index[0] == 3
        assert result.trades.exit_price[0] == pytest.approx(11.25)

    def test_fixed_stop_applies_while_tighter_than_the_trailing_stop(self):
        result = self.run(high=[10, 10, 10], low=[10, 9.4, 10], stop_loss=0.05, trailing_stop=0.1)
        assert exit_reasons(result) == ["stop_loss"]

    def test_short_stop_loss_and_take_profit(self):
        stopped = self.run(direction="short", high=[10, 10, 10.6, 10], low=[10] * 4, stop_loss=0.05)
        assert exit_reasons(stopped) == ["stop_loss"]
        assert stopped.trades.exit_price[0] == pytest.approx(10.5)
        assert stopped.trades.pnl[0] == pytest.approx(-500)
        target = self.run(direction="short", high=[10] * 4, low=[10, 10, 8.9, 10], take_profit=0.1)
        assert exit_reasons(target) == ["take_profit"]
        assert target.trades.exit_price[0] == pytest.approx(9)
        assert target.trades.pnl[0] == pytest.approx(1000)

    def test_short_trailing_stop_follows_the_best_low(self):
        result = self.run(
            direction="short",
            open_=[10, 10, 8, 8],
            high=[10, 10.5, 8.9, 8],
            low=[10, 8, 8, 8],
            trailing_stop=0.1,
        )
        assert exit_reasons(result) == ["trailing_stop"]
        assert result.trades.exit_index[0] == 2
        assert result.trades.exit_price[0] == pytest.approx(8.8)

    def test_same_close_stops_start_on_the_bar_after_the_fill(self):
        result = self.run(fill="same_close", high=[10, 10, 10], low=[9, 9.4, 10], stop_loss=0.05)
        assert (result.trades.entry_index[0], result.trades.exit_index[0]) == (0, 1)
        assert result.trades.exit_price[0] == pytest.approx(9.5)

    def test_stop_exits_pay_slippage(self):
        bars = make_bars(open_=[10, 10, 10], high=[10, 10, 10], low=[10, 9.0, 10])
        result = simulate(
            bars,
            make_signals(3, long_entry=[0]),
            config(slippage=0.01, risk=RiskLimits(stop_loss=0.05)),
        )
        assert result.trades.entry_price[0] == pytest.approx(10.1)
        assert result.trades.exit_price[0] == pytest.approx(10.1 * 0.95 * 0.99)


def test_circuit_breaker_blocks_new_entries_but_not_exits():
    # The long loses 20 % (10 -> 8); the exit still fills, the later entry does not.
    bars = make_bars(open_=[10, 10, 9, 8, 8, 8, 8], close=[10, 9, 8.5, 8, 8, 8, 8])
    result = simulate(
        bars,
        make_signals(7, long_entry=[0, 4], long_exit=[2]),
        config(risk=RiskLimits(max_drawdown=0.1)),
    )
    assert exit_reasons(result) == ["exit_signal"]
    assert result.equity[-1] == pytest.approx(8_000)


def test_daily_loss_limit_blocks_entries_for_the_rest_of_the_utc_day():
    day = 24 * HOUR
    timestamp = [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR, T0 + day, T0 + day + HOUR]
    timestamp.append(T0 + day + 2 * HOUR)
    bars = make_bars(
        open_=[10, 10, 9.4, 9.4, 9.4, 9.4, 9.4],
        close=[10, 9.4, 9.4, 9.4, 9.4, 9.4, 9.4],
        timestamp=timestamp,
    )
    # Equity 9 400 at bar 1's close is 6 % below the day's 10 000: the entries of bars 2
    # and 3 (day one) are ignored, the one of bar 4 (day two) fills at bar 5's open.
    result = simulate(
        bars,
        make_signals(7, long_entry=[0, 2, 3, 4], long_exit=[1]),
        config(risk=RiskLimits(daily_loss_limit=0.05)),
    )
    assert list(result.trades.entry_index) == [1, 5]
    assert exit_reasons(result) == ["exit_signal", "end_of_data"]


def test_kill_switch_closes_at_the_close_and_halts_for_good():
    bars = make_bars(open_=[10, 10, 9, 8, 8, 9], close=[10, 9.5, 8.4, 8, 9, 9])
    result = simulate(
        bars,
        make_signals(6, long_entry=[0, 3], long_exit=[4]),
        config(fee=0.001, risk=RiskLimits(kill_switch_drawdown=0.15)),
    )
    trades = result.trades
    assert exit_reasons(result) == ["kill_switch"]
    assert (trades.exit_index[0], trades.exit_price[0]) == (2, 8.4)
    assert trades.fees[0] == pytest.approx(trades.quantity[0] * (10 + 8.4) * 0.001)
    assert result.equity[2:] == pytest.approx([result.equity[2]] * 4)
    assert result.exposure[2:] == pytest.approx([0] * 4)


def test_end_of_data_closes_at_the_last_close_with_fees():
    bars = make_bars(open_=[10, 10, 11, 12], close=[10, 10, 11, 12.5])
    result = simulate(bars, make_signals(4, long_entry=[0]), config(fee=0.001))
    trades = result.trades
    assert exit_reasons(result) == ["end_of_data"]
    assert (trades.exit_index[0], trades.exit_price[0]) == (3, 12.5)
    assert trades.fees[0] == pytest.approx(trades.quantity[0] * (10 + 12.5) * 0.001)
    assert result.equity[-1] == pytest.approx(10_000 + trades.pnl[0])
    assert result.exposure[-1] == 0


def test_progress_is_reported_per_chunk_up_to_one():
    n = 1000
    reports = []
    simulate(make_bars(open_=np.full(n, 10.0)), make_signals(n), config(), reports.append)
    assert len(reports) == 50
    assert reports == sorted(reports)
    assert reports[-1] == 1.0


def test_an_exception_from_progress_stops_the_run():
    class Cancelled(Exception):
        pass

    def cancel(fraction):
        raise Cancelled

    with pytest.raises(Cancelled):
        simulate(make_bars(open_=np.full(100, 10.0)), make_signals(100), config(), cancel)


def test_signals_must_match_the_bars():
    bars = make_bars(open_=[10, 10, 10])
    with pytest.raises(ValueError, match="long_exit"):
        simulate(
            bars,
            Signals(np.zeros(3, bool), np.zeros(2, bool), np.zeros(3, bool), np.zeros(3, bool)),
            config(),
        )
    with pytest.raises(ValueError, match="atr"):
        simulate(bars, make_signals(3), config(sizing=Sizing("risk", 0.01)))


def test_no_bars():
    result = simulate(make_bars(open_=[]), make_signals(0), config())
    assert len(result.trades) == 0
    assert result.metrics["final_balance"] == 10_000


# --- Properties over random runs -----------------------------------------------------


def random_case(seed: int, n: int):
    """Random bars (a geometric walk with wicks) and sparse random signals."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.exponential(0.01, n))
    low = np.minimum(open_, close) * (1 - rng.exponential(0.01, n))
    timestamp = T0 + HOUR * np.arange(n)  # 24 bars a day: the daily limit resets
    bars = Bars(timestamp.astype(np.int64), open_, high, low, close, np.ones(n))
    flags = rng.random((4, n)) < 0.15
    signals = Signals(*flags, atr=np.abs(rng.normal(2, 1, n)))
    return bars, signals


CONFIGS = [
    EngineConfig(direction="both"),
    EngineConfig(direction="long", fill="same_close", slippage=0.002),
    EngineConfig(
        direction="both",
        sizing=Sizing("risk", 0.02),
        risk=RiskLimits(take_profit=0.05, trailing_stop=0.03, daily_loss_limit=0.02),
    ),
    EngineConfig(
        direction="short",
        sizing=Sizing("notional", 8_000),
        risk=RiskLimits(stop_loss=0.06, max_drawdown=0.05, kill_switch_drawdown=0.08),
    ),
    EngineConfig(
        direction="both",
        fill="same_close",
        risk=RiskLimits(stop_loss=0.03, take_profit=0.04, max_position_size=0.5),
    ),
]


def assert_same_trades(left, right, count: int) -> None:
    for name in left.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(left, name)[:count], getattr(right, name)[:count])


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 120),
    cut=st.floats(0, 1),
    config_index=st.integers(0, len(CONFIGS) - 1),
)
def test_no_lookahead(seed, n, cut, config_index):
    """Changing bars and signals after bar k changes nothing up to bar k."""
    k = min(int(cut * (n - 1)), n - 2)  # before the last bar, where end_of_data acts
    bars, signals = random_case(seed, n)
    other_bars, other_signals = random_case(seed + 1, n)
    after = np.arange(n) > k

    def splice(a, b):
        return np.where(after, b, a)

    changed_bars = Bars(
        bars.timestamp,
        *(splice(getattr(bars, f), getattr(other_bars, f)) for f in ("open", "high", "low")),
        splice(bars.close, other_bars.close),
        bars.volume,
    )
    changed_signals = Signals(
        *(
            splice(getattr(signals, f), getattr(other_signals, f))
            for f in ("long_entry", "long_exit", "short_entry", "short_exit", "atr")
        )
    )
    config = CONFIGS[config_index]
    original = simulate(bars, signals, config)
    changed = simulate(changed_bars, changed_signals, config)

    for name in ("equity", "drawdown", "exposure"):
        np.testing.assert_array_equal(
            getattr(original, name)[: k + 1], getattr(changed, name)[: k + 1]
        )
    settled = int(np.count_nonzero(original.trades.exit_index <= k))
    assert int(np.count_nonzero(changed.trades.exit_index <= k)) == settled
    assert_same_trades(original.trades, changed.trades, settled)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), config_index=st.integers(0, len(CONFIGS) - 1))
def test_accounting_identities(seed, config_index):
    bars, signals = random_case(seed, 200)
    result = simulate(bars, signals, CONFIGS[config_index])
    trades = result.trades
    assert result.equity[-1] == pytest.approx(10_000 + trades.pnl.sum())
    assert np.all(trades.exit_index >= trades.entry_index)
    assert np.all(trades.entry_index[1:] >= trades.exit_index[:-1])  # one position at a time
    assert np.all(trades.quantity > 0)
    assert np.all(result.drawdown >= 0)
    assert not np.isnan(result.equity).any()
    assert result.exposure[-1] == 0


@pytest.mark.parametrize("step", [1.0, 0.001])
def test_chunking_does_not_change_the_result(monkeypatch, step):
    bars, signals = random_case(7, 500)
    config = CONFIGS[2]
    whole = simulate(bars, signals, config)
    monkeypatch.setattr(simulator, "PROGRESS_STEP", step)
    chunked = simulate(bars, signals, config)
    np.testing.assert_array_equal(whole.equity, chunked.equity)
    assert_same_trades(whole.trades, chunked.trades, len(whole.trades))
    assert len(whole.trades) == len(chunked.trades)
