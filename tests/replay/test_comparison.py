"""Real fills against a strategy's signals, on hand-made cases."""

import numpy as np
import pytest

from replay.comparison import (
    BUY,
    ENTRY,
    EXIT,
    SELL,
    match_fills,
    signals_from_trades,
    timing_summary,
)

S = 1_000_000  # one second in microseconds


def test_long_and_short_trades_become_signals_in_time_order():
    signals = signals_from_trades(
        entry_time=np.array([100 * S, 50 * S, 300 * S]),
        exit_time=np.array([200 * S, 80 * S, -1]),  # the last is still open
        is_long=np.array([True, False, True]),
    )
    assert signals.time.tolist() == [50 * S, 80 * S, 100 * S, 200 * S, 300 * S]
    assert signals.side.tolist() == [SELL, BUY, BUY, SELL, BUY]
    assert signals.kind.tolist() == [ENTRY, EXIT, ENTRY, EXIT, ENTRY]
    assert signals.trade.tolist() == [1, 1, 0, 0, 2]


def test_fills_match_signals_of_their_side_within_the_tolerance():
    signals = signals_from_trades(
        entry_time=np.array([1000 * S]), exit_time=np.array([2000 * S]), is_long=np.array([True])
    )
    # A buy 30 s late (matches the entry), a sell 61 s early (outside 60 s: no match),
    # a buy near the exit (wrong side: no match).
    fills_time = np.array([1030 * S, 1939 * S, 2001 * S])
    fills_side = np.array([BUY, SELL, BUY])

    matching = match_fills(fills_time, fills_side, signals, tolerance=60 * S)

    assert matching.fill.tolist() == [0]
    assert matching.signal.tolist() == [0]
    assert matching.delay.tolist() == [30 * S]
    assert matching.unmatched_fills.tolist() == [1, 2]
    assert matching.missed_signals.tolist() == [1]  # the exit nobody followed


def test_the_tolerance_is_inclusive_and_the_closest_pair_wins():
    signals = signals_from_trades(
        entry_time=np.array([100 * S, 160 * S]),
        exit_time=np.array([-1, -1]),
        is_long=np.array([True, True]),
    )
    # Fill 0 at 130 s is 30 s from both signals (tie: the earlier signal takes it);
    # fill 1 at 165 s is 5 s from signal 1: the closest pair is made first.
    matching = match_fills(
        np.array([130 * S, 165 * S]), np.array([BUY, BUY]), signals, tolerance=30 * S
    )
    pairs = zip(matching.signal.tolist(), matching.fill.tolist(), strict=True)
    assert sorted(pairs) == [(0, 0), (1, 1)]
    assert sorted(matching.delay.tolist()) == [5 * S, 30 * S]


def test_one_fill_explains_at_most_one_signal():
    signals = signals_from_trades(
        entry_time=np.array([100 * S, 101 * S]),
        exit_time=np.array([-1, -1]),
        is_long=np.array([True, True]),
    )
    matching = match_fills(np.array([100 * S]), np.array([BUY]), signals, tolerance=10 * S)
    assert matching.signal.tolist() == [0]
    assert matching.missed_signals.tolist() == [1]


def test_the_row_order_of_the_fills_does_not_change_the_pairs():
    rng = np.random.default_rng(3)
    entries = np.sort(rng.integers(0, 10_000, 40)) * S
    signals = signals_from_trades(entries, entries + 50 * S, rng.random(40) < 0.5)
    times = rng.integers(0, 10_100, 120) * S
    sides = np.where(rng.random(120) < 0.5, BUY, SELL)
    first = match_fills(times, sides, signals, tolerance=20 * S)
    shuffle = rng.permutation(120)
    second = match_fills(times[shuffle], sides[shuffle], signals, tolerance=20 * S)

    assert set(zip(first.signal.tolist(), times[first.fill].tolist(), strict=True)) == set(
        zip(second.signal.tolist(), times[shuffle][second.fill].tolist(), strict=True)
    )
    assert all(abs(d) <= 20 * S for d in first.delay.tolist())
    # Every fill and signal is accounted for exactly once.
    assert len(first.fill) + len(first.unmatched_fills) == 120
    assert len(first.signal) + len(first.missed_signals) == len(signals)


def test_no_fills_or_no_signals():
    signals = signals_from_trades(np.array([5 * S]), np.array([9 * S]), np.array([True]))
    empty = match_fills(np.empty(0, np.int64), np.empty(0, np.int8), signals, tolerance=S)
    assert empty.fill.tolist() == [] and empty.missed_signals.tolist() == [0, 1]
    with pytest.raises(ValueError, match="tolerance"):
        match_fills(np.array([1]), np.array([BUY]), signals, tolerance=-1)


def test_timing_summary_in_seconds():
    assert timing_summary(np.array([30 * S, -10 * S, 40 * S])) == {
        "matched": 3,
        "mean_s": 20.0,
        "median_s": 30.0,
        "min_s": -10.0,
        "max_s": 40.0,
    }
    assert timing_summary(np.empty(0, np.int64))["matched"] == 0
