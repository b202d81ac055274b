"""The bar-by-bar backtest simulator.

`simulate(bars, signals, config)` walks the bars once, in a numba-compiled loop over
plain numpy arrays, and returns an `EngineResult` (trades, equity, drawdown, exposure
and the metrics of `metrics.compute_metrics`).

Semantics (the user guide quotes this section):

Order of events inside bar i
    1. a new UTC day (timestamp // 86 400 s) resets the daily loss limit; the day's
       opening equity is the equity at the previous bar's close (the cash on bar 0);
    2. "next_open" only: the orders decided on bar i-1's close fill at bar i's open,
       the exit first, then the entry;
    3. stops: an open position is checked against bar i's open, high and low
       (see "Stops");
    4. equity is marked at bar i's close, then the risk limits are checked
       (see "Risk limits");
    5. the signals of bar i are read (see "Signals"); "next_open" queues the orders for
       bar i+1's open, "same_close" fills them at once at bar i's close;
    6. on the last bar a position still open is closed at the close, reason
       "end_of_data", fees charged. Equity, drawdown and exposure of a bar are recorded
       after everything that happened in it.

Fills
    "next_open" (default): a signal on bar i fills at bar i+1's open; a signal on the
    last bar does nothing. "same_close" fills at bar i's close: optimistic, since the
    close that produced the signal is also the price traded, which is rarely possible.
    Every fill pays `slippage` (buys at price*(1+slippage), sells at
    price*(1-slippage)) and the fee (`fee` * fill notional), on entry and on exit.
    Cash accounting allows shorts: equity = cash + signed quantity * close.

Signals (precedence)
    Only the sides allowed by `direction` are read. A same-side entry and exit on the
    same bar: the exit wins when in that position, and the entry is ignored when flat.
    When in a position, the side's exit is applied first; if it fires, the position
    closes ("exit_signal") and the bar is then read as flat, so an opposite entry opens
    the other side with its plain reason ("long_entry" / "short_entry"). Without an exit,
    an opposite entry (direction "both") closes the position and opens the other side
    in the same fill, both legs with reason "reversal". Flat, with long and short entries
    on the same bar: neither opens (the rules disagree). No pyramiding: an entry for the
    side already held is ignored. Entries are never taken on the last bar (they could
    only be closed at once by "end_of_data", paying two fees for nothing).

Sizing (the equity used is the cash after any exit in the same fill)
    fraction: quantity = equity*value / (fill*(1+fee)), so notional + entry fee equals
    the allotted equity; quantity: `value` units; notional: `value`/fill units;
    risk: quantity = equity*value / (atr*atr_multiple), with atr = `signals.atr` on the
    signal bar; the entry is skipped when that ATR is NaN or <= 0, and the same distance
    becomes the trade's stop-loss. Then the notional is capped at
    max_position_size*equity when set, and always at what the equity can pay for with
    its entry fee (no leverage, shorts included): notional*(1+fee) <= equity. An entry
    whose quantity is not positive (e.g. equity <= 0) is skipped.

Stops
    Levels come from the entry fill price: stop_loss at entry*(1-sl) for longs
    (entry*(1+sl) for shorts), take_profit at entry*(1+tp) (entry*(1-tp)), the "risk"
    sizing stop at entry-/+atr*multiple (the tighter of it and stop_loss applies,
    reason "stop_loss"). The trailing stop sits trailing_stop below the best high
    (above the best low for shorts) seen since the entry, starting from the entry fill;
    bar i uses the best price up to bar i-1, so a bar's own high cannot move the stop
    its low then hits (the order of high and low inside a bar is unknown). When the
    trailing level is tighter than the fixed stop it applies, reason "trailing_stop".
    Checking starts on the fill bar for "next_open" (the position exists from the open,
    so that bar's high and low count) and on the bar after the fill for "same_close".
    Per bar, in this order: an open at or beyond the stop exits at the open (a gap); an
    open at or beyond the target exits at the open; a low (high for shorts) reaching the
    stop exits at the stop level; a high (low) reaching the target exits at the target
    level. So when both could have triggered inside the bar, the stop (the
    worse outcome) is assumed. Stop and target exits pay slippage and fees too.

Risk limits (checked on each bar's close-marked equity; drawdown is measured from the
running peak of equity, which starts at the initial cash)
    max_drawdown: a circuit breaker; once the drawdown reaches it, no new entries for the
    rest of the run (it does not reset); exits keep running.
    daily_loss_limit: once equity is this fraction below the day's opening equity, entry
    signals of bars in the rest of that UTC day are ignored, including one on the day's
    last bar whose "next_open" fill would fall on the next day (exits keep running).
    While entries are blocked, an opposite entry in "both" only closes the position
    (reason "reversal").
    kill_switch_drawdown: once the drawdown reaches it, the position is closed at that
    bar's close (reason "kill_switch", slippage and fee charged) and nothing trades for
    the rest of the run; queued orders are dropped.

Outputs
    equity per bar marked at the close; drawdown per bar = (peak - equity) / peak with
    the peak as above; exposure per bar = signed position notional at the close /
    equity (0 when equity <= 0, where it has no meaning).

The loop runs in chunks of about 2 % of the bars, with its state carried in small
numpy arrays between them, so `progress(fraction_done)` can be called after each chunk;
an exception raised by the callback stops the simulation (that is how callers cancel).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

from backtest.engine.metrics import compute_metrics
from backtest.engine.types import (
    ENTRY_REASONS,
    EXIT_REASONS,
    SIZING_MODES,
    Bars,
    EngineConfig,
    EngineResult,
    Signals,
    TradeLog,
)

PROGRESS_STEP = 0.02  # fraction of the bars per chunk between progress reports

_DAY_US = 86_400_000_000

_ENTRY_LONG = ENTRY_REASONS.index("long_entry")
_ENTRY_SHORT = ENTRY_REASONS.index("short_entry")
_ENTRY_REVERSAL = ENTRY_REASONS.index("reversal")
_EXIT_SIGNAL = EXIT_REASONS.index("exit_signal")
_EXIT_REVERSAL = EXIT_REASONS.index("reversal")
_EXIT_STOP_LOSS = EXIT_REASONS.index("stop_loss")
_EXIT_TAKE_PROFIT = EXIT_REASONS.index("take_profit")
_EXIT_TRAILING = EXIT_REASONS.index("trailing_stop")
_EXIT_KILL = EXIT_REASONS.index("kill_switch")
_EXIT_END = EXIT_REASONS.index("end_of_data")
_NO_EXIT = -1

_SIZE_FRACTION = SIZING_MODES.index("fraction")
_SIZE_QUANTITY = SIZING_MODES.index("quantity")
_SIZE_NOTIONAL = SIZING_MODES.index("notional")

# Float parameters (pf). A risk limit that is off is +inf: its level is then never
# reached (e.g. a long's stop at entry*(1-inf) = -inf), which keeps the loop branch-free.
_P_FEE, _P_SLIPPAGE, _P_SIZE_VALUE, _P_ATR_MULTIPLE = 0, 1, 2, 3
_P_STOP_LOSS, _P_TAKE_PROFIT, _P_TRAILING, _P_MAX_POSITION = 4, 5, 6, 7
_P_MAX_DRAWDOWN, _P_DAILY_LOSS, _P_KILL_DRAWDOWN = 8, 9, 10
_N_PF = 11
# Integer parameters (pi).
_P_ALLOW_LONG, _P_ALLOW_SHORT, _P_SAME_CLOSE, _P_SIZING_MODE = 0, 1, 2, 3
_N_PI = 4

# Float state (sf), carried between chunks.
_S_CASH, _S_QTY, _S_ENTRY_PRICE, _S_ENTRY_FEE = 0, 1, 2, 3
_S_BEST, _S_STOP, _S_TARGET, _S_PEAK = 4, 5, 6, 7
_S_DAY_OPEN_EQUITY, _S_EQUITY, _S_PENDING_ATR = 8, 9, 10
_N_SF = 11
# Integer state (si).
_S_ENTRY_INDEX, _S_ENTRY_REASON, _S_DAY = 0, 1, 2
_S_PENDING_EXIT, _S_PENDING_SIDE, _S_PENDING_REASON = 3, 4, 5
_S_HALT_BREAKER, _S_HALT_DAY, _S_HALT_ALL = 6, 7, 8
_N_SI = 9

# Trade buffer columns (tb), float64 so one 2-D buffer holds a whole trade.
_T_ENTRY_INDEX, _T_EXIT_INDEX, _T_SIDE, _T_QTY, _T_ENTRY_PRICE = 0, 1, 2, 3, 4
_T_EXIT_PRICE, _T_PNL, _T_FEES, _T_ENTRY_REASON, _T_EXIT_REASON = 5, 6, 7, 8, 9
_N_T = 10


def simulate(
    bars: Bars,
    signals: Signals,
    config: EngineConfig,
    progress: Callable[[float], None] | None = None,
) -> EngineResult:
    """Run the strategy's signals over the bars; see the module docstring for the rules."""
    n = len(bars)
    arrays = _input_arrays(bars, signals, config)
    pf, pi = _parameters(config)
    sf, si = _initial_state(config, int(bars.timestamp[0]) if n else 0)

    equity = np.empty(n)
    drawdown = np.empty(n)
    exposure = np.empty(n)
    chunk = max(1, math.ceil(n * PROGRESS_STEP))
    # At most two trades close per bar: a queued exit at the open, then a stop (or the
    # kill switch, or end_of_data) on the position the same fill opened.
    buffer = np.empty((2 * chunk, _N_T))
    pieces = []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        count = _run_chunk(start, stop, *arrays, pf, pi, sf, si, buffer, equity, drawdown, exposure)
        if count:
            pieces.append(buffer[:count].copy())
        if progress is not None:
            progress(stop / n)

    trades = _trade_log(np.concatenate(pieces) if pieces else np.empty((0, _N_T)))
    return EngineResult(
        bars=bars,
        config=config,
        trades=trades,
        equity=equity,
        drawdown=drawdown,
        exposure=exposure,
        metrics=compute_metrics(bars, trades, equity, config),
    )


def _initial_state(config: EngineConfig, first_timestamp: int) -> tuple[np.ndarray, np.ndarray]:
    """The loop's carried state (float, integer) before its first bar, at `first_timestamp`
    (µs): flat, all cash, no order queued, no limit tripped. The paper-trading stepper
    starts from it too."""
    sf = np.zeros(_N_SF)
    si = np.zeros(_N_SI, dtype=np.int64)
    sf[_S_CASH] = sf[_S_PEAK] = sf[_S_DAY_OPEN_EQUITY] = sf[_S_EQUITY] = config.cash
    si[_S_PENDING_EXIT] = _NO_EXIT
    si[_S_DAY] = first_timestamp // _DAY_US
    return sf, si


def _input_arrays(bars: Bars, signals: Signals, config: EngineConfig) -> tuple[np.ndarray, ...]:
    """The loop's inputs as contiguous arrays of one dtype; lengths checked because the
    compiled loop does not bounds-check."""
    n = len(bars)
    for name in ("long_entry", "long_exit", "short_entry", "short_exit"):
        if len(getattr(signals, name)) != n:
            raise ValueError(f"signals.{name} has {len(getattr(signals, name))} entries, bars {n}")
    if config.sizing.mode == "risk":
        if signals.atr is None or len(signals.atr) != n:
            raise ValueError("risk sizing needs signals.atr, one value per bar")
        atr = np.ascontiguousarray(signals.atr, dtype=np.float64)
    else:
        atr = np.empty(0)
    prices = (
        np.ascontiguousarray(getattr(bars, name), dtype=np.float64)
        for name in ("open", "high", "low", "close")
    )
    flags = (
        np.ascontiguousarray(getattr(signals, name), dtype=np.bool_)
        for name in ("long_entry", "long_exit", "short_entry", "short_exit")
    )
    timestamp = np.ascontiguousarray(bars.timestamp, dtype=np.int64)
    return (timestamp, *prices, *flags, atr)


def _parameters(config: EngineConfig) -> tuple[np.ndarray, np.ndarray]:
    def limit(value: float | None) -> float:
        return math.inf if value is None else float(value)

    risk, sizing = config.risk, config.sizing
    pf = np.empty(_N_PF)
    pf[_P_FEE] = config.fee
    pf[_P_SLIPPAGE] = config.slippage
    pf[_P_SIZE_VALUE] = sizing.value
    pf[_P_ATR_MULTIPLE] = sizing.atr_multiple
    pf[_P_STOP_LOSS] = limit(risk.stop_loss)
    pf[_P_TAKE_PROFIT] = limit(risk.take_profit)
    pf[_P_TRAILING] = limit(risk.trailing_stop)
    pf[_P_MAX_POSITION] = limit(risk.max_position_size)
    pf[_P_MAX_DRAWDOWN] = limit(risk.max_drawdown)
    pf[_P_DAILY_LOSS] = limit(risk.daily_loss_limit)
    pf[_P_KILL_DRAWDOWN] = limit(risk.kill_switch_drawdown)
    pi = np.empty(_N_PI, dtype=np.int64)
    pi[_P_ALLOW_LONG] = config.direction in ("long", "both")
    pi[_P_ALLOW_SHORT] = config.direction in ("short", "both")
    pi[_P_SAME_CLOSE] = config.fill == "same_close"
    pi[_P_SIZING_MODE] = SIZING_MODES.index(sizing.mode)
    return pf, pi


def _trade_log(table: np.ndarray) -> TradeLog:
    quantity = table[:, _T_QTY]
    entry_price = table[:, _T_ENTRY_PRICE]
    pnl = table[:, _T_PNL]
    return TradeLog(
        entry_index=table[:, _T_ENTRY_INDEX].astype(np.int64),
        exit_index=table[:, _T_EXIT_INDEX].astype(np.int64),
        side=table[:, _T_SIDE].astype(np.int8),
        quantity=quantity.copy(),
        entry_price=entry_price.copy(),
        exit_price=table[:, _T_EXIT_PRICE].copy(),
        pnl=pnl.copy(),
        pnl_percentage=pnl / (quantity * entry_price) * 100.0,
        fees=table[:, _T_FEES].copy(),
        entry_reason=table[:, _T_ENTRY_REASON].astype(np.int8),
        exit_reason=table[:, _T_EXIT_REASON].astype(np.int8),
    )


@numba.njit(cache=True)
def _run_chunk(
    start,
    stop,
    timestamp,
    open_,
    high,
    low,
    close,
    long_entry,
    long_exit,
    short_entry,
    short_exit,
    atr,
    pf,
    pi,
    sf,
    si,
    tb,
    equity_out,
    drawdown_out,
    exposure_out,
):
    """Simulate bars [start, stop); returns how many trades it wrote to `tb`."""
    n = len(close)
    same_close = pi[_P_SAME_CLOSE] == 1
    count = 0
    for i in range(start, stop):
        day = timestamp[i] // _DAY_US
        if day != si[_S_DAY]:
            si[_S_DAY] = day
            sf[_S_DAY_OPEN_EQUITY] = sf[_S_EQUITY]
            si[_S_HALT_DAY] = 0

        if not same_close:
            if si[_S_PENDING_EXIT] != _NO_EXIT and sf[_S_QTY] != 0.0:
                count = _close_position(i, open_[i], si[_S_PENDING_EXIT], pf, sf, si, tb, count)
            if si[_S_PENDING_SIDE] != 0 and sf[_S_QTY] == 0.0:
                _open_position(
                    i,
                    open_[i],
                    si[_S_PENDING_SIDE],
                    si[_S_PENDING_REASON],
                    sf[_S_PENDING_ATR],
                    pf,
                    pi,
                    sf,
                    si,
                )
            si[_S_PENDING_EXIT] = _NO_EXIT
            si[_S_PENDING_SIDE] = 0

        if sf[_S_QTY] != 0.0:
            count = _check_stops(i, open_[i], high[i], low[i], pf, sf, si, tb, count)

        drawdown = _mark(close[i], sf)
        if drawdown >= pf[_P_KILL_DRAWDOWN] and si[_S_HALT_ALL] == 0:
            if sf[_S_QTY] != 0.0:
                count = _close_position(i, close[i], _EXIT_KILL, pf, sf, si, tb, count)
            si[_S_HALT_ALL] = 1
        if drawdown >= pf[_P_MAX_DRAWDOWN]:
            si[_S_HALT_BREAKER] = 1
        if sf[_S_EQUITY] <= sf[_S_DAY_OPEN_EQUITY] * (1.0 - pf[_P_DAILY_LOSS]):
            si[_S_HALT_DAY] = 1

        if si[_S_HALT_ALL] == 0:
            exit_reason, side, entry_reason = _read_signals(
                i, long_entry, long_exit, short_entry, short_exit, pi, sf[_S_QTY]
            )
            if si[_S_HALT_BREAKER] == 1 or si[_S_HALT_DAY] == 1 or i == n - 1:
                side = 0
            signal_atr = atr[i] if len(atr) else np.nan
            if same_close:
                if exit_reason != _NO_EXIT:
                    count = _close_position(i, close[i], exit_reason, pf, sf, si, tb, count)
                if side != 0:
                    _open_position(i, close[i], side, entry_reason, signal_atr, pf, pi, sf, si)
            else:
                si[_S_PENDING_EXIT] = exit_reason
                si[_S_PENDING_SIDE] = side
                si[_S_PENDING_REASON] = entry_reason
                sf[_S_PENDING_ATR] = signal_atr

        if i == n - 1 and sf[_S_QTY] != 0.0:
            count = _close_position(i, close[i], _EXIT_END, pf, sf, si, tb, count)

        drawdown = _mark(close[i], sf)
        equity_out[i] = sf[_S_EQUITY]
        drawdown_out[i] = drawdown
        exposure_out[i] = sf[_S_QTY] * close[i] / sf[_S_EQUITY] if sf[_S_EQUITY] > 0.0 else 0.0
    return count


@numba.njit(cache=True, inline="always")
def _mark(price, sf):
    """Mark equity at `price`, raise the peak; returns the drawdown fraction."""
    equity = sf[_S_CASH] + sf[_S_QTY] * price
    sf[_S_EQUITY] = equity
    if equity > sf[_S_PEAK]:
        sf[_S_PEAK] = equity
    peak = sf[_S_PEAK]
    return (peak - equity) / peak if peak > 0.0 else 0.0


@numba.njit(cache=True, inline="always")
def _read_signals(i, long_entry, long_exit, short_entry, short_exit, pi, qty):
    """(exit reason or _NO_EXIT, side to open or 0, entry reason) for bar i's signals."""
    allow_long = pi[_P_ALLOW_LONG] == 1
    allow_short = pi[_P_ALLOW_SHORT] == 1
    exit_long = allow_long & long_exit[i]
    exit_short = allow_short & short_exit[i]
    open_long = allow_long & long_entry[i] & (not exit_long)
    open_short = allow_short & short_entry[i] & (not exit_short)

    exit_reason = _NO_EXIT
    side = 0
    entry_reason = 0
    if qty > 0.0:
        if exit_long:
            exit_reason = _EXIT_SIGNAL
            qty = 0.0
        elif open_short:
            exit_reason, side, entry_reason = _EXIT_REVERSAL, -1, _ENTRY_REVERSAL
    elif qty < 0.0:
        if exit_short:
            exit_reason = _EXIT_SIGNAL
            qty = 0.0
        elif open_long:
            exit_reason, side, entry_reason = _EXIT_REVERSAL, 1, _ENTRY_REVERSAL
    # Flat, or flat once the exit above fills.
    if qty == 0.0 and open_long != open_short:
        side, entry_reason = (1, _ENTRY_LONG) if open_long else (-1, _ENTRY_SHORT)
    return exit_reason, side, entry_reason


@numba.njit(cache=True, inline="always")
def _open_position(i, price, side, reason, signal_atr, pf, pi, sf, si):
    fee = pf[_P_FEE]
    fill = price * (1.0 + side * pf[_P_SLIPPAGE])
    equity = sf[_S_CASH]  # flat here, so the cash is the equity
    if not equity > 0.0:
        return
    mode = pi[_P_SIZING_MODE]
    risk_distance = np.inf
    if mode == _SIZE_FRACTION:
        qty = equity * pf[_P_SIZE_VALUE] / (fill * (1.0 + fee))
    elif mode == _SIZE_QUANTITY:
        qty = pf[_P_SIZE_VALUE]
    elif mode == _SIZE_NOTIONAL:
        qty = pf[_P_SIZE_VALUE] / fill
    else:
        risk_distance = signal_atr * pf[_P_ATR_MULTIPLE]
        if not risk_distance > 0.0:  # also catches a NaN ATR (warm-up)
            return
        qty = equity * pf[_P_SIZE_VALUE] / risk_distance
    qty = min(qty, pf[_P_MAX_POSITION] * equity / fill, equity / (fill * (1.0 + fee)))
    if not qty > 0.0:
        return

    entry_fee = qty * fill * fee
    sf[_S_CASH] -= side * qty * fill + entry_fee
    sf[_S_QTY] = side * qty
    sf[_S_ENTRY_PRICE] = fill
    sf[_S_ENTRY_FEE] = entry_fee
    sf[_S_BEST] = fill
    if side > 0:
        sf[_S_STOP] = max(fill * (1.0 - pf[_P_STOP_LOSS]), fill - risk_distance)
        sf[_S_TARGET] = fill * (1.0 + pf[_P_TAKE_PROFIT])
    else:
        sf[_S_STOP] = min(fill * (1.0 + pf[_P_STOP_LOSS]), fill + risk_distance)
        sf[_S_TARGET] = fill * (1.0 - pf[_P_TAKE_PROFIT])
    si[_S_ENTRY_INDEX] = i
    si[_S_ENTRY_REASON] = reason


@numba.njit(cache=True, inline="always")
def _close_position(i, price, reason, pf, sf, si, tb, count):
    """Close the whole position at `price` (before slippage); returns the new count."""
    qty = sf[_S_QTY]
    side = 1.0 if qty > 0.0 else -1.0
    fill = price * (1.0 - side * pf[_P_SLIPPAGE])
    size = abs(qty)
    exit_fee = size * fill * pf[_P_FEE]
    sf[_S_CASH] += qty * fill - exit_fee
    sf[_S_QTY] = 0.0
    entry_price = sf[_S_ENTRY_PRICE]
    tb[count, _T_ENTRY_INDEX] = si[_S_ENTRY_INDEX]
    tb[count, _T_EXIT_INDEX] = i
    tb[count, _T_SIDE] = side
    tb[count, _T_QTY] = size
    tb[count, _T_ENTRY_PRICE] = entry_price
    tb[count, _T_EXIT_PRICE] = fill
    tb[count, _T_PNL] = side * size * (fill - entry_price) - sf[_S_ENTRY_FEE] - exit_fee
    tb[count, _T_FEES] = sf[_S_ENTRY_FEE] + exit_fee
    tb[count, _T_ENTRY_REASON] = si[_S_ENTRY_REASON]
    tb[count, _T_EXIT_REASON] = reason
    return count + 1


@numba.njit(cache=True, inline="always")
def _check_stops(i, open_price, high, low, pf, sf, si, tb, count):
    """Stop, trailing stop and target inside bar i; returns the new trade count."""
    stop = sf[_S_STOP]
    target = sf[_S_TARGET]
    stop_reason = _EXIT_STOP_LOSS
    if sf[_S_QTY] > 0.0:
        trailing = sf[_S_BEST] * (1.0 - pf[_P_TRAILING])
        if trailing > stop:
            stop, stop_reason = trailing, _EXIT_TRAILING
        if open_price <= stop:
            return _close_position(i, open_price, stop_reason, pf, sf, si, tb, count)
        if open_price >= target:
            return _close_position(i, open_price, _EXIT_TAKE_PROFIT, pf, sf, si, tb, count)
        if low <= stop:
            return _close_position(i, stop, stop_reason, pf, sf, si, tb, count)
        if high >= target:
            return _close_position(i, target, _EXIT_TAKE_PROFIT, pf, sf, si, tb, count)
        sf[_S_BEST] = max(sf[_S_BEST], high)
    else:
        trailing = sf[_S_BEST] * (1.0 + pf[_P_TRAILING])
        if trailing < stop:
            stop, stop_reason = trailing, _EXIT_TRAILING
        if open_price >= stop:
            return _close_position(i, open_price, stop_reason, pf, sf, si, tb, count)
        if open_price <= target:
            return _close_position(i, open_price, _EXIT_TAKE_PROFIT, pf, sf, si, tb, count)
        if high >= stop:
            return _close_position(i, stop, stop_reason, pf, sf, si, tb, count)
        if low <= target:
            return _close_position(i, target, _EXIT_TAKE_PROFIT, pf, sf, si, tb, count)
        sf[_S_BEST] = min(sf[_S_BEST], low)
    return count
