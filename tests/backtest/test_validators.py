"""Strategy, run-option and sweep-grid validation: every problem at once, with its path."""

from __future__ import annotations

import pytest

from backtest.engine.types import EngineConfig, RiskLimits, Sizing
from backtest.validators import (
    MAX_SWEEP_COMBINATIONS,
    InvalidStrategy,
    Problem,
    build_engine_config,
    merge_run_parameters,
    render_problems,
    validate_direction,
    validate_engine_options,
    validate_parameter_grid,
    validate_strategy,
)

CLOSE = {"price": "close"}


def sma(window):
    return {"indicator": "sma", "params": {"window": window}}


def cross(fast="fast", slow="slow", op="crosses_above"):
    return {"left": sma({"param": fast}), "op": op, "right": sma({"param": slow})}


GOOD_ENTRY = {"long": cross(), "short": cross(op="crosses_below")}
GOOD_EXIT = {"long": cross(op="crosses_below"), "short": cross()}
GOOD_CONFIG = {
    "parameters": {"fast": 10, "slow": 20},
    "direction": "both",
    "fill": "same_close",
    "fee": 0.001,
    "slippage": 0,
    "cash": 5000,
    "sizing": {"mode": "risk", "value": 0.01, "atr_window": 14, "atr_multiple": 2.5},
    "risk": {
        "stop_loss": 0.05,
        "take_profit": 2.5,
        "trailing_stop": None,
        "max_position_size": 1,
        "max_drawdown": 0.3,
        "daily_loss_limit": 0.05,
        "kill_switch_drawdown": 0.5,
    },
}


def messages(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def test_a_sound_strategy_has_no_problems():
    assert validate_strategy(GOOD_ENTRY, GOOD_EXIT, GOOD_CONFIG) == []
    assert validate_strategy({"long": cross()}, {}, {"parameters": {"fast": 5, "slow": 9}}) == []


def test_a_broken_strategy_reports_every_problem_with_its_path():
    entry_rules = {
        "long": {
            "all": [
                {"left": {"indicator": "smaa"}, "op": ">", "right": CLOSE},
                {"left": sma(0), "op": ">", "right": {"price": "vwap"}},
                {
                    "left": {"indicator": "rsi", "params": {"window": True}},
                    "op": "above",
                    "right": {"value": float("nan")},
                },
                {
                    "left": {"indicator": "macd", "params": {"fast": 26, "slow": 12}},
                    "op": "crosses_above",
                    "right": {"value": 0, "offset": -1},
                },
                {"not": [{"left": CLOSE, "op": ">", "right": {"value": 1}}]},
                {"any": []},
                {
                    "left": {"indicator": "ema", "params": {"window": {"param": "missing"}}},
                    "op": "<",
                    "right": {"price": "close", "params": {}},
                    "extra": 1,
                },
                {"left": {"indicator": "sma", "price": "close"}, "op": ">", "right": {"value": 1}},
                {"left": {"indicator": "bollinger_upper", "params": [20]}, "op": ">"},
                "close > sma",
                {"left": sma({"param": "fast"}), "op": ">", "right": {"param": "slow"}},
                {"left": {"indicator": "sma", "params": {"length": 5}}, "op": "<", "right": CLOSE},
            ]
        },
        "sideways": {"left": CLOSE, "op": ">", "right": {"value": 1}},
    }
    exit_rules = {"long": {"all": [], "any": []}, "short": "sometimes"}
    config = {
        "parameters": {"fast": "ten", "slow": 20, "unused": 3, "flag": True},
        "direction": "sideways",
        "fill": "tomorrow",
        "fee": 1,
        "slippage": -0.1,
        "cash": 0,
        "sizing": {"mode": "fraction", "value": 1.5, "atr_window": 0, "leverage": 2},
        "risk": {"stop_loss": 1, "take_profit": 2, "trailing_stop": 0, "panic": 0.5},
        "colour": "blue",
    }
    long = "entry_rules.long.all"
    assert messages(validate_strategy(entry_rules, exit_rules, config)) == [
        "entry_rules.sideways is not a side (expected long, short)",
        f'{long}[0].left.indicator is not a known indicator (got "smaa"; known: adx, atr, '
        "bollinger_lower, bollinger_middle, bollinger_percent_b, bollinger_upper, cci, "
        "donchian_lower, donchian_upper, ema, macd, macd_histogram, macd_signal, obv, rsi, "
        "sma, stoch_d, stoch_k, vwap, wma)",
        f"{long}[1].left.params.window must be an integer ≥ 1 and ≤ 100000 (got 0)",
        f'{long}[1].right.price must be one of open, high, low, close, volume (got "vwap")',
        f"{long}[2].left.params.window must be an integer ≥ 1 and ≤ 100000 (got true)",
        f"{long}[2].right.value must be a number (got NaN)",
        f'{long}[2].op must be one of >, <, >=, <=, crosses_above, crosses_below (got "above")',
        f"{long}[3].left.params fast (26) must be less than slow (12)",
        f"{long}[3].right.offset must be an integer ≥ 0 and ≤ 100000 (got -1)",
        f"{long}[4].not must be one condition, not a list (combine several with all or any)",
        f"{long}[5].any must contain at least one condition",
        f"{long}[6].extra is not part of a condition (expected left, op, right; or all, any, not)",
        f'{long}[6].left.params.window refers to parameter "missing", which is not defined '
        "(defined: fast, flag, slow, unused)",
        f"{long}[6].right.params is not allowed in a price operand (allowed: price, offset)",
        f'{long}[7].left must be exactly one of {{"indicator": ...}}, {{"price": ...}} '
        'or {"value": ...}',
        f"{long}[8].right is required",
        f"{long}[8].left.params must be an object of parameter values (got [20])",
        f"{long}[9] must be a condition: {{left, op, right}}, {{all: [...]}}, {{any: [...]}} "
        'or {not: ...} (got "close > sma")',
        f"{long}[10].left.params.window must be an integer ≥ 1 and ≤ 100000 "
        '(got "ten" from parameter "fast")',
        f'{long}[10].right must be an operand: wrap the reference as {{"value": {{"param": ...}}}}',
        f"{long}[11].left.params.length is not a parameter of sma (known: window, source)",
        "exit_rules.long must hold a single all, any or not and nothing else (found all, any)",
        "exit_rules.long.all must contain at least one condition",
        "exit_rules.short must be a condition: {left, op, right}, {all: [...]}, "
        '{any: [...]} or {not: ...} (got "sometimes")',
        "config.colour is not a config setting (known: parameters, direction, fill, fee, "
        "slippage, cash, sizing, risk)",
        'config.parameters.fast must be a number (got "ten")',
        "config.parameters.unused is not used by any rule (used: fast, missing, slow)",
        "config.parameters.flag is not used by any rule (used: fast, missing, slow)",
        "config.parameters.flag must be a number (got true)",
        'config.direction must be one of long, short, both (got "sideways")',
        'config.fill must be one of next_open, same_close (got "tomorrow")',
        "config.fee must be a number ≥ 0 and < 1 (got 1)",
        "config.slippage must be a number ≥ 0 and < 1 (got -0.1)",
        "config.cash must be a number > 0 and ≤ 1000000000000 (got 0)",
        "config.sizing.leverage is not a sizing setting (known: mode, value, atr_window, "
        "atr_multiple)",
        "config.sizing.value must be a number > 0 and ≤ 1 (got 1.5)",
        "config.sizing.atr_window must be an integer ≥ 1 and ≤ 100000 (got 0)",
        "config.risk.panic is not a risk limit (known: stop_loss, take_profit, "
        "trailing_stop, max_position_size, max_drawdown, daily_loss_limit, "
        "kill_switch_drawdown)",
        "config.risk.stop_loss must be a number > 0 and < 1 (got 1)",
        "config.risk.trailing_stop must be a number > 0 and < 1 (got 0)",
    ]


def test_the_rendered_form_is_one_problem_per_line():
    problems = [Problem("a.b", "is wrong"), Problem("", "nothing works")]
    assert render_problems(problems) == "a.b is wrong\nnothing works"


@pytest.mark.parametrize("entry_rules", [{}, {"long": None, "short": None}])
def test_at_least_one_entry_side_is_required(entry_rules):
    assert messages(validate_strategy(entry_rules, {}, {})) == [
        "entry_rules needs a long or a short rule (or both)"
    ]


def test_rule_sets_must_be_objects():
    assert messages(validate_strategy(None, [], "x")) == [
        'config must be an object (got "x")',
        "entry_rules must be an object with an optional long and short rule",
        "exit_rules must be an object with an optional long and short rule",
    ]


def test_direction_must_match_the_entry_rules():
    long_only = {"long": cross()}
    parameters = {"parameters": {"fast": 1, "slow": 2}}
    assert messages(validate_strategy(long_only, {}, {**parameters, "direction": "short"})) == [
        'config.direction is "short" but entry_rules has no short rule '
        '(set direction to "long" or "both", or add one)'
    ]
    short_only = {"short": cross()}
    assert messages(validate_strategy(short_only, {}, parameters)) == [
        'config.direction is "long" (the default) but entry_rules has no long rule '
        '(set direction to "short" or "both", or add one)'
    ]
    assert validate_strategy(short_only, {}, {**parameters, "direction": "both"}) == []
    assert validate_direction("short", short_only) == []


def test_integral_floats_count_as_integers_but_booleans_do_not():
    config = {"parameters": {"fast": 10.0, "slow": 20}}
    assert validate_strategy({"long": cross()}, {}, config) == []
    config = {"parameters": {"fast": False, "slow": 20}}
    assert messages(validate_strategy({"long": cross()}, {}, config)) == [
        "entry_rules.long.left.params.window must be an integer ≥ 1 and ≤ 100000 "
        '(got false from parameter "fast")',
        "config.parameters.fast must be a number (got false)",
    ]


def test_non_finite_numbers_are_refused_everywhere():
    rules = {"long": {"left": CLOSE, "op": ">", "right": {"value": float("inf")}}}
    config = {"fee": float("nan"), "risk": {"take_profit": float("inf")}}
    assert messages(validate_strategy(rules, {}, config)) == [
        "entry_rules.long.right.value must be a number (got Infinity)",
        "config.fee must be a number ≥ 0 and < 1 (got NaN)",
        "config.risk.take_profit must be a number > 0 (got Infinity)",
    ]


HUGE = 10**400  # valid JSON, but no float can hold it
TOO_LARGE = "must be a finite number (got an integer of 401 digits)"


def test_numbers_too_large_for_a_float_are_problems_everywhere():
    rules = {"long": {"left": sma({"param": "fast"}), "op": ">", "right": {"value": HUGE}}}
    config = {
        "parameters": {"fast": HUGE},
        "fee": HUGE,
        "slippage": -HUGE,
        "cash": HUGE,
        "sizing": {"mode": "notional", "value": HUGE, "atr_window": HUGE, "atr_multiple": HUGE},
        "risk": {key: HUGE for key in RiskLimits.__dataclass_fields__},
    }
    assert messages(validate_strategy(rules, {}, config)) == [
        f'entry_rules.long.left.params.window {TOO_LARGE[:-1]} from parameter "fast")',
        f"entry_rules.long.right.value {TOO_LARGE}",
        f"config.parameters.fast {TOO_LARGE}",
        f"config.fee {TOO_LARGE}",
        f"config.slippage {TOO_LARGE}",
        f"config.cash {TOO_LARGE}",
        f"config.sizing.value {TOO_LARGE}",
        f"config.sizing.atr_window {TOO_LARGE}",
        f"config.sizing.atr_multiple {TOO_LARGE}",
        *(f"config.risk.{key} {TOO_LARGE}" for key in RiskLimits.__dataclass_fields__),
    ]
    for sizing in ({"mode": "fraction", "value": HUGE}, {"mode": "risk", "value": -HUGE}):
        assert messages(validate_engine_options({"sizing": sizing})) == [
            f"sizing.value {TOO_LARGE}"
        ]
    assert messages(validate_parameter_grid({"fast": [1, HUGE]}, GOOD_ENTRY, GOOD_EXIT)) == [
        f"parameter_grid.fast[1] {TOO_LARGE}"
    ]
    with pytest.raises(InvalidStrategy) as raised:
        build_engine_config({"cash": HUGE}, HUGE)
    assert messages(list(raised.value.problems)) == [
        f"config.cash {TOO_LARGE}",
        f"periods_per_year {TOO_LARGE}",
    ]


def test_money_is_at_most_a_trillion():
    """Balances are stored as numeric(30, 8), quantities as numeric(30, 12)."""
    assert validate_engine_options({"cash": 1e12}) == []
    assert validate_engine_options({"cash": 10**12}) == []
    assert messages(validate_engine_options({"cash": 10**12 + 1})) == [
        "cash must be a number > 0 and ≤ 1000000000000 (got 1000000000001)"
    ]
    for mode in ("quantity", "notional"):
        assert validate_engine_options({"sizing": {"mode": mode, "value": 1e12}}) == []
        assert messages(validate_engine_options({"sizing": {"mode": mode, "value": 2e12}})) == [
            "sizing.value must be a number > 0 and ≤ 1000000000000 (got 2000000000000.0)"
        ]


def test_the_atr_window_of_risk_sizing_is_capped_like_any_window():
    assert validate_engine_options({"sizing": {"atr_window": 100_000}}) == []
    assert validate_engine_options({"sizing": {"atr_window": 100_000.0}}) == []
    assert messages(validate_engine_options({"sizing": {"atr_window": 100_001}})) == [
        "sizing.atr_window must be an integer ≥ 1 and ≤ 100000 (got 100001)"
    ]
    assert messages(validate_engine_options({"sizing": {"atr_window": 14.5}})) == [
        "sizing.atr_window must be an integer ≥ 1 and ≤ 100000 (got 14.5)"
    ]
    config = build_engine_config({"sizing": {"mode": "risk", "atr_window": 20.0}}, 365)
    assert config.sizing.atr_window == 20 and isinstance(config.sizing.atr_window, int)


def test_rules_nested_too_deep_are_one_problem_not_a_crash():
    deep = {"left": {"price": "close"}, "op": ">", "right": {"value": {"param": "level"}}}
    for _ in range(100_000):  # deeper than any Python stack
        deep = {"not": deep}
    problems = validate_strategy({"long": deep}, {}, {"parameters": {"level": 1}})
    assert messages(problems) == ["entry_rules.long" + ".not" * 32 + " nests deeper than 32 levels"]


# --- engine options -------------------------------------------------------------------


def test_engine_options_carry_their_path_prefix_and_accept_nulls():
    assert validate_engine_options({"fee": None, "sizing": None, "risk": None}) == []
    assert messages(validate_engine_options({"cash": -1, "parameters": {}}, "overrides")) == [
        "overrides.parameters is not an engine option (known: direction, fill, fee, "
        "slippage, cash, sizing, risk)",
        "overrides.cash must be a number > 0 and ≤ 1000000000000 (got -1)",
    ]
    assert messages(validate_engine_options([], "overrides")) == [
        "overrides must be an object (got [])"
    ]


@pytest.mark.parametrize(
    ("sizing", "expected"),
    [
        ({"mode": "quantity", "value": 25}, []),
        ({"mode": "quantity", "value": 1e6}, []),
        (
            {"mode": "notional", "value": 0},
            ["sizing.value must be a number > 0 and ≤ 1000000000000 (got 0)"],
        ),
        ({"mode": "risk", "value": 2}, ["sizing.value must be a number > 0 and ≤ 1 (got 2)"]),
        (
            {"mode": "martingale"},
            ['sizing.mode must be one of fraction, quantity, notional, risk (got "martingale")'],
        ),
        ({"atr_multiple": 0}, ["sizing.atr_multiple must be a number > 0 (got 0)"]),
        ("all", ['sizing must be an object (got "all")']),
    ],
)
def test_sizing_values_depend_on_the_mode(sizing, expected):
    assert messages(validate_engine_options({"sizing": sizing})) == expected


def test_take_profit_may_exceed_one_and_limits_may_be_null():
    risk = {"take_profit": 3, "stop_loss": None, "max_position_size": 1}
    assert validate_engine_options({"risk": risk}) == []
    assert messages(validate_engine_options({"risk": {"max_drawdown": 1}})) == [
        "risk.max_drawdown must be a number > 0 and < 1 (got 1)"
    ]


# --- sweep grids ----------------------------------------------------------------------


def test_a_sound_grid_has_no_problems():
    grid = {"fast": [5, 10, 15], "slow": [20, 30]}
    assert validate_parameter_grid(grid, GOOD_ENTRY, GOOD_EXIT) == []


def test_a_broken_grid_reports_every_problem_with_its_path():
    grid = {
        "fast": [5, True, "x", 5],
        "slow": [],
        "speed": [1],
        "level": "high",
    }
    assert messages(validate_parameter_grid(grid, GOOD_ENTRY, GOOD_EXIT, path="grid")) == [
        "grid.fast[1] must be a number (got true)",
        'grid.fast[2] must be a number (got "x")',
        "grid.fast[3] repeats the value 5",
        "grid.slow must be a non-empty list of numbers (got [])",
        "grid.speed is not a parameter used by the rules (used: fast, slow)",
        "grid.level is not a parameter used by the rules (used: fast, slow)",
        'grid.level must be a non-empty list of numbers (got "high")',
    ]
    assert messages(validate_parameter_grid({}, GOOD_ENTRY, GOOD_EXIT)) == [
        "parameter_grid must map at least one parameter name to a list of values (got {})"
    ]


def test_a_grid_has_at_most_500_combinations():
    grid = {"fast": list(range(1, 26)), "slow": list(range(30, 51))}  # 25 x 21 = 525
    assert MAX_SWEEP_COMBINATIONS == 500
    assert messages(validate_parameter_grid(grid, GOOD_ENTRY, GOOD_EXIT)) == [
        "parameter_grid has 525 combinations; at most 500 are allowed"
    ]
    grid["slow"] = list(range(30, 50))  # 25 x 20 = 500
    assert validate_parameter_grid(grid, GOOD_ENTRY, GOOD_EXIT) == []


def test_a_grid_is_checked_for_its_shape_only():
    """Whether each combination makes valid rules is checked cell by cell, by the caller
    (a window of 0, a macd fast >= slow)."""
    macd = {"indicator": "macd", "params": {"fast": {"param": "fast"}, "slow": {"param": "slow"}}}
    entry = {"long": {"left": macd, "op": ">", "right": {"value": 0}}}
    grid = {"fast": [5, 30], "slow": [0, 26]}
    assert validate_parameter_grid(grid, entry, {}) == []
    assert messages(validate_parameter_grid(grid, entry, {}, "grid")) == []
    with pytest.raises(TypeError):
        validate_parameter_grid(grid, entry, {}, parameters={})


# --- building the engine's configuration ----------------------------------------------


def test_build_engine_config_reads_a_merged_run_config():
    overrides = {
        "cash": 2000,
        "direction": None,  # not overridden
        "sizing": {"mode": "notional", "value": 500},
        "risk": {"stop_loss": None, "trailing_stop": 0.02},
    }
    merged = merge_run_parameters(GOOD_CONFIG, overrides, {"fast": 12})
    config = build_engine_config(merged, periods_per_year=525_600)
    assert config == EngineConfig(
        cash=2000.0,
        fee=0.001,
        slippage=0.0,
        direction="both",
        fill="same_close",
        # sizing is replaced whole: mode and value only make sense together
        sizing=Sizing(mode="notional", value=500.0, atr_window=14, atr_multiple=2.0),
        # risk is merged key by key; null switches a limit off
        risk=RiskLimits(
            stop_loss=None,
            take_profit=2.5,
            trailing_stop=0.02,
            max_position_size=1.0,
            max_drawdown=0.3,
            daily_loss_limit=0.05,
            kill_switch_drawdown=0.5,
        ),
        periods_per_year=525_600.0,
    )


def test_build_engine_config_defaults_everything_unset():
    assert build_engine_config({"parameters": {"fast": 1}}, 365) == EngineConfig()
    assert build_engine_config({"cash": None, "risk": None}, 365) == EngineConfig()


def test_build_engine_config_takes_no_overrides():
    with pytest.raises(TypeError):
        build_engine_config({}, None, 365)


def test_build_engine_config_refuses_invalid_input_listing_everything():
    with pytest.raises(InvalidStrategy) as raised:
        build_engine_config({"fee": 2, "fill": "later", "risk": {"stop_loss": 5}}, 0)
    assert messages(list(raised.value.problems)) == [
        'config.fill must be one of next_open, same_close (got "later")',
        "config.fee must be a number ≥ 0 and < 1 (got 2)",
        "config.risk.stop_loss must be a number > 0 and < 1 (got 5)",
        "periods_per_year must be a number > 0 (got 0)",
    ]


def test_merge_run_parameters_layers_the_run_over_the_strategy():
    merged = merge_run_parameters(
        GOOD_CONFIG, {"fee": 0.002, "slippage": None, "risk": {"stop_loss": 0.1}}, {"fast": 7}
    )
    assert merged["parameters"] == {"fast": 7, "slow": 20}
    assert merged["fee"] == 0.002 and merged["slippage"] == 0
    assert merged["risk"]["stop_loss"] == 0.1 and merged["risk"]["take_profit"] == 2.5
    assert GOOD_CONFIG["parameters"] == {"fast": 10, "slow": 20}  # untouched
    assert GOOD_CONFIG["risk"]["stop_loss"] == 0.05
