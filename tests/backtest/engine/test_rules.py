"""The rule language: comparisons, crosses, offsets, combinators, parameters, lookback."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.engine import indicators
from backtest.engine.indicators import INDICATORS, compute_indicator
from backtest.engine.rules import (
    MAX_COMPARISONS,
    MAX_NESTING,
    InvalidStrategy,
    Problem,
    check_rules,
    compile_signals,
    lookback,
    referenced_parameters,
    render_problems,
)
from backtest.engine.types import Signals
from tests.backtest.engine.synthetic_bars import (
    bars_from_close,
    random_bars,
    with_future_replaced,
)

CLOSE = {"price": "close"}


def value(number):
    return {"value": number}


def rule(left, op, right):
    return {"left": left, "op": op, "right": right}


def long_entries(bars, condition, parameters=None):
    return compile_signals(bars, {"long": condition}, {}, parameters).long_entry


def fired(mask) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def sma(window, **extra):
    return {"indicator": "sma", "params": {"window": window}, **extra}


# --- comparisons and crosses on hand-made series --------------------------------------

CLOSES = bars_from_close([1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (">", [2, 7]),
        ("<", [0, 4]),
        (">=", [1, 2, 3, 5, 6, 7]),
        ("<=", [0, 1, 3, 4, 5, 6]),
        # left[i] > right[i] and left[i-1] <= right[i-1]: bar 2 (2 -> 3) and bar 7 (2 -> 3)
        ("crosses_above", [2, 7]),
        # left[i] < right[i] and left[i-1] >= right[i-1]: bar 4 (2 -> 1) only
        ("crosses_below", [4]),
    ],
)
def test_operators_on_a_hand_made_series(op, expected):
    assert fired(long_entries(CLOSES, rule(CLOSE, op, value(2)))) == expected


def test_a_cross_needs_both_bars_known():
    # SMA(2) is first known at bar 1, so a cross can first be judged at bar 2.
    bars = bars_from_close([5.0, 1.0, 9.0, 9.0])
    crossing = rule(CLOSE, "crosses_above", sma(2))
    assert fired(long_entries(bars, crossing)) == [2]
    # At bar 1 the close (5) is above SMA(2) (3), but the SMA before it is unknown.
    rising = bars_from_close([1.0, 5.0, 5.0])
    assert fired(long_entries(rising, rule(CLOSE, "crosses_above", sma(2)))) == []


def test_a_cross_never_fires_on_the_first_bar():
    bars = bars_from_close([3.0, 1.0])
    assert fired(long_entries(bars, rule(CLOSE, "crosses_above", value(2)))) == []
    assert fired(long_entries(bars, rule(CLOSE, "crosses_below", value(2)))) == [1]


def test_offset_reads_an_earlier_bar():
    bars = bars_from_close([1.0, 2.0, 2.0, 1.0, 4.0])
    up_bars = rule(CLOSE, ">", {"price": "close", "offset": 1})
    assert fired(long_entries(bars, up_bars)) == [1, 4]
    two_back = rule(CLOSE, ">", {"price": "close", "offset": 2})
    assert fired(long_entries(bars, two_back)) == [2, 4]


def test_donchian_breakout_compares_with_the_previous_bar_channel():
    closes = [10.0, 10.0, 10.0, 10.0, 12.0, 11.0, 13.0]
    bars = bars_from_close(closes)
    upper = {"indicator": "donchian_upper", "params": {"window": 3}, "offset": 1}
    # Against this bar's own channel a close never breaks out (its high is in it).
    same_bar = {"indicator": "donchian_upper", "params": {"window": 3}}
    assert fired(long_entries(bars, rule(CLOSE, "crosses_above", same_bar))) == []
    # Bar 4 breaks above 10.05 (bars 1-3); bar 6 (13) above 12.06, bar 4's high.
    assert fired(long_entries(bars, rule(CLOSE, "crosses_above", upper))) == [4, 6]


# --- combinators and unknown values ---------------------------------------------------


def test_all_any_not_combine_conditions():
    above_one = rule(CLOSE, ">", value(1))
    below_three = rule(CLOSE, "<", value(3))
    assert fired(long_entries(CLOSES, {"all": [above_one, below_three]})) == [1, 3, 5, 6]
    assert fired(
        long_entries(CLOSES, {"any": [rule(CLOSE, ">", value(2.5)), rule(CLOSE, "<", value(1.5))]})
    ) == [
        0,
        2,
        4,
        7,
    ]
    assert fired(long_entries(CLOSES, {"not": above_one})) == [0, 4]
    nested = {"all": [{"not": {"any": [rule(CLOSE, "<", value(2))]}}, below_three]}
    assert fired(long_entries(CLOSES, nested)) == [1, 3, 5, 6]


def test_not_does_not_fire_while_an_indicator_warms_up():
    bars = bars_from_close([1.0, 1.0, 1.0, 1.0, 9.0])
    condition = {"not": rule(CLOSE, ">", sma(3))}
    # Bars 0 and 1 have no SMA(3): the comparison is unknown, and so is its negation.
    assert fired(long_entries(bars, condition)) == [2, 3]


def test_three_valued_logic_decides_when_one_part_settles_it():
    bars = bars_from_close([1.0, 1.0, 1.0, 1.0])
    warming = rule(CLOSE, ">", sma(3))  # unknown on bars 0-1, false after
    always = rule(CLOSE, ">", value(0))
    never = rule(CLOSE, "<", value(0))
    assert fired(long_entries(bars, {"any": [warming, always]})) == [0, 1, 2, 3]
    assert fired(long_entries(bars, {"not": {"all": [warming, never]}})) == [0, 1, 2, 3]
    assert fired(long_entries(bars, {"not": {"all": [warming, always]}})) == [2, 3]
    assert fired(long_entries(bars, {"not": {"any": [warming, never]}})) == [2, 3]


# --- rule sets, parameters, ATR, cache ------------------------------------------------


def test_missing_sides_never_fire_and_every_array_is_a_boolean_per_bar():
    signals = compile_signals(
        CLOSES, {"long": rule(CLOSE, ">", value(2))}, {"short": None}, atr_window=None
    )
    assert isinstance(signals, Signals)
    for name in ("long_entry", "long_exit", "short_entry", "short_exit"):
        array = getattr(signals, name)
        assert array.dtype == bool
        assert array.shape == (len(CLOSES),)
    assert fired(signals.long_entry) == [2, 7]
    assert not signals.short_entry.any() and not signals.long_exit.any()
    assert not signals.short_exit.any()
    assert signals.atr is None


def test_every_side_is_compiled_to_its_own_array():
    signals = compile_signals(
        CLOSES,
        {"long": rule(CLOSE, ">", value(2)), "short": rule(CLOSE, "<", value(2))},
        {"long": rule(CLOSE, "<=", value(1)), "short": rule(CLOSE, ">=", value(3))},
    )
    assert fired(signals.long_entry) == [2, 7]
    assert fired(signals.short_entry) == [0, 4]
    assert fired(signals.long_exit) == [0, 4]
    assert fired(signals.short_exit) == [2, 7]


def test_parameter_references_stand_for_numbers_everywhere():
    bars = random_bars(200, seed=2)
    condition = rule(
        sma({"param": "fast"}, offset={"param": "lag"}),
        ">",
        {"value": {"param": "level"}},
    )
    parameters = {"fast": 5, "lag": 2, "level": 100.0}
    expected = compute_indicator("sma", bars, {"window": 5})
    expected = np.concatenate([[np.nan, np.nan], expected[:-2]]) > 100.0
    np.testing.assert_array_equal(long_entries(bars, condition, parameters), expected)
    other = long_entries(bars, condition, {**parameters, "fast": 30})
    assert not np.array_equal(other, expected)


def test_referenced_parameters_are_found_however_deep():
    rules = {"long": rule(sma({"param": "fast"}), ">", {"value": {"param": "level"}})}
    assert referenced_parameters(rules, {"short": {"param": "x"}}) == {"fast", "level", "x"}


def test_atr_for_risk_sizing_is_filled_when_asked():
    bars = random_bars(100, seed=4)
    signals = compile_signals(bars, {"long": rule(CLOSE, ">", value(0))}, {}, atr_window=10)
    np.testing.assert_array_equal(signals.atr, compute_indicator("atr", bars, {"window": 10}))
    for atr_window, got in [(0, "0"), (100_001, "100001"), (True, "true")]:
        message = f"atr_window must be an integer ≥ 1 and ≤ 100000 (got {got})"
        with pytest.raises(InvalidStrategy) as raised:
            compile_signals(bars, {"long": rule(CLOSE, ">", value(0))}, {}, atr_window=atr_window)
        assert str(raised.value) == message
    with pytest.raises(InvalidStrategy) as raised:
        compile_signals(bars, {"long": rule(CLOSE, ">", value(0))}, {}, atr_window=10**400)
    assert str(raised.value) == "atr_window must be a finite number (got an integer of 401 digits)"


def test_on_indicator_is_called_after_each_indicator_computed():
    calls = []
    fast, slow = sma(5), sma(20)
    rsi = {"indicator": "rsi", "params": {"window": 14}}
    signals = compile_signals(
        random_bars(100, seed=6),
        {"long": rule(fast, "crosses_above", slow), "short": rule(rsi, ">", value(70))},
        {"long": rule(fast, "crosses_below", slow)},
        None,
        10,
        on_indicator=lambda: calls.append(1),
    )
    # sma 5, sma 20, rsi 14 and the ATR for sizing; repeated operands are not recomputed.
    assert len(calls) == 4
    assert signals.atr is not None
    calls.clear()
    compile_signals(
        random_bars(100, seed=6),
        {"long": rule(CLOSE, ">", value(1))},
        {},
        on_indicator=lambda: calls.append(1),
    )
    assert calls == []


def test_an_exception_from_on_indicator_propagates():
    class Cancelled(Exception):
        pass

    calls = []

    def heartbeat():
        calls.append(1)
        if len(calls) == 2:
            raise Cancelled

    entry_rules = {"long": {"all": [rule(sma(5), ">", sma(10)), rule(sma(20), ">", sma(30))]}}
    with pytest.raises(Cancelled):
        compile_signals(random_bars(100, seed=6), entry_rules, {}, on_indicator=heartbeat)
    assert len(calls) == 2  # nothing computed after the cancellation
    calls.clear()
    with pytest.raises(Cancelled):  # the ATR for sizing (the second) is one too
        compile_signals(
            random_bars(100, seed=6),
            {"long": rule(sma(5), ">", CLOSE)},
            {},
            atr_window=14,
            on_indicator=heartbeat,
        )


def test_each_distinct_indicator_is_computed_once_per_run(monkeypatch):
    calls = []
    spec = INDICATORS["sma"]

    def counting_compute(bars, params):
        calls.append(dict(params))
        return spec.compute(bars, params)

    monkeypatch.setitem(
        indicators.INDICATORS, "sma", dataclasses.replace(spec, compute=counting_compute)
    )
    fast, slow = sma(5), sma(20)
    compile_signals(
        random_bars(100, seed=5),
        {"long": rule(fast, "crosses_above", slow), "short": rule(fast, "crosses_below", slow)},
        {"long": rule(fast, "crosses_below", sma(20.0, offset=1)), "short": rule(CLOSE, ">", fast)},
    )
    assert sorted(call["window"] for call in calls) == [5, 20]


def test_invalid_rules_raise_with_every_problem():
    with pytest.raises(InvalidStrategy) as raised:
        compile_signals(
            CLOSES,
            {"long": rule(sma(0), "above", CLOSE)},
            {"short": {"all": []}},
        )
    assert render_problems(raised.value.problems).splitlines() == [
        "entry_rules.long.left.params.window must be an integer ≥ 1 and ≤ 100000 (got 0)",
        "entry_rules.long.op must be one of >, <, >=, <=, crosses_above, crosses_below "
        '(got "above")',
        "exit_rules.short.all must contain at least one condition",
    ]
    assert str(raised.value).startswith("entry_rules.long.left.params.window must be")


# --- limits ---------------------------------------------------------------------------


def nested(condition, levels, kind="not"):
    for _ in range(levels):
        condition = {"not": condition} if kind == "not" else {kind: [condition]}
    return condition


ABOVE_ONE = rule(CLOSE, ">", value(1))


@pytest.mark.parametrize("kind", ["not", "all", "any"])
def test_conditions_nest_at_most_32_levels(kind):
    assert MAX_NESTING == 32
    assert check_rules({"long": nested(ABOVE_ONE, 32, kind)}, {}) == []
    step = ".not" if kind == "not" else f".{kind}[0]"
    assert check_rules({"long": nested(ABOVE_ONE, 33, kind)}, {}) == [
        Problem("entry_rules.long" + step * 32, "nests deeper than 32 levels")
    ]


def test_deep_nesting_is_reported_once_per_rule_and_never_recursed_into():
    # Deeper than Python's stack: parsing must stop at the limit, not crash.
    deep = nested(ABOVE_ONE, 100_000)
    wide = nested({"any": [nested(ABOVE_ONE, 5), nested(ABOVE_ONE, 3)]}, 30)
    problems = check_rules({"long": deep, "short": wide}, {"long": deep})
    assert problems == [
        Problem("entry_rules.long" + ".not" * 32, "nests deeper than 32 levels"),
        Problem("entry_rules.short" + ".not" * 30 + ".any[0].not", "nests deeper than 32 levels"),
        Problem("exit_rules.long" + ".not" * 32, "nests deeper than 32 levels"),
    ]
    assert referenced_parameters(nested({"value": {"param": "deep"}}, 100_000)) == {"deep"}
    with pytest.raises(InvalidStrategy, match="nests deeper than 32 levels"):
        compile_signals(CLOSES, {"long": deep}, {})


def test_a_strategy_holds_at_most_200_comparisons():
    assert MAX_COMPARISONS == 200
    at_limit = {"long": {"any": [ABOVE_ONE] * 150}}, {"short": {"all": [ABOVE_ONE] * 50}}
    assert check_rules(*at_limit) == []
    entry_rules = {"long": {"any": [ABOVE_ONE] * 150}}
    exit_rules = {"long": {"all": [ABOVE_ONE] * 40}, "short": {"not": {"any": [ABOVE_ONE] * 20}}}
    # Comparisons beyond the limit are counted, not checked (the sma(0) is not reported).
    exit_rules["short"]["not"]["any"][15] = rule(sma(0), ">", CLOSE)
    assert check_rules(entry_rules, exit_rules) == [
        Problem(
            "exit_rules.short.not.any[10]",
            "is comparison 201 of 210; a strategy may hold at most 200 comparisons "
            "(entry and exit rules together)",
        )
    ]


@pytest.mark.parametrize(
    ("operand", "parameters", "path", "message"),
    [
        (value(10**400), {}, "value", "must be a finite number (got an integer of 401 digits)"),
        (
            {"value": {"param": "level"}},
            {"level": -(10**400)},
            "value",
            'must be a finite number (got an integer of 401 digits from parameter "level")',
        ),
        (
            {"price": "close", "offset": 10**400},
            {},
            "offset",
            "must be a finite number (got an integer of 401 digits)",
        ),
        (
            sma({"param": "window"}),
            {"window": 10**400},
            "params.window",
            'must be a finite number (got an integer of 401 digits from parameter "window")',
        ),
        (
            {"indicator": "bollinger_upper", "params": {"std": 10**400}},
            {},
            "params.std",
            "must be a finite number (got an integer of 401 digits)",
        ),
    ],
)
def test_numbers_too_large_for_a_float_are_problems_everywhere(operand, parameters, path, message):
    problems = check_rules({"long": rule(CLOSE, ">", operand)}, {}, parameters)
    assert problems == [Problem(f"entry_rules.long.right.{path}", message)]


def test_offsets_are_capped_like_windows():
    assert check_rules({"long": rule(CLOSE, ">", {"price": "close", "offset": 100_000})}, {}) == []
    assert check_rules({"long": rule(CLOSE, ">", {"price": "close", "offset": 100_001})}, {}) == [
        Problem("entry_rules.long.right.offset", "must be an integer ≥ 0 and ≤ 100000 (got 100001)")
    ]


# --- lookback -------------------------------------------------------------------------


def test_lookback_is_the_longest_warm_up_plus_offset_plus_one_for_a_cross():
    cross = rule(sma({"param": "fast"}), "crosses_above", sma({"param": "slow"}))
    assert lookback({"long": cross}, {}, {"fast": 10, "slow": 20}) == 20
    breakout = rule(
        CLOSE,
        "crosses_above",
        {"indicator": "donchian_upper", "params": {"window": 20}, "offset": 1},
    )
    assert lookback({"long": breakout}, {}) == 21
    assert lookback({"long": rule(CLOSE, ">", value(1))}, {}) == 0
    macd = {"indicator": "macd_signal"}  # 26 - 1 + 9 - 1
    assert lookback({}, {"short": {"not": rule(macd, ">", value(0))}}) == 33
    adx = {"indicator": "adx", "params": {"window": 14}, "offset": 3}
    assert (
        lookback({"long": {"any": [rule(adx, ">", value(25)), cross]}}, {}, {"fast": 2, "slow": 3})
        == 30
    )
    with pytest.raises(InvalidStrategy):
        lookback({"long": cross}, {}, {})


def test_lookback_is_the_first_bar_a_rule_can_fire():
    bars = bars_from_close(np.arange(1.0, 40.0))
    condition = rule(CLOSE, ">", {"indicator": "sma", "params": {"window": 10}, "offset": 2})
    first = lookback({"long": condition}, {})
    assert fired(long_entries(bars, condition))[0] == first == 11


# --- lookahead ------------------------------------------------------------------------


def _rules_using_every_indicator():
    conditions = []
    for index, name in enumerate(sorted(INDICATORS)):
        small = {"window": 4, "fast": 3, "slow": 6, "signal": 3}
        params = {key: small[key] for key in INDICATORS[name].param_names if key in small}
        operand = {"indicator": name, "params": params, "offset": index % 3}
        op = ("crosses_above", "crosses_below", ">", "<")[index % 4]
        other = {"price": "close"} if name not in ("rsi", "adx", "obv") else {"value": 50}
        conditions.append(rule(operand, op, other))
    half = len(conditions) // 2
    return (
        {"long": {"any": conditions[:half]}, "short": {"not": {"all": conditions[half:]}}},
        {"long": {"any": conditions[half:]}, "short": {"all": conditions[:2]}},
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    future_seed=st.integers(0, 2**32 - 1),
    cut=st.integers(0, 79),
)
def test_no_signal_depends_on_a_later_bar(seed, future_seed, cut):
    entry_rules, exit_rules = _rules_using_every_indicator()
    bars = random_bars(80, seed=seed)
    changed = with_future_replaced(bars, cut, future_seed)
    before = compile_signals(bars, entry_rules, exit_rules, atr_window=5)
    after = compile_signals(changed, entry_rules, exit_rules, atr_window=5)
    for name in ("long_entry", "long_exit", "short_entry", "short_exit", "atr"):
        np.testing.assert_array_equal(
            getattr(before, name)[: cut + 1], getattr(after, name)[: cut + 1], err_msg=name
        )
