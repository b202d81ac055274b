"""The indicators a backtest's rules use, as chart lines over its candles.

The result page draws the run's candles from the market-data API (downsampled to at
most `max_points` buckets) and, over them, the indicators its strategy compared. No
API returns indicator values, so they are computed here, by the engine's own indicator
code on the run's own bars and parameters, and sampled at the same buckets as the
candle chart (each bucket shows the value at its last bar, as its candle shows that
bar's close). The page delivers them in its json_script data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backtest.engine.indicators import IndicatorCache
from backtest.engine.rules import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    IndicatorOperand,
    Not,
    parse_rules,
)
from backtest.engine.types import Bars
from backtest.execution import load_bars
from backtest.models import Backtest
from backtest.services import InvalidBacktestInput
from marketdata.selectors import candle_range, find_series

# Indicators in price units: drawn over the candles. Any other (RSI, MACD, ATR, ...)
# has its own scale and is drawn in a separate pane.
PRICE_INDICATORS = frozenset(
    {
        "sma",
        "ema",
        "wma",
        "bollinger_upper",
        "bollinger_middle",
        "bollinger_lower",
        "donchian_upper",
        "donchian_lower",
        "vwap",
    }
)


@dataclass(frozen=True)
class Overlay:
    label: str  # e.g. "sma(window=10)"
    pane: str  # "price" (over the candles) or "oscillator"
    points: list[tuple[str, float]]  # (ISO UTC time of the bucket, value); warm-up left out


def _indicator_operands(condition: Condition | None, found: list[IndicatorOperand]) -> None:
    """Every indicator a condition reads, in rule order (a stack: rules may nest)."""
    pending = [condition] if condition is not None else []
    while pending:
        node = pending.pop(0)
        if isinstance(node, Comparison):
            for operand in (node.left, node.right):
                if isinstance(operand, IndicatorOperand):
                    found.append(operand)
        elif isinstance(node, Not):
            pending.insert(0, node.condition)
        elif isinstance(node, AllOf | AnyOf):
            pending[0:0] = list(node.conditions)


def rule_indicators(snapshot: dict, parameters: dict) -> list[tuple[str, dict]]:
    """(name, complete params) of each distinct indicator the rules use (offsets
    ignored: a chart shows the indicator itself). Invalid rules give none."""
    parsed, _ = parse_rules(snapshot.get("entry_rules"), snapshot.get("exit_rules"), parameters)
    if parsed is None:
        return []
    operands: list[IndicatorOperand] = []
    for condition in parsed.conditions():
        _indicator_operands(condition, operands)
    distinct: dict[tuple, tuple[str, dict]] = {}
    for operand in operands:
        distinct.setdefault((operand.name, operand.params), (operand.name, dict(operand.params)))
    return list(distinct.values())


def _label(name: str, params: dict) -> str:
    shown = ", ".join(f"{key}={value}" for key, value in params.items() if key != "source")
    source = params.get("source")
    if source and source != "close":
        shown = f"{shown}, {source}" if shown else str(source)
    return f"{name}({shown})"


def _in_price_units(name: str, params: dict) -> bool:
    return name in PRICE_INDICATORS and params.get("source", "close") != "volume"


def _bucket_ends(bar_times: np.ndarray, bucket_times: np.ndarray) -> np.ndarray:
    """Index of the last bar in each bucket (buckets labelled by their open time)."""
    if len(bucket_times) == 0:
        return np.zeros(0, dtype=np.int64)
    next_starts = np.searchsorted(bar_times, bucket_times[1:], side="left") - 1
    return np.append(next_starts, len(bar_times) - 1).astype(np.int64)


def backtest_overlays(backtest: Backtest, max_points: int) -> list[Overlay]:
    """The run's rule indicators sampled like `/api/market-data/...?max_points=`."""
    indicators = rule_indicators(
        backtest.strategy_snapshot, (backtest.parameters or {}).get("parameters") or {}
    )
    series = find_series(backtest.symbol, backtest.timeframe, backtest.source)
    if not indicators or series is None:
        return []
    try:
        bars: Bars = load_bars(backtest)
    except InvalidBacktestInput:
        return []
    buckets = candle_range(series, backtest.start_time, backtest.end_time, max_points).arrays[
        "timestamp"
    ]
    ends = _bucket_ends(bars.timestamp, buckets)
    times = np.datetime_as_string(buckets.astype("datetime64[us]"), unit="s", timezone="UTC")
    cache = IndicatorCache(bars)
    overlays = []
    for name, params in indicators:
        values = cache.get(name, params)[ends]
        keep = ~np.isnan(values)
        overlays.append(
            Overlay(
                label=_label(name, params),
                pane="price" if _in_price_units(name, params) else "oscillator",
                points=list(zip(times[keep].tolist(), values[keep].tolist(), strict=True)),
            )
        )
    return overlays
