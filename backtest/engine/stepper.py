"""Paper trading's engine: the backtest, one closed bar at a time.

`BarStepper` runs a strategy forward on live candles with the simulator's semantics
(see `simulator`'s module docstring: fills, fees, slippage, stops, sizing, risk limits)
without re-running history on each bar. It is built from what a backtest run uses (the
rules, their parameters, an `EngineConfig`) plus a warm-up history, then
`step(bar)` takes each newly closed bar and returns what happened on it.

How it stays identical to the simulator
    Decisions: the rules are evaluated by `rules.compile_signals` itself, on a trailing
    window of the most recent `window_length` bars, and the newest bar's signals (and
    ATR, for "risk" sizing) are kept. Trading: each bar goes through the simulator's
    own compiled per-bar loop (`simulator._run_chunk`), with the loop's state carried
    between calls exactly as the simulator carries it between its progress chunks.
    So there is one implementation of sizing, stops, fees and limits, not two.

The trailing window, and when it is exact
    Most indicators (sma, wma, bollinger_*, stoch_*, cci, donchian_*, vwap) read a fixed
    number of bars: a window of `lookback + 1` bars gives the same value as the whole
    history. Recursive ones (ema, rsi, atr, adx, macd*) weigh a bar k steps back by
    about (1 - alpha)**k, forever; their value on a window differs from the
    full-history value only through the window's first bars, whose weight has decayed
    below float64 resolution after SETTLE_E_FOLDS / alpha bars (e**-37 < 2**-53; times
    the number of chained smoothings). The window adds that many bars to the lookback.
    While the history is shorter than the window the whole history is used, so values
    are bit for bit those of a backtest over the same bars from the same first bar.
    After that they agree to float rounding, about 1e-13 relative (pandas' rolling sums
    and variances also round differently from a different starting bar; the tests
    hold them to 1e-12): a decision can differ from the backtest's only when a
    comparison is that close to an exact tie. On the tests' random walks every trade
    and every equity value matched the simulator's exactly.
    obv is a running total with no decay: it has no bounded window, and a strategy
    using it is refused (`NotIncremental`).

What a session is, compared with a backtest
    The warm-up bars only feed the indicators: trading starts, with the config's cash,
    on the first stepped bar. A session therefore equals `simulate` over the stepped
    bars with signals computed on warm-up + stepped bars (and, when the warm-up holds
    no more than `lookback` bars, on which no rule can fire, `runner.run_strategy` over
    all of them). Live data has no last bar, so the backtest's end-of-data rules (no
    entry on the last bar, closing at its close) do not apply; `kill()` ends a session.
    With "next_open" fills, an order decided on a bar's close is reported as
    `OrderQueued` and fills (`PositionOpened` / `TradeClosed`) when the next bar is
    stepped, at that bar's open.

Bar indices count from the first warm-up bar, as a backtest over warm-up + stepped bars
counts them; times are int64 µs (the engine's convention).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from backtest.engine import simulator as sim
from backtest.engine.indicators import INDICATORS
from backtest.engine.rules import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    IndicatorOperand,
    InvalidStrategy,
    Not,
    compile_signals,
    lookback,
    parse_rules,
)
from backtest.engine.types import ENTRY_REASONS, EXIT_REASONS, Bars, EngineConfig

STATE_VERSION = 1

# e-folds of decay after which a recursive indicator's starting point weighs less than
# float64 resolution: e**-37 ≈ 8.5e-17 < 2**-53 ≈ 1.1e-16.
SETTLE_E_FOLDS = 37

# Recursive indicators: params -> (alpha of the slowest smoothing, smoothings chained).
_RECURSIVE: dict[str, Callable[[Mapping[str, Any]], tuple[float, int]]] = {
    "ema": lambda p: (2.0 / (p["window"] + 1), 1),
    "rsi": lambda p: (1.0 / p["window"], 1),
    "atr": lambda p: (1.0 / p["window"], 1),
    # Wilder-smoothed directional movement, then a Wilder-smoothed DX.
    "adx": lambda p: (1.0 / p["window"], 2),
    "macd": lambda p: (2.0 / (p["slow"] + 1), 1),
    "macd_signal": lambda p: (min(2.0 / (p["slow"] + 1), 2.0 / (p["signal"] + 1)), 2),
    "macd_histogram": lambda p: (min(2.0 / (p["slow"] + 1), 2.0 / (p["signal"] + 1)), 2),
}
# Indicators whose value reads only the last `lookback + 1` bars.
_FINITE: frozenset[str] = frozenset(
    {
        "sma",
        "wma",
        "bollinger_upper",
        "bollinger_middle",
        "bollinger_lower",
        "bollinger_percent_b",
        "stoch_k",
        "stoch_d",
        "cci",
        "donchian_upper",
        "donchian_lower",
        "vwap",
    }
)
# Running totals over the whole history: no bounded window reproduces them.
_UNBOUNDED: frozenset[str] = frozenset({"obv"})


class NotIncremental(ValueError):
    """The strategy uses an indicator that cannot be computed on a bounded window."""


class Bar(NamedTuple):
    """One closed candle; `timestamp` is its open time in µs since the epoch (UTC)."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float


# ---------------------------------------------------------------------------------------
# Events: what one step reports, in the order it happened.


@dataclass(frozen=True)
class PositionOpened:
    bar_index: int
    time: int
    side: str  # "long" | "short"
    quantity: float
    price: float  # fill price, slippage included
    fee: float
    reason: str  # one of ENTRY_REASONS


@dataclass(frozen=True)
class TradeClosed:
    """A round trip, as the simulator's TradeLog records it (plus times)."""

    entry_index: int
    exit_index: int
    entry_time: int
    exit_time: int
    side: str
    quantity: float
    entry_price: float
    exit_price: float
    pnl: float  # net of both fees
    pnl_percentage: float
    fees: float
    entry_reason: str
    exit_reason: str  # one of EXIT_REASONS


@dataclass(frozen=True)
class OrderQueued:
    """ "next_open" only: orders decided on this bar's close, to fill at the next open."""

    bar_index: int
    time: int
    exit_reason: str | None  # closes the position with this reason
    side: str | None  # then opens this side
    entry_reason: str | None


@dataclass(frozen=True)
class TradingHalted:
    """A risk limit tripped: `limit` is max_drawdown (no new entries for good),
    daily_loss_limit (none for the rest of the UTC day) or kill_switch (flat, halted)."""

    bar_index: int
    time: int
    limit: str


@dataclass(frozen=True)
class BarMarked:
    """The bar's outcome, always the last event of a step (the equity curve's point)."""

    bar_index: int
    time: int
    close: float
    equity: float
    drawdown: float
    exposure: float


Event = PositionOpened | TradeClosed | OrderQueued | TradingHalted | BarMarked


def event_dict(event: Event) -> dict[str, Any]:
    """An event as a JSON-ready dict with its `type` (the class name)."""
    return {"type": type(event).__name__, **dataclasses.asdict(event)}


# ---------------------------------------------------------------------------------------
# The window a strategy needs.


def _comparisons(condition: Condition) -> Iterator[Comparison]:
    pending = [condition]
    while pending:
        node = pending.pop()
        if isinstance(node, Comparison):
            yield node
        elif isinstance(node, Not):
            pending.append(node.condition)
        elif isinstance(node, AllOf | AnyOf):
            pending.extend(node.conditions)


def _settle_bars(name: str, params: Mapping[str, Any]) -> int:
    """Bars a recursive indicator needs beyond its lookback to forget its start."""
    if name in _UNBOUNDED:
        raise NotIncremental(
            f"indicator {name} is a running total over the whole history, so no bounded "
            "window of recent bars reproduces it: paper trading cannot run this strategy"
        )
    if name in _RECURSIVE:
        alpha, chained = _RECURSIVE[name](params)
        return math.ceil(SETTLE_E_FOLDS * chained / alpha)
    if name in _FINITE:
        return 0
    raise NotIncremental(f"indicator {name} has no declared memory for paper trading")


def window_length(
    entry_rules: object,
    exit_rules: object,
    parameters: Mapping[str, Any] | None,
    atr_window: int | None = None,
) -> int:
    """Bars of history on which the newest bar's signals equal the full history's (see
    the module docstring); raises InvalidStrategy or NotIncremental."""
    parsed, problems = parse_rules(entry_rules, exit_rules, parameters)
    if parsed is None:
        raise InvalidStrategy(problems)
    settle = 0
    warm_up = lookback(entry_rules, exit_rules, parameters)
    for condition in parsed.conditions():
        for comparison in _comparisons(condition):
            for operand in (comparison.left, comparison.right):
                if isinstance(operand, IndicatorOperand):
                    settle = max(settle, _settle_bars(operand.name, dict(operand.params)))
    if atr_window:
        warm_up = max(warm_up, INDICATORS["atr"].lookback({"window": atr_window}))
        settle = max(settle, _settle_bars("atr", {"window": atr_window}))
    return warm_up + settle + 1


# ---------------------------------------------------------------------------------------
# The persisted state: named fields over the simulator loop's state slots.

_FLOAT_FIELDS = {
    "cash": sim._S_CASH,
    "position": sim._S_QTY,  # signed quantity: > 0 long, < 0 short
    "equity": sim._S_EQUITY,
    "peak_equity": sim._S_PEAK,
    "day_open_equity": sim._S_DAY_OPEN_EQUITY,
}
_OPEN_TRADE_FLOATS = {
    "entry_price": sim._S_ENTRY_PRICE,
    "entry_fee": sim._S_ENTRY_FEE,
    "best_price": sim._S_BEST,
    "stop_price": sim._S_STOP,
    "target_price": sim._S_TARGET,
}
_BREAKERS = {
    "max_drawdown": sim._S_HALT_BREAKER,
    "daily_loss_limit": sim._S_HALT_DAY,
    "kill_switch": sim._S_HALT_ALL,
}


def _finite_or_none(value: float) -> float | None:
    """JSON (and PostgreSQL's jsonb) have no inf or NaN: a level that is off is None."""
    return float(value) if math.isfinite(value) else None


def _side_name(sign: float) -> str:
    return "long" if sign > 0 else "short"


class BarStepper:
    """A strategy run forward bar by bar; see the module docstring.

    `entry_rules`, `exit_rules` and `parameters` are what `compile_signals` takes (a
    strategy snapshot's rules and its run parameters); `config` is the run's
    EngineConfig (`validators.build_engine_config`), `warm_up` the bars before the
    first one to trade on, oldest first.
    """

    def __init__(
        self,
        entry_rules: dict,
        exit_rules: dict,
        parameters: Mapping[str, Any] | None,
        config: EngineConfig,
        warm_up: Bars,
    ) -> None:
        self.entry_rules = entry_rules
        self.exit_rules = exit_rules
        self.parameters = dict(parameters or {})
        self.config = config
        self._atr_window = config.sizing.atr_window if config.sizing.mode == "risk" else None
        self.window_length = window_length(
            entry_rules, exit_rules, self.parameters, self._atr_window
        )
        self._pf, self._pi = sim._parameters(config)
        self._sf, self._si = sim._initial_state(config, 0)
        self._started = False  # set by the first step, whose day starts the daily limit
        self.bars_seen = 0  # warm-up bars included: the next bar's index
        self.first_timestamp: int | None = None
        self.last_timestamp: int | None = None
        self._last_close = math.nan
        self._entry_time = 0
        # A ring of 2 x window bars, shifted down when full: amortised O(1) per bar.
        capacity = 2 * self.window_length + 2
        self._buffer = {name: np.empty(capacity) for name in Bar._fields}
        self._buffer["timestamp"] = np.empty(capacity, dtype=np.int64)
        self._buffered = 0
        for index in range(len(warm_up)):
            self._append(Bar(*(getattr(warm_up, name)[index] for name in Bar._fields)))

    # -- reading ------------------------------------------------------------------------

    @property
    def halted(self) -> bool:
        """The kill switch tripped (by drawdown or by hand): nothing trades any more."""
        return bool(self._si[sim._S_HALT_ALL])

    @property
    def position(self) -> float:
        return float(self._sf[sim._S_QTY])

    @property
    def equity(self) -> float:
        return float(self._sf[sim._S_EQUITY])

    def window(self) -> Bars:
        """The trailing bars the next decision reads (at most `window_length`)."""
        start = max(0, self._buffered - self.window_length)
        return Bars(**{name: self._buffer[name][start : self._buffered] for name in Bar._fields})

    # -- stepping -----------------------------------------------------------------------

    def step(self, bar: Bar) -> list[Event]:
        """Trade one newly closed bar; returns its events in the order they happened.

        Raises ValueError, changing nothing, if the bar is not after the last one.
        """
        bar = Bar(int(bar.timestamp), *(float(value) for value in bar[1:]))
        self._check_order(bar.timestamp)
        if not self._started:
            self._sf, self._si = sim._initial_state(self.config, bar.timestamp)
            self._started = True
        halted_before = {name: bool(self._si[slot]) for name, slot in _BREAKERS.items()}
        if bar.timestamp // sim._DAY_US != self._si[sim._S_DAY]:
            halted_before["daily_loss_limit"] = False  # the loop resets it on a new day
        self._append(bar)
        index = self.bars_seen - 1
        signals = compile_signals(
            self.window(),
            self.entry_rules,
            self.exit_rules,
            self.parameters,
            self._atr_window,
        )
        flags = [
            np.array([getattr(signals, name)[-1], False])
            for name in ("long_entry", "long_exit", "short_entry", "short_exit")
        ]
        atr = np.full(2, signals.atr[-1]) if signals.atr is not None else np.empty(0)
        prices = [np.full(2, value) for value in bar[1:5]]
        outputs = [np.empty(2) for _ in range(3)]
        trades = np.empty((2, sim._N_T))
        # The loop sees this bar as index 0 of two (so never the last bar); its entry
        # index is made relative for the call and absolute again after it.
        self._si[sim._S_ENTRY_INDEX] -= index
        count = sim._run_chunk(
            0,
            1,
            np.full(2, bar.timestamp, dtype=np.int64),
            *prices,
            *flags,
            atr,
            self._pf,
            self._pi,
            self._sf,
            self._si,
            trades,
            *outputs,
        )
        self._si[sim._S_ENTRY_INDEX] += index
        self._last_close = bar.close

        events: list[Event] = []
        for row in trades[:count]:
            entry_index = int(row[sim._T_ENTRY_INDEX]) + index
            if entry_index == index:
                events.append(self._opened(index, bar.timestamp, row))
            events.append(self._closed(row, entry_index, index, bar.timestamp))
        if self.position != 0.0 and self._si[sim._S_ENTRY_INDEX] == index:
            self._entry_time = bar.timestamp
            events.append(self._opened_now(index))
        if self._si[sim._S_PENDING_EXIT] != sim._NO_EXIT or self._si[sim._S_PENDING_SIDE]:
            events.append(self._queued(index, bar.timestamp))
        events.extend(
            TradingHalted(index, bar.timestamp, name)
            for name, slot in _BREAKERS.items()
            if self._si[slot] and not halted_before[name]
        )
        equity, drawdown, exposure = (float(values[0]) for values in outputs)
        events.append(BarMarked(index, bar.timestamp, bar.close, equity, drawdown, exposure))
        return events

    def kill(self) -> list[Event]:
        """The kill switch by hand: what the simulator does when kill_switch_drawdown is
        reached, at the last stepped bar's close (the latest price known): the position
        closes there (reason "kill_switch", slippage and fee charged), the queued order
        is dropped and nothing trades again. Idempotent."""
        if self.halted:
            return []
        events: list[Event] = []
        index = self.bars_seen - 1
        time = int(self.last_timestamp or 0)
        if self.position != 0.0:
            trades = np.empty((1, sim._N_T))
            sim._close_position(
                index,
                self._last_close,
                sim._EXIT_KILL,
                self._pf,
                self._sf,
                self._si,
                trades,
                0,
            )
            events.append(self._closed(trades[0], int(trades[0, sim._T_ENTRY_INDEX]), index, time))
            sim._mark(self._last_close, self._sf)
        self._si[sim._S_HALT_ALL] = 1
        self._si[sim._S_PENDING_EXIT] = sim._NO_EXIT
        self._si[sim._S_PENDING_SIDE] = 0
        events.append(TradingHalted(index, time, "kill_switch"))
        return events

    def _check_order(self, timestamp: int) -> None:
        if self.last_timestamp is not None and timestamp <= self.last_timestamp:
            raise ValueError(
                f"bar at {timestamp} µs is not after the last bar ({self.last_timestamp} "
                "µs): bars must be stepped once each, in order"
            )

    def _append(self, bar: Bar) -> None:
        self._check_order(bar.timestamp)
        if self._buffered == len(self._buffer["close"]):
            keep = self.window_length
            for values in self._buffer.values():
                values[:keep] = values[self._buffered - keep : self._buffered]
            self._buffered = keep
        for name, value in zip(Bar._fields, bar, strict=True):
            self._buffer[name][self._buffered] = value
        self._buffered += 1
        self.bars_seen += 1
        if self.first_timestamp is None:
            self.first_timestamp = int(bar.timestamp)
        self.last_timestamp = int(bar.timestamp)

    # -- events -------------------------------------------------------------------------

    def _opened(self, index: int, time: int, row: np.ndarray) -> PositionOpened:
        quantity, price = float(row[sim._T_QTY]), float(row[sim._T_ENTRY_PRICE])
        return PositionOpened(
            bar_index=index,
            time=time,
            side=_side_name(row[sim._T_SIDE]),
            quantity=quantity,
            price=price,
            fee=quantity * price * self.config.fee,  # as the loop computed it
            reason=ENTRY_REASONS[int(row[sim._T_ENTRY_REASON])],
        )

    def _opened_now(self, index: int) -> PositionOpened:
        return PositionOpened(
            bar_index=index,
            time=self._entry_time,
            side=_side_name(self.position),
            quantity=abs(self.position),
            price=float(self._sf[sim._S_ENTRY_PRICE]),
            fee=float(self._sf[sim._S_ENTRY_FEE]),
            reason=ENTRY_REASONS[int(self._si[sim._S_ENTRY_REASON])],
        )

    def _closed(self, row: np.ndarray, entry_index: int, index: int, time: int) -> TradeClosed:
        quantity, entry_price = float(row[sim._T_QTY]), float(row[sim._T_ENTRY_PRICE])
        pnl = float(row[sim._T_PNL])
        return TradeClosed(
            entry_index=entry_index,
            exit_index=index,
            # A trade opened on this bar has not been recorded as open yet.
            entry_time=time if entry_index == index else self._entry_time,
            exit_time=time,
            side=_side_name(row[sim._T_SIDE]),
            quantity=quantity,
            entry_price=entry_price,
            exit_price=float(row[sim._T_EXIT_PRICE]),
            pnl=pnl,
            pnl_percentage=pnl / (quantity * entry_price) * 100.0,
            fees=float(row[sim._T_FEES]),
            entry_reason=ENTRY_REASONS[int(row[sim._T_ENTRY_REASON])],
            exit_reason=EXIT_REASONS[int(row[sim._T_EXIT_REASON])],
        )

    def _queued(self, index: int, time: int) -> OrderQueued:
        exit_reason = int(self._si[sim._S_PENDING_EXIT])
        side = int(self._si[sim._S_PENDING_SIDE])
        return OrderQueued(
            bar_index=index,
            time=time,
            exit_reason=EXIT_REASONS[exit_reason] if exit_reason != sim._NO_EXIT else None,
            side=_side_name(side) if side else None,
            entry_reason=ENTRY_REASONS[int(self._si[sim._S_PENDING_REASON])] if side else None,
        )

    # -- persistence --------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Everything the trading needs to continue, as a JSON-ready dict (no inf or
        NaN). The bars are not in it: `from_state` takes them from the candle store."""
        sf, si = self._sf, self._si
        open_trade = None
        if self.position != 0.0:
            open_trade = {
                "side": _side_name(self.position),
                "quantity": abs(self.position),
                "entry_index": int(si[sim._S_ENTRY_INDEX]),
                "entry_time": self._entry_time,
                "entry_reason": ENTRY_REASONS[int(si[sim._S_ENTRY_REASON])],
                **{name: _finite_or_none(sf[slot]) for name, slot in _OPEN_TRADE_FLOATS.items()},
            }
        pending_exit, pending_side = int(si[sim._S_PENDING_EXIT]), int(si[sim._S_PENDING_SIDE])
        pending_order = None
        if pending_exit != sim._NO_EXIT or pending_side:
            pending_order = {
                "exit_reason": EXIT_REASONS[pending_exit] if pending_exit != sim._NO_EXIT else None,
                "side": _side_name(pending_side) if pending_side else None,
                "entry_reason": ENTRY_REASONS[int(si[sim._S_PENDING_REASON])],
                "atr": _finite_or_none(sf[sim._S_PENDING_ATR]),
            }
        return {
            "version": STATE_VERSION,
            "bars_seen": self.bars_seen,
            "first_timestamp": self.first_timestamp,
            "last_timestamp": self.last_timestamp,
            "last_close": _finite_or_none(self._last_close),
            "started": self._started,
            "day": int(si[sim._S_DAY]),
            **{name: float(sf[slot]) for name, slot in _FLOAT_FIELDS.items()},
            "open_trade": open_trade,
            "pending_order": pending_order,
            "breakers": {name: bool(si[slot]) for name, slot in _BREAKERS.items()},
        }

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        entry_rules: dict,
        exit_rules: dict,
        parameters: Mapping[str, Any] | None,
        config: EngineConfig,
        history: Bars,
    ) -> BarStepper:
        """A stepper that continues where `to_state` left off, with the same rules and
        config. `history` must end with the last bar stepped (`state["last_timestamp"]`)
        and reach back `window_length` bars or to `state["first_timestamp"]`; bars
        before that first bar are ignored."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"state version {state.get('version')!r} is not {STATE_VERSION}: "
                "it was written by another version of the stepper"
            )
        keep = history.timestamp >= (state["first_timestamp"] or 0)
        bars = Bars(**{name: getattr(history, name)[keep] for name in Bar._fields})
        stepper = cls(entry_rules, exit_rules, parameters, config, bars)
        if len(bars) == 0 or int(bars.timestamp[-1]) != state["last_timestamp"]:
            last = int(bars.timestamp[-1]) if len(bars) else None
            raise ValueError(
                f"history ends at {last} µs but the state's last bar is at "
                f"{state['last_timestamp']} µs: load the candles up to that bar"
            )
        needed = min(stepper.window_length, state["bars_seen"])
        if len(bars) < needed:
            raise ValueError(
                f"history holds {len(bars)} bars from the session's first bar; "
                f"the strategy needs the last {needed}"
            )
        stepper.bars_seen = int(state["bars_seen"])
        stepper.first_timestamp = state["first_timestamp"]
        stepper._started = bool(state["started"])
        stepper._last_close = math.nan if state["last_close"] is None else state["last_close"]
        sf, si = stepper._sf, stepper._si
        for name, slot in _FLOAT_FIELDS.items():
            sf[slot] = state[name]
        si[sim._S_DAY] = state["day"]
        for name, slot in _BREAKERS.items():
            si[slot] = int(state["breakers"][name])
        trade = state["open_trade"]
        if trade is not None:
            sf[sim._S_QTY] = trade["quantity"] * (1 if trade["side"] == "long" else -1)
            si[sim._S_ENTRY_INDEX] = trade["entry_index"]
            si[sim._S_ENTRY_REASON] = ENTRY_REASONS.index(trade["entry_reason"])
            stepper._entry_time = int(trade["entry_time"])
            # An off level is None: the loop's +/-inf (a stop below any price for a
            # long, above any for a short; a target beyond).
            sign = 1.0 if trade["side"] == "long" else -1.0
            off = {"stop_price": -sign * math.inf, "target_price": sign * math.inf}
            for name, slot in _OPEN_TRADE_FLOATS.items():
                value = trade[name]
                sf[slot] = off.get(name, math.nan) if value is None else value
        order = state["pending_order"]
        si[sim._S_PENDING_EXIT] = sim._NO_EXIT
        si[sim._S_PENDING_SIDE] = 0
        if order is not None:
            if order["exit_reason"] is not None:
                si[sim._S_PENDING_EXIT] = EXIT_REASONS.index(order["exit_reason"])
            if order["side"] is not None:
                si[sim._S_PENDING_SIDE] = 1 if order["side"] == "long" else -1
            si[sim._S_PENDING_REASON] = ENTRY_REASONS.index(order["entry_reason"])
            sf[sim._S_PENDING_ATR] = math.nan if order["atr"] is None else order["atr"]
        return stepper
