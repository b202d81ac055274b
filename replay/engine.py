"""The replay's computation, over numpy arrays: no Django and no database here.

- `containing_candles`: the as-of join. A transaction at time t belongs to the candle
  with open_time <= t < open_time + timeframe; at a candle boundary that is the candle
  opening then. When that candle is missing (a gap in the data) the answer is MISSING:
  never the previous candle (a stale price) nor the next one (a later price).
- `fill_prices`: the reference price of that same candle under a fill model: its open,
  its close, its typical price (high + low + close) / 3, or the worst of high and low
  for the side (a buy at the high, a sell at the low).
- `slippage`: per unit, positive when the real fill was worse than the reference (a buy
  paid more, a sell received less), in percent of the reference, and times the
  quantity (the value difference).
- `fifo_positions`: positions rebuilt from the fills, first in first out, with the real
  and the replayed prices side by side: realised PnL, unrealised PnL at a mark price,
  fees, for both sequences at once.

Times are int64 microseconds since the Unix epoch (UTC); sides are +1 (buy) and -1
(sell). Prices are float64, as candles are stored; results that are shown as decimals
are rounded to 15 significant digits of the price they came from, which removes the
binary noise of the subtraction (42000.13 - 42000.12 is 0.01, not 0.0100000000020).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

FILL_MODELS = ("open", "close", "typical", "worst")
BUY, SELL = 1, -1
MISSING = -1
# Fee kinds: in which asset a fill's fee was paid, relative to the fill's symbol.
NO_FEE, FEE_IN_QUOTE, FEE_IN_BASE, FEE_IN_OTHER = 0, 1, 2, 3
# A lot or a fill whose remaining quantity is below this fraction of its own size is
# closed: what is left is the rounding of float subtraction, not a position.
_DUST = 1e-10
_SIGNIFICANT_DIGITS = 15
_MAX_DECIMALS = 18  # the decimal places of the price columns


class UnknownFillModel(ValueError):
    pass


@dataclass(frozen=True)
class Candles:
    """One symbol's candles in ascending open time; `end` is each candle's exclusive end."""

    open_time: np.ndarray
    end: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], bar_us: int | None) -> Candles:
        """From `candle_arrays` output; `bar_us` is the timeframe in microseconds, or
        None for calendar months (each candle then ends where the next month begins)."""
        open_time = np.asarray(arrays["timestamp"], dtype=np.int64)
        if bar_us is None:
            month = open_time.astype("datetime64[us]").astype("datetime64[M]")
            end = (month + 1).astype("datetime64[us]").astype(np.int64)
        else:
            end = open_time + np.int64(bar_us)
        return cls(
            open_time=open_time,
            end=end,
            **{name: np.asarray(arrays[name], dtype=np.float64) for name in _OHLC},
        )

    def __len__(self) -> int:
        return len(self.open_time)

    @classmethod
    def empty(cls) -> Candles:
        times = np.empty(0, dtype=np.int64)
        return cls(times, times, *(np.empty(0) for _ in _OHLC))


_OHLC = ("open", "high", "low", "close")


def containing_candles(candles: Candles, times: np.ndarray) -> np.ndarray:
    """For each time, the index of the candle containing it, or MISSING: one binary
    search over the open times for all of them."""
    times = np.asarray(times, dtype=np.int64)
    if len(candles) == 0:
        return np.full(len(times), MISSING, dtype=np.int64)
    index = np.searchsorted(candles.open_time, times, side="right") - 1
    started = index >= 0
    inside = started & (times < candles.end[np.where(started, index, 0)])
    return np.where(inside, index, MISSING).astype(np.int64)


def fill_prices(candles: Candles, index: np.ndarray, side: np.ndarray, model: str) -> np.ndarray:
    """The reference price of each transaction's own candle; NaN where it has none."""
    if model not in FILL_MODELS:
        raise UnknownFillModel(f"unknown fill model {model!r}; use one of {', '.join(FILL_MODELS)}")
    found = index != MISSING
    at = np.where(found, index, 0)
    if len(candles) == 0:
        return np.full(len(index), np.nan)
    if model == "open":
        price = candles.open[at]
    elif model == "close":
        price = candles.close[at]
    elif model == "typical":
        price = (candles.high[at] + candles.low[at] + candles.close[at]) / 3.0
    else:
        price = np.where(np.asarray(side) > 0, candles.high[at], candles.low[at])
    return np.where(found, price, np.nan)


def round_to_price(values: np.ndarray, price: np.ndarray) -> np.ndarray:
    """`values` rounded to 15 significant digits of `price` (at most 18 decimals)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.abs(np.asarray(price, dtype=np.float64))))
        decimals = np.clip(_SIGNIFICANT_DIGITS - 1 - exponent, 0, _MAX_DECIMALS)
        scale = 10.0**decimals
        return np.round(values * scale) / scale


@dataclass(frozen=True)
class Slippage:
    per_unit: np.ndarray  # side * (real - replay): positive = worse for the trader
    pct: np.ndarray  # per_unit / replay * 100
    value: np.ndarray  # per_unit * quantity


def slippage(
    real_price: np.ndarray, replay_price: np.ndarray, side: np.ndarray, quantity: np.ndarray
) -> Slippage:
    """Real against replayed fills. A buy's slippage is real - replay (it paid more), a
    sell's replay - real (it received less): positive is always worse for the trader.
    NaN where the replay price is NaN."""
    real_price = np.asarray(real_price, dtype=np.float64)
    replay_price = np.asarray(replay_price, dtype=np.float64)
    quantity = np.asarray(quantity, dtype=np.float64)
    per_unit = round_to_price(np.asarray(side) * (real_price - replay_price), replay_price)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = per_unit / replay_price * 100.0
    value = round_to_price(per_unit * quantity, replay_price * quantity)
    return Slippage(per_unit=per_unit, pct=pct, value=value)


def fees_in_quote(
    fee: np.ndarray, kind: np.ndarray, own_price: np.ndarray, other_price: np.ndarray
) -> np.ndarray:
    """Each fee in the symbol's quote asset: as paid when in the quote asset, times the
    symbol's price when in the base asset, times `other_price` (the fee asset's price in
    the quote asset, NaN when unknown) when in a third asset. NaN: not convertible."""
    fee = np.asarray(fee, dtype=np.float64)
    kind = np.asarray(kind)
    converted = np.zeros(len(fee))
    converted = np.where(kind == FEE_IN_QUOTE, fee, converted)
    converted = np.where(kind == FEE_IN_BASE, fee * own_price, converted)
    return np.where(kind == FEE_IN_OTHER, fee * other_price, converted)


@dataclass(frozen=True)
class Position:
    """One price sequence's outcome, in the quote asset."""

    realised_pnl: float
    unrealised_pnl: float | None  # None: a position is open and there is no mark price
    fees: float

    @property
    def net_pnl(self) -> float | None:
        if self.unrealised_pnl is None:
            return None
        return self.realised_pnl + self.unrealised_pnl - self.fees


@dataclass(frozen=True)
class Positions:
    real: Position
    replayed: Position
    open_quantity: float  # signed: > 0 long, < 0 short


def fifo_positions(
    side: np.ndarray,
    quantity: np.ndarray,
    real_price: np.ndarray,
    replay_price: np.ndarray,
    fees: np.ndarray,
    mark_price: float | None,
) -> Positions:
    """Rebuild the position from fills in time order, first in first out.

    A fill against the open lots closes them oldest first and realises
    lot quantity * direction * (exit price - entry price); what it does not close opens
    a lot of its own direction, so a sell beyond the long position opens a short (as on
    margin). Both price sequences share the quantities, hence the lots; only their
    prices differ. Open lots are marked at `mark_price`. `fees` (quote asset, already
    converted) are charged alike to both sequences.
    """
    sides = np.asarray(side).tolist()
    quantities = np.asarray(quantity, dtype=np.float64).tolist()
    real = np.asarray(real_price, dtype=np.float64).tolist()
    replay = np.asarray(replay_price, dtype=np.float64).tolist()
    lots: deque[list] = deque()  # [remaining, original, entry index], all one direction
    direction = 0
    realised_real = realised_replay = 0.0
    for i, (fill_side, wanted) in enumerate(zip(sides, quantities, strict=True)):
        left = wanted
        if direction == -fill_side:
            exit_real, exit_replay = real[i], replay[i]
            while lots and left > _DUST * wanted:
                lot = lots[0]
                taken = min(left, lot[0])
                entry = lot[2]
                realised_real += taken * direction * (exit_real - real[entry])
                realised_replay += taken * direction * (exit_replay - replay[entry])
                lot[0] -= taken
                left -= taken
                if lot[0] <= _DUST * lot[1]:
                    lots.popleft()
            if not lots:
                direction = 0
        if left > _DUST * wanted:
            lots.append([left, left, i])
            direction = fill_side
    open_quantity = direction * sum(lot[0] for lot in lots)
    total_fees = float(np.sum(fees)) if len(fees) else 0.0

    def unrealised(prices: list[float]) -> float | None:
        if not lots:
            return 0.0
        if mark_price is None or not np.isfinite(mark_price):
            return None
        return sum(lot[0] * direction * (mark_price - prices[lot[2]]) for lot in lots)

    return Positions(
        real=Position(realised_real, unrealised(real), total_fees),
        replayed=Position(realised_replay, unrealised(replay), total_fees),
        open_quantity=open_quantity,
    )


def mark_index(candles: Candles, moment: int) -> int:
    """The last candle that had closed by `moment` (its end <= moment), or MISSING."""
    if len(candles) == 0:
        return MISSING
    # Ends ascend with open times (candles do not overlap).
    return int(np.searchsorted(candles.end, moment, side="right")) - 1
