"""A replay in the context of a backtest: the trader's real fills of the backtest's symbol
over the backtest's period, against the strategy's signals (its trades' entries and
exits). The matching itself is `replay.comparison`; this module loads the backtest and
writes the figures into the run's summary under "comparison".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from backtest.models import Backtest, Trade
from marketdata.timeframes import get_timeframe
from replay.comparison import ENTRY, match_fills, signals_from_trades, timing_summary
from replay.replaying import Fills, iso_time

LISTED = 1000  # missed signals and matches listed one by one in the summary; the rest counted
SIDE_NAMES = {1: "buy", -1: "sell"}


def backtest_period(backtest: Backtest) -> tuple[datetime, datetime]:
    """The candles the backtest ran on: from its first bar's open to its last bar's
    close (`data_start` and `data_end` are the bars' open times)."""
    start = datetime.fromisoformat(backtest.metadata["data_start"])
    last = datetime.fromisoformat(backtest.metadata["data_end"])
    return start, last + timedelta(seconds=get_timeframe(backtest.timeframe).seconds)


def default_tolerance_seconds(backtest: Backtest) -> int:
    """One bar: a trader acting on the same bar as the strategy is on time."""
    return get_timeframe(backtest.timeframe).seconds


def _us(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1_000_000) if moment is not None else -1


def compare_with_backtest(
    backtest: Backtest, fills: Fills | None, tolerance_seconds: float, real_pnl: dict | None
) -> dict:
    """Matched fills, missed signals, timing and PnL, real versus strategy."""
    trades = list(
        Trade.objects.filter(backtest=backtest)
        .order_by("entry_time", "id")
        .values_list("id", "entry_time", "exit_time", "side", "pnl")
    )
    ids = np.array([row[0] for row in trades], np.int64)
    signals = signals_from_trades(
        entry_time=np.array([_us(row[1]) for row in trades], np.int64),
        exit_time=np.array([_us(row[2]) for row in trades], np.int64),
        is_long=np.array([row[3] == Trade.Side.LONG for row in trades], bool),
    )
    fill_time = fills.time if fills is not None else np.empty(0, np.int64)
    fill_side = fills.side if fills is not None else np.empty(0, np.int8)
    matching = match_fills(fill_time, fill_side, signals, int(tolerance_seconds * 1_000_000))
    missed = matching.missed_signals
    strategy_pnl = sum((row[4] for row in trades if row[2] is not None), Decimal(0))
    return {
        "backtest": backtest.pk,
        "symbol": backtest.symbol,
        "tolerance_seconds": tolerance_seconds,
        "signals": len(signals),
        "fills": len(fill_time),
        "matched": len(matching.fill),
        "unmatched_fills": len(matching.unmatched_fills),
        "missed_signals": len(missed),
        "timing": timing_summary(matching.delay),
        "listed_at_most": LISTED,
        "missed": [
            {
                "time": iso_time(int(signals.time[row])),
                "side": SIDE_NAMES[int(signals.side[row])],
                "kind": "entry" if signals.kind[row] == ENTRY else "exit",
                "trade": int(ids[signals.trade[row]]),
            }
            for row in missed[:LISTED]
        ],
        "matches": [
            {
                "transaction": int(fills.ids[fill]),
                "trade": int(ids[signals.trade[signal]]),
                "kind": "entry" if signals.kind[signal] == ENTRY else "exit",
                "delay_seconds": float(delay) / 1e6,
            }
            for fill, signal, delay in zip(
                matching.fill[:LISTED],
                matching.signal[:LISTED],
                matching.delay[:LISTED],
                strict=True,
            )
        ],
        "pnl": {
            "strategy": float(strategy_pnl),
            "real": real_pnl,
        },
    }
