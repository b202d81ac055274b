"""The indicator catalogue: every indicator a strategy rule can name.

Each entry declares its parameters (type, range, default), the price fields it reads,
a one-line description and its lookback: the number of bars needed before its first
value, so the value at index `lookback` is the first that is not NaN.

Values are float64 numpy arrays aligned with the bars, NaN during warm-up and wherever
the formula is undefined (a division by zero gives NaN, never ±inf). Every value at bar
i depends on bars <= i only: no centred window, no backward fill.

Most indicators are computed by the `ta` package (`fillna=False`). Four are computed
here instead, to the same formulas as `ta` and tested equal to it, because `ta` runs
them as a Python loop per bar (tens of seconds on a year of minute bars) and fills
their warm-up with zeros instead of NaN: wma, atr, adx and cci.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from ta.momentum import RSIIndicator, StochasticOscillator
from ta.trend import MACD, EMAIndicator, SMAIndicator
from ta.volatility import BollingerBands, DonchianChannel
from ta.volume import OnBalanceVolumeIndicator, VolumeWeightedAveragePrice

from backtest.engine.types import Bars

PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

# The longest window (and offset) a rule may use, in bars. A rolling mean over more is
# never a sensible research question, and lookbacks beyond the data are refused at run
# time anyway; the cap bounds what one indicator may cost.
MAX_WINDOW = 100_000
# CCI's mean absolute deviation costs bars x window (there is no simple exact rolling
# form), so its window is capped lower: a year of minute bars at 1,000 takes ~3 s.
MAX_CCI_WINDOW = 1_000
# How much of a value a message quotes (see `render_value`).
_RENDER_LIMIT = 200

ParamValue = int | float | str


@dataclass(frozen=True)
class NumberRange:
    """What a number slot accepts; `check` is the one place numbers are judged.

    Booleans are rejected even though Python counts them as ints, and so are NaN and
    ±inf, and integers too large to be a float (JSON allows 1e400 written out as an
    integer). An integer slot accepts an integral float (10.0, as JSON clients often
    send) and turns it into an int. `check` never raises.
    """

    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    minimum_inclusive: bool = True
    maximum_inclusive: bool = True

    def describe(self) -> str:
        """'an integer ≥ 1', 'a number > 0', 'a number ≥ 0 and < 1', ..."""
        bounds = []
        if self.minimum is not None:
            sign = "≥" if self.minimum_inclusive else ">"
            bounds.append(f"{sign} {_format_number(self.minimum)}")
        if self.maximum is not None:
            sign = "≤" if self.maximum_inclusive else "<"
            bounds.append(f"{sign} {_format_number(self.maximum)}")
        noun = "an integer" if self.integer else "a number"
        return " ".join([noun, " and ".join(bounds)]) if bounds else noun

    def check(self, value: object, origin: str = "") -> tuple[int | float | None, str | None]:
        """(the value as int or float, None) or (None, "must be ... (got ...)").

        `origin` tells where the value came from, e.g. 'parameter "fast"'.
        """
        failure = (None, f"must be {self.describe()} ({_got(value, origin)})")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return failure
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int beyond the float range
            return None, f"must be a finite number ({_got(value, origin)})"
        if not finite:
            return failure
        if self.integer:
            if value != int(value):
                return failure
            value = int(value)
        else:
            value = float(value)
        if self.minimum is not None and (
            value < self.minimum or (value == self.minimum and not self.minimum_inclusive)
        ):
            return failure
        if self.maximum is not None and (
            value > self.maximum or (value == self.maximum and not self.maximum_inclusive)
        ):
            return failure
        return value, None


def _got(value: object, origin: str) -> str:
    return f"got {render_value(value)}" + (f" from {origin}" if origin else "")


def render_value(value: object) -> str:
    """A value as the user wrote it in JSON (true, "x", 2.5), for messages.

    Never raises. An integer too large for a float is described by its length, and
    anything longer than a couple of hundred characters is cut short with "…".
    """
    if isinstance(value, int) and not isinstance(value, bool) and _beyond_float(value):
        return f"an integer of {_digit_count(value)} digits"
    try:
        rendered = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        try:
            rendered = repr(value)
        except (ValueError, RecursionError):
            rendered = f"a {type(value).__name__}"
    if len(rendered) > _RENDER_LIMIT:
        rendered = rendered[:_RENDER_LIMIT] + "…"
    return rendered


def _beyond_float(value: int) -> bool:
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _digit_count(value: int) -> int:
    """Digits of |value|, without str() (refused beyond 4,300 digits)."""
    value = abs(value)
    digits = int(math.log10(value)) + 1  # may be one off at a power of ten
    if 10 ** (digits - 1) > value:
        digits -= 1
    elif 10**digits <= value:
        digits += 1
    return digits


def _format_number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


@dataclass(frozen=True)
class ParamSpec:
    """One indicator parameter. A `range` of None means a price-field name (`source`)."""

    name: str
    default: ParamValue
    description: str
    range: NumberRange | None = None

    def check(self, value: object, origin: str = "") -> tuple[ParamValue | None, str | None]:
        if self.range is not None:
            return self.range.check(value, origin)
        if isinstance(value, str) and value in PRICE_FIELDS:
            return value, None
        return None, f"must be one of {', '.join(PRICE_FIELDS)} ({_got(value, origin)})"

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": self.name,
            "default": self.default,
            "description": self.description,
        }
        if self.range is None:
            described.update(type="source", choices=list(PRICE_FIELDS))
        else:
            described.update(
                type="integer" if self.range.integer else "number",
                minimum=self.range.minimum,
                minimum_inclusive=self.range.minimum_inclusive,
                maximum=self.range.maximum,
                maximum_inclusive=self.range.maximum_inclusive,
            )
        return described


Params = Mapping[str, ParamValue]


@dataclass(frozen=True)
class IndicatorSpec:
    name: str
    description: str
    params: tuple[ParamSpec, ...]
    inputs: tuple[str, ...]  # fixed price fields read; a `source` parameter adds its field
    lookback: Callable[[Params], int]
    compute: Callable[[Bars, Params], np.ndarray | pd.Series]
    # Rules between parameters (e.g. macd fast < slow): a message, or None when fine.
    constraint: Callable[[Params], str | None] | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.params)

    def param(self, name: str) -> ParamSpec | None:
        return next((spec for spec in self.params if spec.name == name), None)

    def with_defaults(self, params: Params) -> dict[str, ParamValue]:
        return {spec.name: params.get(spec.name, spec.default) for spec in self.params}

    def describe(self) -> dict[str, Any]:
        defaults = self.with_defaults({})
        return {
            "name": self.name,
            "description": self.description,
            "inputs": list(self.inputs),
            "params": [spec.describe() for spec in self.params],
            "default_lookback": self.lookback(defaults),
        }


# ---------------------------------------------------------------------------------------
# Computations. Each takes the bars and complete, checked params.


def _series(bars: Bars, field: str) -> pd.Series:
    return pd.Series(getattr(bars, field), copy=False)


def _source(bars: Bars, params: Params) -> pd.Series:
    return _series(bars, str(params["source"]))


def _wma(bars: Bars, params: Params) -> np.ndarray:
    window = int(params["window"])
    values = getattr(bars, str(params["source"]))
    # ta's weights: 1..window scaled to sum to 1, the newest bar weighted most.
    weights = np.arange(1, window + 1, dtype=np.float64) * 2 / (window * (window + 1))
    result = np.full(len(values), np.nan)
    result[window - 1 :] = np.convolve(values, weights[::-1], mode="valid")
    return result


def _previous(values: np.ndarray) -> np.ndarray:
    shifted = np.empty_like(values)
    shifted[0] = np.nan
    shifted[1:] = values[:-1]
    return shifted


def _true_range(bars: Bars) -> np.ndarray:
    """The largest of high - low, |high - previous close|, |low - previous close|."""
    previous_close = _previous(bars.close)
    # fmax skips the missing previous close of the first bar: there it is high - low.
    return np.fmax(
        bars.high - bars.low,
        np.fmax(np.abs(bars.high - previous_close), np.abs(bars.low - previous_close)),
    )


def _wilder_average(values: np.ndarray, window: int, first: int) -> np.ndarray:
    """Wilder's smoothing: the plain mean of the `window` values ending at `first`, then
    average[i] = (average[i-1] * (window-1) + values[i]) / window; NaN before `first`."""
    seeded = np.full(len(values), np.nan)
    seeded[first] = values[first - window + 1 : first + 1].mean()
    seeded[first + 1 :] = values[first + 1 :]
    return pd.Series(seeded).ewm(alpha=1 / window, adjust=False).mean().to_numpy()


def _atr(bars: Bars, params: Params) -> np.ndarray:
    window = int(params["window"])
    return _wilder_average(_true_range(bars), window, first=window - 1)


def _adx(bars: Bars, params: Params) -> np.ndarray:
    """ta's ADX: directional movement from the second bar, smoothed Wilder-style."""
    window = int(params["window"])
    true_range = _true_range(bars)
    up_move = bars.high - _previous(bars.high)
    down_move = _previous(bars.low) - bars.low
    plus_move = np.where((up_move > down_move) & (up_move > 0), up_move, 0.0)
    minus_move = np.where((down_move > up_move) & (down_move > 0), down_move, 0.0)
    # The first bar has no previous bar, so the sums start at bar 1 and end at `window`.
    range_average = _wilder_average(true_range, window, first=window)
    plus_average = _wilder_average(plus_move, window, first=window)
    minus_average = _wilder_average(minus_move, window, first=window)
    with np.errstate(divide="ignore", invalid="ignore"):
        plus_di = np.where(range_average != 0, 100 * plus_average / range_average, 0.0)
        minus_di = np.where(range_average != 0, 100 * minus_average / range_average, 0.0)
        di_sum = plus_di + minus_di
        directional_index = np.where(di_sum != 0, 100 * np.abs(plus_di - minus_di) / di_sum, 0.0)
    return _wilder_average(directional_index, window, first=2 * window - 1)


def _rolling_mean_absolute_deviation(values: np.ndarray, window: int) -> np.ndarray:
    result = np.full(len(values), np.nan)
    windows = sliding_window_view(values, window)
    # Blocks bound the temporary (rows x window) array on long series.
    rows_per_block = max(1, 2**21 // window)
    for start in range(0, len(windows), rows_per_block):
        block = windows[start : start + rows_per_block]
        deviation = np.abs(block - block.mean(axis=1, keepdims=True)).mean(axis=1)
        result[window - 1 + start : window - 1 + start + len(block)] = deviation
    return result


def _cci(bars: Bars, params: Params) -> np.ndarray:
    window = int(params["window"])
    typical_price = (bars.high + bars.low + bars.close) / 3.0
    moving_average = pd.Series(typical_price).rolling(window).mean().to_numpy()
    deviation = _rolling_mean_absolute_deviation(typical_price, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (typical_price - moving_average) / (float(params["constant"]) * deviation)


def _macd(bars: Bars, params: Params) -> MACD:
    return MACD(
        _source(bars, params),
        window_slow=int(params["slow"]),
        window_fast=int(params["fast"]),
        window_sign=int(params.get("signal", 9)),
        fillna=False,
    )


def _bollinger(bars: Bars, params: Params) -> BollingerBands:
    return BollingerBands(
        _source(bars, params),
        window=int(params["window"]),
        window_dev=float(params.get("std", 2.0)),
        fillna=False,
    )


def _stochastic(bars: Bars, params: Params) -> StochasticOscillator:
    return StochasticOscillator(
        _series(bars, "high"),
        _series(bars, "low"),
        _series(bars, "close"),
        window=int(params["window"]),
        smooth_window=int(params.get("smooth_window", 3)),
        fillna=False,
    )


def _donchian(bars: Bars, params: Params) -> DonchianChannel:
    return DonchianChannel(
        _series(bars, "high"),
        _series(bars, "low"),
        _series(bars, "close"),
        window=int(params["window"]),
        fillna=False,
    )


# ---------------------------------------------------------------------------------------
# The catalogue.

# Every window-like parameter (window, fast, slow, signal, smooth_window) and the ATR
# window of risk sizing.
WINDOW_RANGE = NumberRange(integer=True, minimum=1, maximum=MAX_WINDOW)
_CCI_WINDOW_RANGE = NumberRange(integer=True, minimum=1, maximum=MAX_CCI_WINDOW)
_POSITIVE = NumberRange(minimum=0, minimum_inclusive=False)


def _window(default: int, description: str = "bars in the window") -> ParamSpec:
    return ParamSpec("window", default, description, WINDOW_RANGE)


_SOURCE = ParamSpec("source", "close", "price field the indicator reads")
_FAST = ParamSpec("fast", 12, "fast EMA window", WINDOW_RANGE)
_SLOW = ParamSpec("slow", 26, "slow EMA window", WINDOW_RANGE)
_SIGNAL = ParamSpec("signal", 9, "signal-line EMA window", WINDOW_RANGE)
_STD = ParamSpec("std", 2.0, "band distance in standard deviations", _POSITIVE)
_SMOOTH = ParamSpec("smooth_window", 3, "moving-average window of %D", WINDOW_RANGE)


def _fast_below_slow(params: Params) -> str | None:
    if params["fast"] >= params["slow"]:
        return f"fast ({params['fast']}) must be less than slow ({params['slow']})"
    return None


def _window_lookback(params: Params) -> int:
    return int(params["window"]) - 1


def _macd_signal_lookback(params: Params) -> int:
    return int(params["slow"]) - 1 + int(params["signal"]) - 1


def _catalogue(*specs: IndicatorSpec) -> dict[str, IndicatorSpec]:
    return {spec.name: spec for spec in specs}


INDICATORS: dict[str, IndicatorSpec] = _catalogue(
    IndicatorSpec(
        "sma",
        "Simple moving average of the source over the window.",
        (_window(20), _SOURCE),
        (),
        _window_lookback,
        lambda bars, p: SMAIndicator(_source(bars, p), int(p["window"])).sma_indicator(),
    ),
    IndicatorSpec(
        "ema",
        "Exponential moving average (span = window), started once a window has passed.",
        (_window(20), _SOURCE),
        (),
        _window_lookback,
        lambda bars, p: EMAIndicator(_source(bars, p), int(p["window"])).ema_indicator(),
    ),
    IndicatorSpec(
        "wma",
        "Linearly weighted moving average: the newest bar weighs most.",
        (_window(20), _SOURCE),
        (),
        _window_lookback,
        _wma,
    ),
    IndicatorSpec(
        "rsi",
        "Relative strength index (Wilder), 0 to 100.",
        (_window(14), _SOURCE),
        (),
        _window_lookback,
        lambda bars, p: RSIIndicator(_source(bars, p), int(p["window"])).rsi(),
    ),
    IndicatorSpec(
        "macd",
        "MACD line: EMA(fast) minus EMA(slow) of the source.",
        (_FAST, _SLOW, _SOURCE),
        (),
        lambda p: int(p["slow"]) - 1,
        lambda bars, p: _macd(bars, p).macd(),
        _fast_below_slow,
    ),
    IndicatorSpec(
        "macd_signal",
        "MACD signal line: EMA(signal) of the MACD line.",
        (_FAST, _SLOW, _SIGNAL, _SOURCE),
        (),
        _macd_signal_lookback,
        lambda bars, p: _macd(bars, p).macd_signal(),
        _fast_below_slow,
    ),
    IndicatorSpec(
        "macd_histogram",
        "MACD line minus its signal line.",
        (_FAST, _SLOW, _SIGNAL, _SOURCE),
        (),
        _macd_signal_lookback,
        lambda bars, p: _macd(bars, p).macd_diff(),
        _fast_below_slow,
    ),
    IndicatorSpec(
        "bollinger_upper",
        "Upper Bollinger band: SMA(window) + std x population standard deviation.",
        (_window(20), _STD, _SOURCE),
        (),
        _window_lookback,
        lambda bars, p: _bollinger(bars, p).bollinger_hband(),
    ),
    IndicatorSpec(
        "bollinger_middle",
        "Middle Bollinger band: SMA(window) of the source.",
        (_window(20), _SOURCE),
        (),
        _window_lookback,
        lambda bars, p: _bollinger(bars, p).bollinger_mavg(),
    ),
    IndicatorSpec(
        "bollinger_lower",
        "Lower Bollinger band: SMA(window) - std x population standard deviation.",
        (_window(20), _STD, _SOURCE),
        (),
        _window_lookback,
        lambda bars, p: _bollinger(bars, p).bollinger_lband(),
    ),
    IndicatorSpec(
        "bollinger_percent_b",
        "%B: where the source sits between the bands (0 = lower, 1 = upper).",
        (_window(20), _STD, _SOURCE),
        (),
        _window_lookback,
        lambda bars, p: _bollinger(bars, p).bollinger_pband(),
    ),
    IndicatorSpec(
        "atr",
        "Average true range (Wilder's smoothing), in price units.",
        (_window(14),),
        ("high", "low", "close"),
        _window_lookback,
        _atr,
    ),
    IndicatorSpec(
        "stoch_k",
        "Stochastic %K: where the close sits in the window's high-low range, 0 to 100.",
        (_window(14),),
        ("high", "low", "close"),
        _window_lookback,
        lambda bars, p: _stochastic(bars, p).stoch(),
    ),
    IndicatorSpec(
        "stoch_d",
        "Stochastic %D: SMA(smooth_window) of %K.",
        (_window(14), _SMOOTH),
        ("high", "low", "close"),
        lambda p: int(p["window"]) - 1 + int(p["smooth_window"]) - 1,
        lambda bars, p: _stochastic(bars, p).stoch_signal(),
    ),
    IndicatorSpec(
        "adx",
        "Average directional index (trend strength), 0 to 100.",
        (_window(14),),
        ("high", "low", "close"),
        lambda p: 2 * int(p["window"]) - 1,
        _adx,
    ),
    IndicatorSpec(
        "cci",
        "Commodity channel index of the typical price (high + low + close) / 3. "
        f"Its window is at most {MAX_CCI_WINDOW:,} bars: the mean deviation costs bars x window.",
        (
            ParamSpec("window", 20, "bars in the window", _CCI_WINDOW_RANGE),
            ParamSpec("constant", 0.015, "scaling constant", _POSITIVE),
        ),
        ("high", "low", "close"),
        _window_lookback,
        _cci,
    ),
    IndicatorSpec(
        "obv",
        "On-balance volume: running sum of volume, negative on bars closing lower "
        "(an unchanged close counts as up, as in ta).",
        (),
        ("close", "volume"),
        lambda p: 0,
        lambda bars, p: OnBalanceVolumeIndicator(
            _series(bars, "close"), _series(bars, "volume")
        ).on_balance_volume(),
    ),
    IndicatorSpec(
        "donchian_upper",
        "Upper Donchian channel: highest high of the window, this bar included.",
        (_window(20),),
        ("high",),
        _window_lookback,
        lambda bars, p: _donchian(bars, p).donchian_channel_hband(),
    ),
    IndicatorSpec(
        "donchian_lower",
        "Lower Donchian channel: lowest low of the window, this bar included.",
        (_window(20),),
        ("low",),
        _window_lookback,
        lambda bars, p: _donchian(bars, p).donchian_channel_lband(),
    ),
    IndicatorSpec(
        "vwap",
        "Rolling volume-weighted average of the typical price over the window.",
        (_window(14),),
        ("high", "low", "close", "volume"),
        _window_lookback,
        lambda bars, p: VolumeWeightedAveragePrice(
            _series(bars, "high"),
            _series(bars, "low"),
            _series(bars, "close"),
            _series(bars, "volume"),
            window=int(p["window"]),
        ).volume_weighted_average_price(),
    ),
)


def indicator_spec(name: str) -> IndicatorSpec:
    try:
        return INDICATORS[name]
    except KeyError:
        raise ValueError(
            f"unknown indicator {render_value(name)} (known: {', '.join(sorted(INDICATORS))})"
        ) from None


def check_indicator_params(
    spec: IndicatorSpec, params: Params, origins: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Problems with `params` for `spec`, keyed by parameter name ("" for a combination).

    `origins` says where a value came from (see `NumberRange.check`).
    """
    origins = origins or {}
    problems: dict[str, str] = {}
    for name in params:
        if spec.param(name) is None:
            known = ", ".join(spec.param_names) or "none"
            problems[name] = f"is not a parameter of {spec.name} (known: {known})"
    for param in spec.params:
        if param.name in params and param.name not in problems:
            _, message = param.check(params[param.name], origins.get(param.name, ""))
            if message:
                problems[param.name] = message
    if not problems and spec.constraint is not None:
        message = spec.constraint(spec.with_defaults(params))
        if message:
            problems[""] = message
    return problems


def normalise_params(spec: IndicatorSpec, params: Params) -> dict[str, ParamValue]:
    """Complete params with defaults and the canonical types; raise ValueError if invalid."""
    problems = check_indicator_params(spec, params)
    if problems:
        raise ValueError(
            "; ".join(
                f"{spec.name} {name + ' ' if name else ''}{message}"
                for name, message in problems.items()
            )
        )
    return {
        param.name: param.check(value)[0]
        for param, value in zip(spec.params, spec.with_defaults(params).values(), strict=True)
    }


def compute_indicator(name: str, bars: Bars, params: Params | None = None) -> np.ndarray:
    """One indicator's values (float64, NaN during warm-up) for `bars`."""
    spec = indicator_spec(name)
    complete = normalise_params(spec, params or {})
    if spec.lookback(complete) >= len(bars):
        return np.full(len(bars), np.nan)
    values = np.array(spec.compute(bars, complete), dtype=np.float64)
    values[np.isinf(values)] = np.nan
    return values


def describe_catalogue() -> list[dict[str, Any]]:
    """The catalogue as JSON-ready dicts (for the API, the rule editor and the guide)."""
    return [INDICATORS[name].describe() for name in sorted(INDICATORS)]


class IndicatorCache:
    """Each distinct (indicator, params) computed once for one set of bars.

    Returned arrays are shared between rules, so they are read-only. `on_compute`, if
    given, is called after each computation (not on a hit); what it raises propagates.
    """

    def __init__(self, bars: Bars, on_compute: Callable[[], None] | None = None) -> None:
        self._bars = bars
        self._on_compute = on_compute
        self._values: dict[tuple[str, tuple[tuple[str, ParamValue], ...]], np.ndarray] = {}

    def get(self, name: str, params: Params | None = None) -> np.ndarray:
        complete = normalise_params(indicator_spec(name), params or {})
        key = (name, tuple(sorted(complete.items())))
        values = self._values.get(key)
        if values is None:
            values = compute_indicator(name, self._bars, complete)
            values.flags.writeable = False
            self._values[key] = values
            if self._on_compute is not None:
                self._on_compute()
        return values

    def __len__(self) -> int:
        return len(self._values)
