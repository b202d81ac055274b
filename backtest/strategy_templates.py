"""Ready-made strategies: ordinary rule sets whose numbers are `{"param": ...}` references.

`template_strategy(name, params)` returns a fresh copy with the given parameters merged
over the defaults, ready to validate and save as a strategy. Parameters that are unknown
or out of range are not rejected here: `validators.validate_strategy` reports them with
their paths, like any other strategy's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class UnknownTemplate(ValueError):
    pass


@dataclass(frozen=True)
class Template:
    """A strategy template. Treat the dicts as read-only: use `template_strategy`."""

    name: str
    title: str
    description: str
    entry_rules: dict[str, Any]
    exit_rules: dict[str, Any]
    config: dict[str, Any]


def _param(name: str) -> dict[str, str]:
    return {"param": name}


def _indicator(name: str, offset: int = 0, **params: str) -> dict[str, Any]:
    operand: dict[str, Any] = {
        "indicator": name,
        "params": {key: _param(parameter) for key, parameter in params.items()},
    }
    if offset:
        operand["offset"] = offset
    return operand


def _close() -> dict[str, str]:
    return {"price": "close"}


def _crosses(left: dict, direction: str, right: dict) -> dict[str, Any]:
    return {"left": left, "op": f"crosses_{direction}", "right": right}


def _moving_average_cross(name: str, title: str, fast: int, slow: int) -> Template:
    fast_average = _indicator(name, window="fast")
    slow_average = _indicator(name, window="slow")
    return Template(
        name=f"{name}_cross",
        title=title,
        description=(
            f"Long when the fast {name.upper()} crosses above the slow one, short when it "
            "crosses below; each position closes on the opposite cross."
        ),
        entry_rules={
            "long": _crosses(fast_average, "above", slow_average),
            "short": _crosses(fast_average, "below", slow_average),
        },
        exit_rules={
            "long": _crosses(fast_average, "below", slow_average),
            "short": _crosses(fast_average, "above", slow_average),
        },
        config={"parameters": {"fast": fast, "slow": slow}, "direction": "both"},
    )


def _rsi_reversion() -> Template:
    rsi = _indicator("rsi", window="period")
    lower = {"value": _param("lower")}
    upper = {"value": _param("upper")}
    return Template(
        name="rsi_reversion",
        title="RSI mean reversion",
        description=(
            "Long when the RSI crosses back above the lower level, closed when it crosses "
            "above the upper level; short when it crosses back below the upper level, "
            "closed when it crosses below the lower level."
        ),
        entry_rules={
            "long": _crosses(rsi, "above", lower),
            "short": _crosses(rsi, "below", upper),
        },
        exit_rules={
            "long": _crosses(rsi, "above", upper),
            "short": _crosses(rsi, "below", lower),
        },
        config={"parameters": {"period": 14, "lower": 30, "upper": 70}, "direction": "both"},
    )


def _macd_cross() -> Template:
    macd = _indicator("macd", fast="fast", slow="slow")
    signal = _indicator("macd_signal", fast="fast", slow="slow", signal="signal")
    return Template(
        name="macd_cross",
        title="MACD signal-line cross",
        description=(
            "Long when the MACD line crosses above its signal line, short when it crosses "
            "below; each position closes on the opposite cross."
        ),
        entry_rules={
            "long": _crosses(macd, "above", signal),
            "short": _crosses(macd, "below", signal),
        },
        exit_rules={
            "long": _crosses(macd, "below", signal),
            "short": _crosses(macd, "above", signal),
        },
        config={"parameters": {"fast": 12, "slow": 26, "signal": 9}, "direction": "both"},
    )


def _bollinger_breakout() -> Template:
    upper = _indicator("bollinger_upper", window="window", std="std")
    middle = _indicator("bollinger_middle", window="window")
    lower = _indicator("bollinger_lower", window="window", std="std")
    return Template(
        name="bollinger_breakout",
        title="Bollinger band breakout",
        description=(
            "Long when the close crosses above the upper band, short when it crosses below "
            "the lower band; positions close when the close crosses back over the middle band."
        ),
        entry_rules={
            "long": _crosses(_close(), "above", upper),
            "short": _crosses(_close(), "below", lower),
        },
        exit_rules={
            "long": _crosses(_close(), "below", middle),
            "short": _crosses(_close(), "above", middle),
        },
        config={"parameters": {"window": 20, "std": 2}, "direction": "both"},
    )


def _donchian_breakout() -> Template:
    # The previous bar's channel (offset 1): this bar's channel includes this bar's own
    # high and low, which a close can never exceed.
    upper = _indicator("donchian_upper", offset=1, window="window")
    lower = _indicator("donchian_lower", offset=1, window="window")
    return Template(
        name="donchian_breakout",
        title="Donchian channel breakout",
        description=(
            "Long when the close crosses above the previous bar's upper channel, closed "
            "when it crosses below the previous bar's lower channel; short mirrored."
        ),
        entry_rules={
            "long": _crosses(_close(), "above", upper),
            "short": _crosses(_close(), "below", lower),
        },
        exit_rules={
            "long": _crosses(_close(), "below", lower),
            "short": _crosses(_close(), "above", upper),
        },
        config={"parameters": {"window": 20}, "direction": "both"},
    )


TEMPLATES: dict[str, Template] = {
    template.name: template
    for template in (
        _moving_average_cross("sma", "SMA crossover", fast=10, slow=20),
        _moving_average_cross("ema", "EMA crossover", fast=12, slow=26),
        _rsi_reversion(),
        _macd_cross(),
        _bollinger_breakout(),
        _donchian_breakout(),
    )
}


def template_strategy(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A fresh copy of template `name`: {template, name, description, entry_rules,
    exit_rules, config}, with `params` merged over the default parameters."""
    try:
        template = TEMPLATES[name]
    except KeyError:
        known = ", ".join(TEMPLATES)
        raise UnknownTemplate(f"unknown strategy template {name!r} (known: {known})") from None
    config = copy.deepcopy(template.config)
    config["parameters"] = {**config["parameters"], **(params or {})}
    return {
        "template": template.name,
        "name": template.title,
        "description": template.description,
        "entry_rules": copy.deepcopy(template.entry_rules),
        "exit_rules": copy.deepcopy(template.exit_rules),
        "config": config,
    }
