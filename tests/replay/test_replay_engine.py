"""The replay engine on hand-computed cases: no database, numbers worked out by hand."""

from datetime import UTC, datetime

import numpy as np
import pytest

from replay import engine

MINUTE_US = 60_000_000
T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)


def candles(rows: list[tuple[int, float, float, float, float]], bar_us=MINUTE_US):
    """rows: (open time µs, open, high, low, close)."""
    columns = list(zip(*rows, strict=True))
    return engine.Candles.from_arrays(
        {
            "timestamp": np.array(columns[0], dtype=np.int64),
            "open": np.array(columns[1]),
            "high": np.array(columns[2]),
            "low": np.array(columns[3]),
            "close": np.array(columns[4]),
        },
        bar_us,
    )


ONE_BAR = candles([(T0, 100.0, 110.0, 90.0, 105.0)])
BUY, SELL = engine.BUY, engine.SELL


def replayed(model: str, side: int, price: float, quantity: float = 2.0):
    times = np.array([T0 + 30_000_000])
    index = engine.containing_candles(ONE_BAR, times)
    sides = np.array([side])
    replay = engine.fill_prices(ONE_BAR, index, sides, model)
    slip = engine.slippage(np.array([price]), replay, sides, np.array([quantity]))
    return replay[0], slip.per_unit[0], slip.pct[0], slip.value[0]


@pytest.mark.parametrize(
    ("model", "replay_price", "per_unit"),
    [
        ("open", 100.0, 6.0),  # the buy paid 106 against an open of 100
        ("close", 105.0, 1.0),
        ("typical", (110 + 90 + 105) / 3, 106 - (110 + 90 + 105) / 3),
        ("worst", 110.0, -4.0),  # a buy's worst is the high: 106 was better than it
    ],
)
def test_each_fill_model_prices_a_buy_from_its_own_candle(model, replay_price, per_unit):
    replay, slip, pct, value = replayed(model, BUY, 106.0)
    assert replay == pytest.approx(replay_price, rel=1e-15)
    assert slip == pytest.approx(per_unit, rel=1e-12)
    assert pct == pytest.approx(per_unit / replay_price * 100, rel=1e-12)
    assert value == pytest.approx(per_unit * 2.0, rel=1e-12)


@pytest.mark.parametrize(
    ("model", "replay_price", "per_unit"),
    [
        ("open", 100.0, 5.0),  # sold at 95 against 100: received 5 less per unit
        ("close", 105.0, 10.0),
        ("typical", 305 / 3, 305 / 3 - 95),
        ("worst", 90.0, -5.0),  # a sell's worst is the low: 95 was better
    ],
)
def test_a_sell_s_slippage_is_replay_minus_real(model, replay_price, per_unit):
    replay, slip, pct, value = replayed(model, SELL, 95.0, quantity=0.5)
    assert replay == pytest.approx(replay_price, rel=1e-15)
    assert slip == pytest.approx(per_unit, rel=1e-12)
    assert pct == pytest.approx(per_unit / replay_price * 100, rel=1e-12)
    assert value == pytest.approx(per_unit * 0.5, rel=1e-12)


def test_the_figures_carry_no_binary_noise():
    bars = candles([(T0, 42000.12, 42000.12, 42000.12, 42000.12)])
    index = engine.containing_candles(bars, np.array([T0]))
    replay = engine.fill_prices(bars, index, np.array([BUY]), "close")
    slip = engine.slippage(np.array([42000.13]), replay, np.array([BUY]), np.array([0.3]))
    assert 42000.13 - 42000.12 != 0.01  # what plain float subtraction gives
    assert repr(float(slip.per_unit[0])) == "0.01"
    assert repr(float(slip.value[0])) == "0.003"


def test_a_transaction_at_a_boundary_belongs_to_the_candle_opening_then():
    bars = candles([(T0, 1, 1, 1, 1), (T0 + MINUTE_US, 2, 2, 2, 2)])
    times = np.array([T0, T0 + MINUTE_US - 1, T0 + MINUTE_US, T0 + 2 * MINUTE_US - 1])
    assert engine.containing_candles(bars, times).tolist() == [0, 0, 1, 1]


def test_a_transaction_in_a_gap_has_no_candle_never_the_previous_or_the_next():
    # 00:00 and 00:02 are stored; 00:01 is missing.
    bars = candles([(T0, 1, 1, 1, 1), (T0 + 2 * MINUTE_US, 3, 3, 3, 3)])
    times = np.array(
        [
            T0 - 1,  # before the first candle
            T0 + MINUTE_US,  # the missing candle's open
            T0 + 90_000_000,  # inside the missing candle
            T0 + 2 * MINUTE_US,  # the next stored candle's open: found
            T0 + 3 * MINUTE_US,  # after the last candle's end
        ]
    )
    index = engine.containing_candles(bars, times)
    assert index.tolist() == [engine.MISSING, engine.MISSING, engine.MISSING, 1, engine.MISSING]
    prices = engine.fill_prices(bars, index, np.full(5, BUY), "close")
    assert np.isnan(prices[[0, 1, 2, 4]]).all() and prices[3] == 3
    slip = engine.slippage(np.full(5, 3.5), prices, np.full(5, BUY), np.ones(5))
    assert np.isnan(slip.per_unit[[0, 1, 2, 4]]).all() and slip.per_unit[3] == 0.5


def test_no_candles_at_all_leaves_every_transaction_without_one():
    empty = engine.Candles.empty()
    index = engine.containing_candles(empty, np.array([T0, T0 + 1]))
    assert index.tolist() == [engine.MISSING, engine.MISSING]
    assert np.isnan(engine.fill_prices(empty, index, np.array([BUY, SELL]), "open")).all()
    assert engine.mark_index(empty, T0) == engine.MISSING


def test_calendar_month_candles_end_where_the_next_month_begins():
    jan = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1e6)
    feb = int(datetime(2024, 2, 1, tzinfo=UTC).timestamp() * 1e6)
    apr = int(datetime(2024, 4, 1, tzinfo=UTC).timestamp() * 1e6)
    bars = candles([(jan, 1, 1, 1, 1), (feb, 2, 2, 2, 2), (apr, 4, 4, 4, 4)], bar_us=None)
    assert bars.end[1] == int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1e6)
    times = np.array([feb - 1, feb, bars.end[1] - 1, bars.end[1], apr])
    index = engine.containing_candles(bars, times).tolist()
    assert index == [0, 1, 1, engine.MISSING, 2]  # March is missing


def test_mark_is_the_last_candle_closed_by_then():
    bars = candles([(T0, 1, 1, 1, 1), (T0 + MINUTE_US, 2, 2, 2, 2)])
    assert engine.mark_index(bars, T0 + MINUTE_US - 1) == engine.MISSING
    assert engine.mark_index(bars, T0 + MINUTE_US) == 0
    assert engine.mark_index(bars, T0 + 2 * MINUTE_US - 1) == 0
    assert engine.mark_index(bars, T0 + 2 * MINUTE_US) == 1


def test_an_unknown_fill_model_is_refused():
    with pytest.raises(engine.UnknownFillModel, match="use one of open, close"):
        engine.fill_prices(ONE_BAR, np.array([0]), np.array([BUY]), "mid")


# --- FIFO positions ---------------------------------------------------------------------


def test_fifo_realises_the_oldest_lots_first_with_partial_closes():
    # buy 1 @ 100, buy 2 @ 110, sell 1.5 @ 120: closes the first lot (+20) and 0.5 of
    # the second (+5): realised 25; 1.5 @ 110 stay open, marked at 130: +30. Replayed
    # at 99, 111, 119: realised 20 + 0.5 * 8 = 24, unrealised 1.5 * 19 = 28.5.
    positions = engine.fifo_positions(
        side=np.array([BUY, BUY, SELL]),
        quantity=np.array([1.0, 2.0, 1.5]),
        real_price=np.array([100.0, 110.0, 120.0]),
        replay_price=np.array([99.0, 111.0, 119.0]),
        fees=np.array([0.1, 0.2, 0.3]),
        mark_price=130.0,
    )
    assert positions.open_quantity == pytest.approx(1.5)
    real, replay = positions.real, positions.replayed
    assert real.realised_pnl == pytest.approx(25.0)
    assert real.unrealised_pnl == pytest.approx(30.0)
    assert real.fees == pytest.approx(0.6) and replay.fees == pytest.approx(0.6)
    assert real.net_pnl == pytest.approx(54.4)
    assert replay.realised_pnl == pytest.approx(24.0)
    assert replay.unrealised_pnl == pytest.approx(28.5)
    assert replay.net_pnl == pytest.approx(51.9)
    # The PnL difference is the sum of the fills' value differences (fees alike):
    # +1 * 1 (bought 1 dearer), -1 * 2 (bought 1 cheaper), -1 * 1.5 (sold 1 dearer).
    assert replay.net_pnl - real.net_pnl == pytest.approx(1.0 - 2.0 - 1.5)


def test_a_sell_beyond_the_position_opens_a_short_that_a_buy_closes():
    positions = engine.fifo_positions(
        side=np.array([BUY, SELL, BUY]),
        quantity=np.array([1.0, 3.0, 2.0]),
        real_price=np.array([100.0, 110.0, 105.0]),
        replay_price=np.array([100.0, 110.0, 105.0]),
        fees=np.zeros(3),
        mark_price=None,
    )
    # +10 on the long; the short of 2 @ 110 bought back @ 105: +10.
    assert positions.real.realised_pnl == pytest.approx(20.0)
    assert positions.open_quantity == 0 and positions.real.unrealised_pnl == 0.0


def test_an_open_short_is_marked_against_its_entry():
    positions = engine.fifo_positions(
        side=np.array([SELL]),
        quantity=np.array([2.0]),
        real_price=np.array([50.0]),
        replay_price=np.array([51.0]),
        fees=np.zeros(1),
        mark_price=45.0,
    )
    assert positions.open_quantity == -2.0
    assert positions.real.unrealised_pnl == pytest.approx(10.0)
    assert positions.replayed.unrealised_pnl == pytest.approx(12.0)


def test_float_dust_does_not_leave_a_position_open():
    positions = engine.fifo_positions(
        side=np.array([BUY, BUY, SELL]),
        quantity=np.array([0.1, 0.2, 0.3]),
        real_price=np.array([10.0, 20.0, 30.0]),
        replay_price=np.array([10.0, 20.0, 30.0]),
        fees=np.zeros(3),
        mark_price=None,  # nothing to mark: no open lot may remain
    )
    assert positions.open_quantity == 0
    assert positions.real.unrealised_pnl == 0.0
    assert positions.real.realised_pnl == pytest.approx(0.1 * 20 + 0.2 * 10)


def test_an_open_position_without_a_mark_price_has_no_unrealised_pnl():
    positions = engine.fifo_positions(
        side=np.array([BUY]),
        quantity=np.array([1.0]),
        real_price=np.array([10.0]),
        replay_price=np.array([10.0]),
        fees=np.array([0.5]),
        mark_price=None,
    )
    assert positions.real.unrealised_pnl is None and positions.real.net_pnl is None
    assert positions.real.fees == 0.5


def test_fees_are_converted_into_the_quote_asset():
    fee = np.array([0.5, 0.001, 0.01, 0.02, 0.0])
    kind = np.array(
        [
            engine.FEE_IN_QUOTE,  # 0.5 USDT
            engine.FEE_IN_BASE,  # 0.001 BTC at the symbol's price 40000
            engine.FEE_IN_OTHER,  # 0.01 BNB at BNBUSDT 300
            engine.FEE_IN_OTHER,  # 0.02 BNB with no BNBUSDT candle
            engine.NO_FEE,
        ]
    )
    own = np.full(5, 40_000.0)
    other = np.array([np.nan, np.nan, 300.0, np.nan, np.nan])
    converted = engine.fees_in_quote(fee, kind, own, other)
    assert converted[[0, 1, 2, 4]].tolist() == pytest.approx([0.5, 40.0, 3.0, 0.0])
    assert np.isnan(converted[3])


def test_positions_with_fees_in_base_quote_and_a_third_asset():
    # BTCUSDT: buy 2 @ 100 (fee 0.2 USDT), buy 1 @ 110 (fee 0.001 BTC, BTC at 110: 0.11),
    # sell 2.5 @ 120 (fee 0.01 BNB, BNBUSDT at 300: 3.0), sell 0.5 @ 90 (fee 0.02 BNB,
    # no BNBUSDT candle: left out, reported unconverted by the caller).
    fee = np.array([0.2, 0.001, 0.01, 0.02])
    kind = np.array(
        [engine.FEE_IN_QUOTE, engine.FEE_IN_BASE, engine.FEE_IN_OTHER, engine.FEE_IN_OTHER]
    )
    price = np.array([100.0, 110.0, 120.0, 90.0])
    converted = engine.fees_in_quote(fee, kind, price, np.array([np.nan, np.nan, 300.0, np.nan]))
    assert converted[:3].tolist() == pytest.approx([0.2, 0.11, 3.0]) and np.isnan(converted[3])
    charged = np.where(np.isnan(converted), 0.0, converted)
    positions = engine.fifo_positions(
        side=np.array([BUY, BUY, SELL, SELL]),
        quantity=np.array([2.0, 1.0, 2.5, 0.5]),
        real_price=price,
        replay_price=price,
        fees=charged,
        mark_price=None,
    )
    # The sell of 2.5 closes 2 @ 100 (+40) and 0.5 @ 110 (+5); the sell of 0.5 closes
    # the last 0.5 @ 110 at 90 (-10): realised 35, flat, fees 3.31.
    assert positions.open_quantity == 0
    assert positions.real.realised_pnl == pytest.approx(35.0)
    assert positions.real.fees == pytest.approx(3.31)
    assert positions.real.net_pnl == pytest.approx(35.0 - 3.31)
    assert positions.replayed.net_pnl == pytest.approx(positions.real.net_pnl)
