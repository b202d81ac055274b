"""The engine's inputs and outputs: plain dataclasses over numpy arrays.

Nothing below `backtest/engine/` imports Django. The Django layer turns stored candles
into `Bars`, strategy rules into `Signals` (see `rules.compile_signals`), and the
request into an `EngineConfig`; the simulator returns an `EngineResult`.

Conventions:
- timestamps are int64 microseconds since the Unix epoch (UTC), ascending;
- prices, quantities and money are float64 inside the engine (the Django layer converts
  what users see to Decimal when it persists trades and summaries);
- fractions are plain fractions (0.001 is 0.1 %), never percent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Direction = Literal["long", "short", "both"]
FillMode = Literal["next_open", "same_close"]
SizingMode = Literal["fraction", "quantity", "notional", "risk"]

DIRECTIONS: tuple[str, ...] = ("long", "short", "both")
FILL_MODES: tuple[str, ...] = ("next_open", "same_close")
SIZING_MODES: tuple[str, ...] = ("fraction", "quantity", "notional", "risk")

# Why a trade opened or closed; stored on each trade.
ENTRY_REASONS: tuple[str, ...] = ("long_entry", "short_entry", "reversal")
EXIT_REASONS: tuple[str, ...] = (
    "exit_signal",  # the side's exit rule fired
    "reversal",  # an opposite entry signal in "both" mode
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "kill_switch",  # the kill-switch drawdown was reached: flat and halted for good
    "end_of_data",  # still open on the last bar: closed at its close
)


@dataclass(frozen=True)
class Bars:
    """OHLCV candles, one entry per bar, oldest first."""

    timestamp: np.ndarray  # int64 µs
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamp)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Bars:
        """From `marketdata.selectors.candle_arrays` output (or any dict of the names)."""
        return cls(
            timestamp=np.ascontiguousarray(arrays["timestamp"], dtype=np.int64),
            **{
                name: np.ascontiguousarray(arrays[name], dtype=np.float64)
                for name in ("open", "high", "low", "close", "volume")
            },
        )


@dataclass(frozen=True)
class Signals:
    """Boolean arrays, one entry per bar, evaluated on the bar's close.

    A True at bar i means "the rule held when bar i closed"; the simulator acts on it at
    bar i+1's open (or bar i's close in the optimistic "same_close" fill mode).
    NaN indicator values (warm-up) never make a rule true.
    """

    long_entry: np.ndarray
    long_exit: np.ndarray
    short_entry: np.ndarray
    short_exit: np.ndarray
    atr: np.ndarray | None = None  # float64, only needed by "risk" sizing


@dataclass(frozen=True)
class Sizing:
    """How big a new position is.

    - fraction: `value` of current equity (1.0 = all of it), fees included;
    - quantity: `value` units of the base asset;
    - notional: `value` in quote currency;
    - risk: risk `value` of equity per trade, with the stop `atr_multiple` ATRs
      (window `atr_window`) from the entry: quantity = equity*value / (atr*multiple).
      The same distance is used as the trade's stop-loss.
    """

    mode: SizingMode = "fraction"
    value: float = 1.0
    atr_window: int = 14
    atr_multiple: float = 2.0


@dataclass(frozen=True)
class RiskLimits:
    """Risk management; every field is optional (None = off). All are fractions.

    - stop_loss / take_profit: distance from the entry price;
    - trailing_stop: distance from the best price since entry (high for longs, low for
      shorts);
      stops are checked inside each bar from its high/low; a gap through the level fills
      at the bar's open; when a stop and a target could both have triggered in one bar
      the worse outcome (the stop) is assumed;
    - max_position_size: cap on a new position's notional as a fraction of equity;
    - max_drawdown: circuit breaker, no new entries once equity is this far below its
      peak (open positions still run their exits);
    - daily_loss_limit: no new entries for the rest of the UTC day once equity is this far
      below the day's opening equity;
    - kill_switch_drawdown: at this drawdown, close everything and halt for good.
    """

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_position_size: float | None = None
    max_drawdown: float | None = None
    daily_loss_limit: float | None = None
    kill_switch_drawdown: float | None = None


@dataclass(frozen=True)
class EngineConfig:
    cash: float = 10_000.0
    fee: float = 0.001  # fraction of traded notional, charged on entry and on exit
    slippage: float = 0.0  # fraction: buys fill this much higher, sells lower
    direction: Direction = "long"
    fill: FillMode = "next_open"
    sizing: Sizing = field(default_factory=Sizing)
    risk: RiskLimits = field(default_factory=RiskLimits)
    periods_per_year: float = 365.0  # bars per year on a 365-day calendar (1d -> 365)


@dataclass(frozen=True)
class TradeLog:
    """Closed trades as parallel arrays (one entry per trade, in exit order)."""

    entry_index: np.ndarray  # int64 bar index of the entry fill
    exit_index: np.ndarray  # int64 bar index of the exit fill
    side: np.ndarray  # int8: +1 long, -1 short
    quantity: np.ndarray  # float64, base units (positive)
    entry_price: np.ndarray  # float64, fill price including slippage
    exit_price: np.ndarray
    pnl: np.ndarray  # float64, net of both fees
    pnl_percentage: np.ndarray  # float64, pnl / entry notional * 100
    fees: np.ndarray  # float64, entry fee + exit fee
    entry_reason: np.ndarray  # int8 index into ENTRY_REASONS
    exit_reason: np.ndarray  # int8 index into EXIT_REASONS

    def __len__(self) -> int:
        return len(self.entry_index)


@dataclass(frozen=True)
class EngineResult:
    bars: Bars
    config: EngineConfig
    trades: TradeLog
    equity: np.ndarray  # float64 per bar, marked to the bar's close
    drawdown: np.ndarray  # float64 per bar, fraction below the running peak (>= 0)
    exposure: np.ndarray  # float64 per bar, signed position notional / equity at close
    metrics: dict[str, float | int | None] = field(default_factory=dict)
