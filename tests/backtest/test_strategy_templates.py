"""Strategy templates: each is a valid rule set that trades a sine wave as described."""

from __future__ import annotations

import numpy as np
import pytest

from backtest.engine.indicators import compute_indicator
from backtest.engine.rules import compile_signals, lookback
from backtest.strategy_templates import TEMPLATES, UnknownTemplate, template_strategy
from backtest.validators import validate_strategy
from tests.backtest.engine.synthetic_bars import sine_bars

SINE = sine_bars(1000, period=100)


def crosses_above(left, right):
    previous_left = np.concatenate([[np.nan], left[:-1]])
    previous_right = np.concatenate([[np.nan], right[:-1]])
    return (left > right) & (previous_left <= previous_right)


def crosses_below(left, right):
    return crosses_above(-left, -right)


def compiled(strategy, bars=SINE):
    return compile_signals(
        bars,
        strategy["entry_rules"],
        strategy["exit_rules"],
        strategy["config"]["parameters"],
    )


def test_the_six_templates_are_offered():
    assert list(TEMPLATES) == [
        "sma_cross",
        "ema_cross",
        "rsi_reversion",
        "macd_cross",
        "bollinger_breakout",
        "donchian_breakout",
    ]
    assert all(template.description and template.title for template in TEMPLATES.values())


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_every_template_validates_compiles_and_trades_a_sine_wave(name):
    strategy = template_strategy(name)
    assert strategy["template"] == name
    assert strategy["config"]["direction"] == "both"
    assert (
        validate_strategy(strategy["entry_rules"], strategy["exit_rules"], strategy["config"]) == []
    )
    signals = compiled(strategy)
    for side in ("long_entry", "long_exit", "short_entry", "short_exit"):
        assert getattr(signals, side).sum() >= 5, side  # ten sine periods
    warm_up = lookback(
        strategy["entry_rules"], strategy["exit_rules"], strategy["config"]["parameters"]
    )
    assert not signals.long_entry[:warm_up].any() and not signals.short_entry[:warm_up].any()


def test_default_parameters_are_the_documented_ones():
    assert {name: TEMPLATES[name].config["parameters"] for name in TEMPLATES} == {
        "sma_cross": {"fast": 10, "slow": 20},
        "ema_cross": {"fast": 12, "slow": 26},
        "rsi_reversion": {"period": 14, "lower": 30, "upper": 70},
        "macd_cross": {"fast": 12, "slow": 26, "signal": 9},
        "bollinger_breakout": {"window": 20, "std": 2},
        "donchian_breakout": {"window": 20},
    }


def test_sma_cross_signals_are_the_crosses_of_the_two_averages():
    signals = compiled(template_strategy("sma_cross", {"fast": 5, "slow": 15}))
    fast = compute_indicator("sma", SINE, {"window": 5})
    slow = compute_indicator("sma", SINE, {"window": 15})
    np.testing.assert_array_equal(signals.long_entry, crosses_above(fast, slow))
    np.testing.assert_array_equal(signals.short_entry, crosses_below(fast, slow))
    np.testing.assert_array_equal(signals.long_exit, signals.short_entry)
    np.testing.assert_array_equal(signals.short_exit, signals.long_entry)


def test_rsi_reversion_enters_on_recovery_and_exits_at_the_other_level():
    signals = compiled(template_strategy("rsi_reversion"))
    rsi = compute_indicator("rsi", SINE, {"window": 14})
    lower, upper = np.full(len(SINE), 30.0), np.full(len(SINE), 70.0)
    np.testing.assert_array_equal(signals.long_entry, crosses_above(rsi, lower))
    np.testing.assert_array_equal(signals.long_exit, crosses_above(rsi, upper))
    np.testing.assert_array_equal(signals.short_entry, crosses_below(rsi, upper))
    np.testing.assert_array_equal(signals.short_exit, crosses_below(rsi, lower))


def test_donchian_breakout_uses_the_previous_bars_channel():
    signals = compiled(template_strategy("donchian_breakout", {"window": 10}))
    upper = compute_indicator("donchian_upper", SINE, {"window": 10})
    lower = compute_indicator("donchian_lower", SINE, {"window": 10})
    previous_upper = np.concatenate([[np.nan], upper[:-1]])
    previous_lower = np.concatenate([[np.nan], lower[:-1]])
    np.testing.assert_array_equal(signals.long_entry, crosses_above(SINE.close, previous_upper))
    np.testing.assert_array_equal(signals.long_exit, crosses_below(SINE.close, previous_lower))


def test_bollinger_breakout_exits_at_the_middle_band():
    signals = compiled(template_strategy("bollinger_breakout"))
    middle = compute_indicator("bollinger_middle", SINE, {"window": 20})
    np.testing.assert_array_equal(signals.long_exit, crosses_below(SINE.close, middle))
    np.testing.assert_array_equal(signals.short_exit, crosses_above(SINE.close, middle))


def test_template_strategy_returns_an_independent_copy_with_params_merged():
    strategy = template_strategy("macd_cross", {"signal": 5})
    assert strategy["config"]["parameters"] == {"fast": 12, "slow": 26, "signal": 5}
    strategy["entry_rules"]["long"]["op"] = "<"
    strategy["config"]["parameters"]["fast"] = 1
    assert TEMPLATES["macd_cross"].entry_rules["long"]["op"] == "crosses_above"
    assert TEMPLATES["macd_cross"].config["parameters"]["fast"] == 12
    assert template_strategy("macd_cross")["config"]["parameters"]["signal"] == 9


def test_unknown_templates_name_the_known_ones():
    with pytest.raises(UnknownTemplate) as raised:
        template_strategy("golden_cross")
    assert str(raised.value) == (
        "unknown strategy template 'golden_cross' (known: sma_cross, ema_cross, "
        "rsi_reversion, macd_cross, bollinger_breakout, donchian_breakout)"
    )
    assert isinstance(raised.value, ValueError)


def test_unknown_and_invalid_params_are_reported_by_validation():
    strategy = template_strategy("macd_cross", {"fsat": 5, "fast": 30})
    problems = validate_strategy(
        strategy["entry_rules"], strategy["exit_rules"], strategy["config"]
    )
    assert [str(problem) for problem in problems] == [
        "entry_rules.long.left.params fast (30) must be less than slow (26)",
        "entry_rules.long.right.params fast (30) must be less than slow (26)",
        "entry_rules.short.left.params fast (30) must be less than slow (26)",
        "entry_rules.short.right.params fast (30) must be less than slow (26)",
        "exit_rules.long.left.params fast (30) must be less than slow (26)",
        "exit_rules.long.right.params fast (30) must be less than slow (26)",
        "exit_rules.short.left.params fast (30) must be less than slow (26)",
        "exit_rules.short.right.params fast (30) must be less than slow (26)",
        "config.parameters.fsat is not used by any rule (used: fast, signal, slow)",
    ]
    strategy = template_strategy("rsi_reversion", {"period": 0})
    problems = validate_strategy(
        strategy["entry_rules"], strategy["exit_rules"], strategy["config"]
    )
    assert str(problems[0]) == (
        "entry_rules.long.left.params.window must be an integer ≥ 1 and ≤ 100000 "
        '(got 0 from parameter "period")'
    )
