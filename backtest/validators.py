"""Checks for what a user submits about a strategy, its runs and its sweeps.

Every function returns every problem at once (never only the first), each a `Problem`
with a dotted path into the submitted JSON, rendered as e.g.
"entry_rules.long.all[1].left.params.window must be an integer ≥ 1 and ≤ 100000 (got 0)".
Pure Python: the API, the forms, the admin and the services all call these.

A strategy's `config`::

    {
      "parameters": {"fast": 10, "slow": 20},  # numbers the rules refer to
      "direction": "long" | "short" | "both",  # default "long"
      "fill": "next_open" | "same_close",      # default "next_open"
      "fee": 0.001, "slippage": 0.0,           # fractions, 0 <= x < 1
      "cash": 10000,                           # > 0 and <= 1e12
      "sizing": {"mode": "fraction" | "quantity" | "notional" | "risk",
                 "value": 1.0,                 # > 0; at most 1 for fraction and risk,
                                               # at most 1e12 for quantity and notional
                 "atr_window": 14,             # an integer, 1 to 100,000
                 "atr_multiple": 2.0},
      "risk": {"stop_loss": 0.05, "take_profit": 0.1, "trailing_stop": null,
               "max_position_size": null, "max_drawdown": null,
               "daily_loss_limit": null, "kill_switch_drawdown": null}
    }

Every key is optional. A run may override any key but `parameters` (its parameters
are passed separately); a null override means "not overridden". A run's `sizing`
replaces the strategy's whole, because mode and value only make sense together; its
`risk` is merged key by key, and there null switches a limit off.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from backtest.engine.indicators import WINDOW_RANGE, NumberRange, render_value
from backtest.engine.metrics import METRIC_NAMES
from backtest.engine.rules import (
    RULE_SIDES,
    VALUE_RANGE,
    InvalidStrategy,
    Problem,
    check_rules,
    join_path,
    referenced_parameters,
    render_problems,
)
from backtest.engine.types import (
    DIRECTIONS,
    FILL_MODES,
    SIZING_MODES,
    EngineConfig,
    RiskLimits,
    Sizing,
)

__all__ = [
    "MAX_SWEEP_COMBINATIONS",
    "RANKABLE_METRICS",
    "InvalidStrategy",
    "Problem",
    "build_engine_config",
    "merge_run_parameters",
    "render_problems",
    "validate_direction",
    "validate_engine_options",
    "validate_parameter_grid",
    "validate_parameters",
    "validate_strategy",
]

MAX_SWEEP_COMBINATIONS = 500
# The largest balance and position size, in quote (or base) units: money is stored as
# numeric(30, 8) and quantities as numeric(30, 12), which a larger account overflows.
MAX_MONEY = 1e12
RANKABLE_METRICS: tuple[str, ...] = METRIC_NAMES  # a sweep may rank its cells by any

ENGINE_OPTION_KEYS: tuple[str, ...] = (
    "direction",
    "fill",
    "fee",
    "slippage",
    "cash",
    "sizing",
    "risk",
)
CONFIG_KEYS: tuple[str, ...] = ("parameters", *ENGINE_OPTION_KEYS)

_COST_FRACTION = NumberRange(minimum=0, maximum=1, maximum_inclusive=False)
_POSITIVE = NumberRange(minimum=0, minimum_inclusive=False)
_POSITIVE_UP_TO_ONE = NumberRange(minimum=0, minimum_inclusive=False, maximum=1)
_OPEN_FRACTION = NumberRange(minimum=0, minimum_inclusive=False, maximum=1, maximum_inclusive=False)
_MONEY = NumberRange(minimum=0, minimum_inclusive=False, maximum=MAX_MONEY)

_NUMBER_OPTIONS: dict[str, NumberRange] = {
    "fee": _COST_FRACTION,
    "slippage": _COST_FRACTION,
    "cash": _MONEY,
}
_CHOICE_OPTIONS: dict[str, tuple[str, ...]] = {"direction": DIRECTIONS, "fill": FILL_MODES}

_SIZING_RANGES: dict[str, NumberRange] = {
    "atr_window": WINDOW_RANGE,  # as any indicator window
    "atr_multiple": _POSITIVE,
}
# A fraction of equity (to invest, or to risk) above 1 would need leverage.
_SIZING_VALUE_RANGES: dict[str, NumberRange] = {
    "fraction": _POSITIVE_UP_TO_ONE,
    "risk": _POSITIVE_UP_TO_ONE,
    "quantity": _MONEY,
    "notional": _MONEY,
}

_RISK_RANGES: dict[str, NumberRange] = {
    "stop_loss": _OPEN_FRACTION,
    "take_profit": _POSITIVE,  # a target may be more than 100 % away
    "trailing_stop": _OPEN_FRACTION,
    "max_position_size": _POSITIVE_UP_TO_ONE,  # 1 = the whole equity
    "max_drawdown": _OPEN_FRACTION,
    "daily_loss_limit": _OPEN_FRACTION,
    "kill_switch_drawdown": _OPEN_FRACTION,
}


def _unknown_keys(node: Mapping, known: tuple[str, ...], path: str, what: str) -> list[Problem]:
    return [
        Problem(join_path(path, key), f"is not {what} (known: {', '.join(known)})")
        for key in node
        if key not in known
    ]


def _check_number(value: object, number_range: NumberRange, path: str) -> list[Problem]:
    _, message = number_range.check(value)
    return [Problem(path, message)] if message else []


# ---------------------------------------------------------------------------------------
# Strategies.


def validate_strategy(entry_rules: object, exit_rules: object, config: object) -> list[Problem]:
    """Every problem with a strategy: its rules, its parameters and its config."""
    problems: list[Problem] = []
    if not isinstance(config, dict):
        problems.append(Problem("config", f"must be an object (got {render_value(config)})"))
        config = {}
    parameters = config.get("parameters", {})
    rule_parameters = parameters if isinstance(parameters, dict) else {}

    problems += check_rules(entry_rules, exit_rules, rule_parameters)
    if isinstance(entry_rules, dict) and all(entry_rules.get(side) is None for side in RULE_SIDES):
        problems.append(Problem("entry_rules", "needs a long or a short rule (or both)"))

    problems += _unknown_keys(config, CONFIG_KEYS, "config", "a config setting")
    problems += validate_parameters(parameters, entry_rules, exit_rules, "config.parameters")
    options = {key: config[key] for key in ENGINE_OPTION_KEYS if key in config}
    problems += validate_engine_options(options, "config")
    direction = config.get("direction")
    if direction is None or direction in DIRECTIONS:
        problems += validate_direction(direction, entry_rules, "config.direction")
    return problems


def validate_parameters(
    parameters: object, entry_rules: object, exit_rules: object, path: str = "parameters"
) -> list[Problem]:
    """Parameter values: finite numbers, each one referred to by some rule.

    An unused name is reported because it is almost always a typo ("fsat") that would
    otherwise be silently ignored.
    """
    if not isinstance(parameters, dict):
        return [
            Problem(path, f"must be an object of name: number (got {render_value(parameters)})")
        ]
    used = referenced_parameters(entry_rules, exit_rules)
    problems: list[Problem] = []
    for name, value in parameters.items():
        where = join_path(path, name)
        if name not in used:
            listed = ", ".join(sorted(used)) or "none"
            problems.append(Problem(where, f"is not used by any rule (used: {listed})"))
        problems += _check_number(value, VALUE_RANGE, where)
    return problems


def validate_direction(
    direction: object, entry_rules: object, path: str = "direction"
) -> list[Problem]:
    """A long-only (short-only) direction needs a long (short) entry rule.

    `direction` None means the default, "long".
    """
    has_entry = isinstance(entry_rules, dict) and any(
        entry_rules.get(side) is not None for side in RULE_SIDES
    )
    if not has_entry:  # a strategy without any entry rule is a problem of its own
        return []
    default = direction is None
    direction = EngineConfig.direction if default else direction
    if direction in RULE_SIDES and entry_rules.get(direction) is None:
        other = "short" if direction == "long" else "long"
        note = " (the default)" if default else ""
        return [
            Problem(
                path,
                f'is "{direction}"{note} but entry_rules has no {direction} rule '
                f'(set direction to "{other}" or "both", or add one)',
            )
        ]
    return []


# ---------------------------------------------------------------------------------------
# Engine options (a strategy's config, or a run's overrides).


def validate_engine_options(options: object, path_prefix: str = "") -> list[Problem]:
    """Every problem with engine options: direction, fill, fee, slippage, cash, sizing,
    risk. A null value means "not set" and is accepted."""
    if not isinstance(options, dict):
        return [Problem(path_prefix, f"must be an object (got {render_value(options)})")]
    problems = _unknown_keys(options, ENGINE_OPTION_KEYS, path_prefix, "an engine option")
    for key, choices in _CHOICE_OPTIONS.items():
        value = options.get(key)
        if value is not None and value not in choices:
            problems.append(
                Problem(
                    join_path(path_prefix, key),
                    f"must be one of {', '.join(choices)} (got {render_value(value)})",
                )
            )
    for key, number_range in _NUMBER_OPTIONS.items():
        if options.get(key) is not None:
            problems += _check_number(options[key], number_range, join_path(path_prefix, key))
    if options.get("sizing") is not None:
        problems += _validate_sizing(options["sizing"], join_path(path_prefix, "sizing"))
    if options.get("risk") is not None:
        problems += _validate_risk(options["risk"], join_path(path_prefix, "risk"))
    return problems


def _validate_sizing(sizing: object, path: str) -> list[Problem]:
    if not isinstance(sizing, dict):
        return [Problem(path, f"must be an object (got {render_value(sizing)})")]
    known = tuple(field.name for field in fields(Sizing))
    problems = _unknown_keys(sizing, known, path, "a sizing setting")
    mode = sizing.get("mode", Sizing.mode)
    if mode not in SIZING_MODES:
        problems.append(
            Problem(
                join_path(path, "mode"),
                f"must be one of {', '.join(SIZING_MODES)} (got {render_value(mode)})",
            )
        )
    elif "value" in sizing:
        problems += _check_number(
            sizing["value"], _SIZING_VALUE_RANGES[mode], join_path(path, "value")
        )
    for key, number_range in _SIZING_RANGES.items():
        if key in sizing:
            problems += _check_number(sizing[key], number_range, join_path(path, key))
    return problems


def _validate_risk(risk: object, path: str) -> list[Problem]:
    if not isinstance(risk, dict):
        return [Problem(path, f"must be an object (got {render_value(risk)})")]
    problems = _unknown_keys(risk, tuple(_RISK_RANGES), path, "a risk limit")
    for key, number_range in _RISK_RANGES.items():
        if risk.get(key) is not None:
            problems += _check_number(risk[key], number_range, join_path(path, key))
    return problems


# ---------------------------------------------------------------------------------------
# Sweeps.


def validate_parameter_grid(
    grid: object,
    entry_rules: object,
    exit_rules: object,
    path: str = "parameter_grid",
) -> list[Problem]:
    """A sweep's grid: {name: [number, ...]}, names used by the rules, at most
    MAX_SWEEP_COMBINATIONS combinations.

    Only the grid's shape is checked: whether each combination makes valid rules (a
    window of 0, a macd fast >= slow) is for the caller to check cell by cell.
    """
    if not isinstance(grid, dict) or not grid:
        return [
            Problem(
                path,
                "must map at least one parameter name to a list of values "
                f"(got {render_value(grid)})",
            )
        ]
    used = referenced_parameters(entry_rules, exit_rules)
    problems: list[Problem] = []
    for name, values in grid.items():
        where = join_path(path, name)
        if name not in used:
            listed = ", ".join(sorted(used)) or "none"
            problems.append(
                Problem(where, f"is not a parameter used by the rules (used: {listed})")
            )
        if not isinstance(values, list) or not values:
            problems.append(
                Problem(where, f"must be a non-empty list of numbers (got {render_value(values)})")
            )
            continue
        seen: list[object] = []
        for index, value in enumerate(values):
            value_problems = _check_number(value, VALUE_RANGE, f"{where}[{index}]")
            problems += value_problems
            if not value_problems and value in seen:
                problems.append(
                    Problem(f"{where}[{index}]", f"repeats the value {render_value(value)}")
                )
            seen.append(value)
    if problems:
        return problems
    combinations = math.prod(len(values) for values in grid.values())
    if combinations > MAX_SWEEP_COMBINATIONS:
        return [
            Problem(
                path,
                f"has {combinations} combinations; at most {MAX_SWEEP_COMBINATIONS} are allowed",
            )
        ]
    return []


# ---------------------------------------------------------------------------------------
# Building the engine's configuration.


def merge_run_parameters(
    config: Mapping[str, Any] | None,
    options: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The config one run uses: the strategy's `config`, the run's engine `options` on
    top (null = not overridden; `risk` merged key by key, anything else replaced), and
    the run's parameter values over the strategy's. Unchecked: validate the result
    with `validate_strategy` before `build_engine_config`."""
    merged = copy.deepcopy(dict(config or {}))
    for key, value in (options or {}).items():
        if value is None:
            continue
        if key == "risk" and isinstance(value, dict) and isinstance(merged.get("risk"), dict):
            merged["risk"] = {**merged["risk"], **copy.deepcopy(value)}
        else:
            merged[key] = copy.deepcopy(value)
    if parameters:
        strategy_parameters = merged.get("parameters")
        if isinstance(strategy_parameters, dict):
            merged["parameters"] = {**strategy_parameters, **parameters}
        else:
            merged["parameters"] = dict(parameters)
    return merged


def build_engine_config(config: Mapping[str, Any], periods_per_year: float) -> EngineConfig:
    """A run's config (the strategy's with the run's options merged in, see
    `merge_run_parameters`) as an EngineConfig, defaults filled; `parameters` are
    ignored (they belong to the rules).

    Raises InvalidStrategy listing every problem (paths "config...").
    """
    options = {key: config[key] for key in ENGINE_OPTION_KEYS if key in config}
    problems = validate_engine_options(options, "config")
    problems += _check_number(periods_per_year, _POSITIVE, "periods_per_year")
    if problems:
        raise InvalidStrategy(problems)

    defaults = EngineConfig()
    sizing = options.get("sizing") or {}
    risk = options.get("risk") or {}
    return EngineConfig(
        cash=float(_first_set(options.get("cash"), defaults.cash)),
        fee=float(_first_set(options.get("fee"), defaults.fee)),
        slippage=float(_first_set(options.get("slippage"), defaults.slippage)),
        direction=_first_set(options.get("direction"), defaults.direction),
        fill=_first_set(options.get("fill"), defaults.fill),
        sizing=Sizing(
            mode=sizing.get("mode", Sizing.mode),
            value=float(sizing.get("value", Sizing.value)),
            atr_window=int(sizing.get("atr_window", Sizing.atr_window)),
            atr_multiple=float(sizing.get("atr_multiple", Sizing.atr_multiple)),
        ),
        risk=RiskLimits(
            **{key: None if value is None else float(value) for key, value in risk.items()}
        ),
        periods_per_year=float(periods_per_year),
    )


def _first_set(value: Any, default: Any) -> Any:
    return default if value is None else value
