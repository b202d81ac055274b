"""The indicator catalogue: values, warm-up, lookahead safety, parameter checks."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ta.trend import ADXIndicator, CCIIndicator, WMAIndicator
from ta.volatility import AverageTrueRange

from backtest.engine.indicators import (
    INDICATORS,
    MAX_CCI_WINDOW,
    MAX_WINDOW,
    IndicatorCache,
    NumberRange,
    check_indicator_params,
    compute_indicator,
    describe_catalogue,
    render_value,
)
from tests.backtest.engine.synthetic_bars import (
    bars_from_close,
    random_bars,
    with_future_replaced,
)

EXPECTED_NAMES = {
    "sma",
    "ema",
    "wma",
    "rsi",
    "macd",
    "macd_signal",
    "macd_histogram",
    "bollinger_upper",
    "bollinger_middle",
    "bollinger_lower",
    "bollinger_percent_b",
    "atr",
    "stoch_k",
    "stoch_d",
    "adx",
    "cci",
    "obv",
    "donchian_upper",
    "donchian_lower",
    "vwap",
}

# Small windows so warm-up ends early in short test series.
SMALL_PARAMS = {
    "window": 5,
    "fast": 3,
    "slow": 7,
    "signal": 4,
    "std": 1.5,
    "smooth_window": 2,
    "constant": 0.02,
}


def small_params(name: str) -> dict:
    return {p: SMALL_PARAMS[p] for p in INDICATORS[name].param_names if p in SMALL_PARAMS}


def first_value_index(values: np.ndarray) -> int:
    return int(np.argmax(~np.isnan(values)))


BARS = random_bars(400, seed=7)


def test_the_catalogue_holds_exactly_the_documented_indicators():
    assert set(INDICATORS) == EXPECTED_NAMES
    described = describe_catalogue()
    assert [entry["name"] for entry in described] == sorted(EXPECTED_NAMES)
    sma = next(entry for entry in described if entry["name"] == "sma")
    assert sma["params"][0] == {
        "name": "window",
        "default": 20,
        "description": "bars in the window",
        "type": "integer",
        "minimum": 1,
        "minimum_inclusive": True,
        "maximum": 100_000,
        "maximum_inclusive": True,
    }
    assert sma["params"][1]["choices"] == ["open", "high", "low", "close", "volume"]
    assert sma["default_lookback"] == 19


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
@pytest.mark.parametrize("variant", ["defaults", "small"])
def test_values_start_exactly_at_the_declared_lookback(name, variant):
    spec = INDICATORS[name]
    params = {} if variant == "defaults" else small_params(name)
    values = compute_indicator(name, BARS, params)
    lookback = spec.lookback(spec.with_defaults(params))
    assert values.dtype == np.float64
    assert values.shape == (len(BARS),)
    assert np.isnan(values[:lookback]).all()
    assert first_value_index(values) == lookback
    assert not np.isnan(values[lookback:]).any()


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_series_too_short_for_the_warm_up_are_all_nan(name):
    spec = INDICATORS[name]
    lookback = spec.lookback(spec.with_defaults({}))
    for length in {0, 1, lookback}:
        bars = random_bars(length, seed=1)
        values = compute_indicator(name, bars)
        assert values.shape == (length,)
        if length <= lookback:
            assert np.isnan(values).all()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    future_seed=st.integers(0, 2**32 - 1),
    cut=st.integers(0, 89),
)
def test_no_indicator_looks_ahead(seed, future_seed, cut):
    """Replacing every bar after `cut` changes no value at or before `cut`."""
    bars = random_bars(90, seed=seed)
    changed = with_future_replaced(bars, cut, future_seed)
    for name in sorted(INDICATORS):
        for params in ({}, small_params(name)):
            before = compute_indicator(name, bars, params)
            after = compute_indicator(name, changed, params)
            np.testing.assert_array_equal(
                before[: cut + 1], after[: cut + 1], err_msg=f"{name} {params}"
            )


# --- values against independent computations ------------------------------------------


def test_sma_is_the_plain_mean_of_the_window():
    values = compute_indicator("sma", BARS, {"window": 10})
    expected = np.convolve(BARS.close, np.ones(10) / 10, mode="valid")
    np.testing.assert_allclose(values[9:], expected, rtol=1e-12)


def test_source_selects_the_price_field():
    values = compute_indicator("sma", BARS, {"window": 3, "source": "high"})
    expected = (BARS.high[:-2] + BARS.high[1:-1] + BARS.high[2:]) / 3
    np.testing.assert_allclose(values[2:], expected, rtol=1e-12)


def test_ema_follows_the_recursive_definition():
    window = 8
    alpha = 2 / (window + 1)
    expected = np.empty(len(BARS))
    expected[0] = BARS.close[0]
    for i in range(1, len(BARS)):
        expected[i] = alpha * BARS.close[i] + (1 - alpha) * expected[i - 1]
    values = compute_indicator("ema", BARS, {"window": window})
    assert np.isnan(values[: window - 1]).all()
    np.testing.assert_allclose(values[window - 1 :], expected[window - 1 :], rtol=1e-12)


def test_rsi_follows_wilders_smoothing_as_ta_defines_it():
    """ta seeds the averages on bar 0 with a zero move, then smooths with alpha 1/window."""
    window = 6
    moves = np.diff(BARS.close, prepend=BARS.close[0])
    gains, losses = np.maximum(moves, 0), np.maximum(-moves, 0)
    average_gain, average_loss = np.empty(len(BARS)), np.empty(len(BARS))
    average_gain[0], average_loss[0] = gains[0], losses[0]
    for i in range(1, len(BARS)):
        average_gain[i] = (average_gain[i - 1] * (window - 1) + gains[i]) / window
        average_loss[i] = (average_loss[i - 1] * (window - 1) + losses[i]) / window
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(average_loss == 0, 100.0, 100 - 100 / (1 + average_gain / average_loss))
    values = compute_indicator("rsi", BARS, {"window": window})
    np.testing.assert_allclose(values[window - 1 :], expected[window - 1 :], rtol=1e-10)
    assert ((values[window - 1 :] >= 0) & (values[window - 1 :] <= 100)).all()


def test_rsi_is_100_when_nothing_fell():
    values = compute_indicator("rsi", bars_from_close(np.arange(1.0, 31.0)), {"window": 5})
    assert (values[4:] == 100).all()


def test_donchian_channel_is_the_extreme_of_the_window_including_this_bar():
    window = 7
    upper = compute_indicator("donchian_upper", BARS, {"window": window})
    lower = compute_indicator("donchian_lower", BARS, {"window": window})
    for i in range(window - 1, len(BARS)):
        assert upper[i] == BARS.high[i - window + 1 : i + 1].max()
        assert lower[i] == BARS.low[i - window + 1 : i + 1].min()


def test_vwap_weights_the_typical_price_by_volume():
    window = 5
    typical = (BARS.high + BARS.low + BARS.close) / 3
    values = compute_indicator("vwap", BARS, {"window": window})
    for i in range(window - 1, len(BARS)):
        span = slice(i - window + 1, i + 1)
        expected = (typical[span] * BARS.volume[span]).sum() / BARS.volume[span].sum()
        assert values[i] == pytest.approx(expected, rel=1e-12)


def test_obv_adds_volume_unless_the_close_fell():
    expected = np.empty(len(BARS))
    expected[0] = BARS.volume[0]
    for i in range(1, len(BARS)):
        fell = BARS.close[i] < BARS.close[i - 1]
        expected[i] = expected[i - 1] + (-BARS.volume[i] if fell else BARS.volume[i])
    np.testing.assert_allclose(compute_indicator("obv", BARS), expected, rtol=1e-12)


def test_bollinger_bands_are_the_sma_plus_minus_population_deviations():
    window, std = 10, 2.5
    middle = compute_indicator("bollinger_middle", BARS, {"window": window})
    upper = compute_indicator("bollinger_upper", BARS, {"window": window, "std": std})
    lower = compute_indicator("bollinger_lower", BARS, {"window": window, "std": std})
    percent_b = compute_indicator("bollinger_percent_b", BARS, {"window": window, "std": std})
    for i in range(window - 1, len(BARS)):
        closes = BARS.close[i - window + 1 : i + 1]
        assert middle[i] == pytest.approx(closes.mean(), rel=1e-12)
        assert upper[i] == pytest.approx(closes.mean() + std * closes.std(), rel=1e-9)
        assert lower[i] == pytest.approx(closes.mean() - std * closes.std(), rel=1e-9)
        expected_b = (BARS.close[i] - lower[i]) / (upper[i] - lower[i])
        assert percent_b[i] == pytest.approx(expected_b, rel=1e-9)


def test_macd_lines_are_differences_of_emas():
    fast = compute_indicator("ema", BARS, {"window": 5})
    slow = compute_indicator("ema", BARS, {"window": 13})
    macd = compute_indicator("macd", BARS, {"fast": 5, "slow": 13})
    np.testing.assert_allclose(macd[12:], (fast - slow)[12:], rtol=1e-9)
    params = {"fast": 5, "slow": 13, "signal": 4}
    signal = compute_indicator("macd_signal", BARS, params)
    histogram = compute_indicator("macd_histogram", BARS, params)
    np.testing.assert_allclose(histogram[15:], (macd - signal)[15:], rtol=1e-9, atol=1e-12)


def test_stochastic_k_places_the_close_in_the_window_range():
    window = 5
    values = compute_indicator("stoch_k", BARS, {"window": window})
    for i in range(window - 1, len(BARS)):
        low = BARS.low[i - window + 1 : i + 1].min()
        high = BARS.high[i - window + 1 : i + 1].max()
        assert values[i] == pytest.approx(100 * (BARS.close[i] - low) / (high - low))
    d_values = compute_indicator("stoch_d", BARS, {"window": window, "smooth_window": 3})
    np.testing.assert_allclose(d_values[6:], np.convolve(values, np.ones(3) / 3, "valid")[4:])


def _ta_frame(bars):
    return pd.Series(bars.high), pd.Series(bars.low), pd.Series(bars.close)


@pytest.mark.parametrize("window", [1, 2, 9, 20])
def test_vectorised_indicators_equal_ta_s_own_loops(window):
    """wma, atr, adx and cci are computed here for speed; ta's values are the reference
    (ta writes zeros where we write NaN during warm-up, so compare from the lookback)."""
    high, low, close = _ta_frame(BARS)
    references = {
        "wma": WMAIndicator(close, window).wma(),
        "atr": AverageTrueRange(high, low, close, window).average_true_range(),
        "cci": CCIIndicator(high, low, close, window).cci(),
    }
    if window > 1:  # ta's ADX divides by zero for a window of 1
        references["adx"] = ADXIndicator(high, low, close, window).adx()
    for name, reference in references.items():
        values = compute_indicator(name, BARS, {"window": window})
        start = INDICATORS[name].lookback({"window": window})
        np.testing.assert_allclose(
            values[start:], reference.to_numpy()[start:], rtol=1e-9, atol=1e-9, err_msg=name
        )


def test_undefined_values_are_nan_never_infinite():
    flat = bars_from_close(np.full(40, 100.0))
    flat = type(flat)(**{**flat.__dict__, "high": flat.close, "low": flat.close})
    for name in ("stoch_k", "cci", "bollinger_percent_b"):
        values = compute_indicator(name, flat, {"window": 5})
        assert not np.isinf(values).any()
        assert np.isnan(values).all(), name


def test_cci_at_its_longest_window_computes_quickly():
    """Its mean deviation costs bars x window, hence the window cap of 1,000."""
    bars = random_bars(200_000, seed=3)
    started = time.perf_counter()
    values = compute_indicator("cci", bars, {"window": MAX_CCI_WINDOW})
    assert time.perf_counter() - started < 5
    assert first_value_index(values) == MAX_CCI_WINDOW - 1


def test_a_year_of_minute_bars_computes_quickly():
    """The benchmark runs 525,600 bars; ta's per-bar loops would take over half a minute."""
    bars = random_bars(525_600, seed=3)
    started = time.perf_counter()
    for name in INDICATORS:
        compute_indicator(name, bars)
    assert time.perf_counter() - started < 15


# --- parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sma", {"window": 0}, "sma window must be an integer ≥ 1 and ≤ 100000 (got 0)"),
        ("sma", {"window": True}, "sma window must be an integer ≥ 1 and ≤ 100000 (got true)"),
        ("sma", {"window": 2.5}, "sma window must be an integer ≥ 1 and ≤ 100000 (got 2.5)"),
        (
            "macd",
            {"slow": 100_001},
            "macd slow must be an integer ≥ 1 and ≤ 100000 (got 100001)",
        ),
        ("sma", {"length": 5}, "sma length is not a parameter of sma (known: window, source)"),
        (
            "rsi",
            {"source": "hlc3"},
            'rsi source must be one of open, high, low, close, volume (got "hlc3")',
        ),
        ("bollinger_upper", {"std": 0}, "bollinger_upper std must be a number > 0 (got 0)"),
        ("macd", {"fast": 26, "slow": 12}, "macd fast (26) must be less than slow (12)"),
        ("obv", {"window": 3}, "obv window is not a parameter of obv (known: none)"),
    ],
)
def test_invalid_params_are_refused_with_a_clear_message(name, params, message):
    with pytest.raises(ValueError) as raised:
        compute_indicator(name, BARS, params)
    assert str(raised.value) == message


def test_unknown_indicators_list_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown indicator \"smaa\" \(known: adx, atr, "):
        compute_indicator("smaa", BARS)


def test_integral_floats_are_accepted_as_integers():
    np.testing.assert_array_equal(
        compute_indicator("sma", BARS, {"window": 10.0}),
        compute_indicator("sma", BARS, {"window": 10}),
    )


@pytest.mark.parametrize(
    ("number_range", "description"),
    [
        (NumberRange(), "a number"),
        (NumberRange(integer=True, minimum=1), "an integer ≥ 1"),
        (NumberRange(minimum=0, minimum_inclusive=False), "a number > 0"),
        (NumberRange(minimum=0, maximum=1, maximum_inclusive=False), "a number ≥ 0 and < 1"),
        (NumberRange(minimum=0.5, maximum=2), "a number ≥ 0.5 and ≤ 2"),
    ],
)
def test_number_ranges_describe_themselves(number_range, description):
    assert number_range.describe() == description


@pytest.mark.parametrize("value", [True, False, None, "3", float("nan"), float("inf"), [1]])
def test_number_ranges_refuse_non_numbers(value):
    checked, message = NumberRange().check(value)
    assert checked is None
    assert message.startswith("must be a number (got ")


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (10**400, "an integer of 401 digits"),
        (-(10**400), "an integer of 401 digits"),
        (10**400 - 1, "an integer of 400 digits"),
        (10**5000, "an integer of 5001 digits"),  # beyond what str() of an int allows
    ],
    ids=["1e400", "-1e400", "1e400-1", "1e5000"],
)
@pytest.mark.parametrize(
    "number_range",
    [NumberRange(), NumberRange(integer=True, minimum=1, maximum=10), NumberRange(minimum=0)],
)
def test_integers_too_large_for_a_float_are_refused_not_raised(value, rendered, number_range):
    checked, message = number_range.check(value, 'parameter "fast"')
    assert checked is None
    assert message == f'must be a finite number (got {rendered} from parameter "fast")'


def test_huge_integer_params_are_reported():
    assert check_indicator_params(INDICATORS["sma"], {"window": 10**400}) == {
        "window": "must be a finite number (got an integer of 401 digits)"
    }
    with pytest.raises(ValueError, match=r"^bollinger_upper std must be a finite number"):
        compute_indicator("bollinger_upper", BARS, {"std": -(10**400)})


def test_render_value_never_raises_and_stays_short():
    assert render_value([1, "a", None, 2.5]) == '[1, "a", null, 2.5]'
    assert render_value(10**300) == "1" + "0" * 199 + "…"  # within the float range
    assert render_value([10**400]) == "[1" + "0" * 198 + "…"
    assert render_value([10**5000]) == "a list"  # beyond what str() of an int allows
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert render_value(deep) == "a list"
    assert render_value(object()).startswith("<object object at")


def _window_like(name: str) -> list[str]:
    return [param.name for param in INDICATORS[name].params if param.range and param.range.integer]


@pytest.mark.parametrize("name", sorted(name for name in EXPECTED_NAMES if _window_like(name)))
def test_every_window_is_capped(name):
    limit = MAX_CCI_WINDOW if name == "cci" else MAX_WINDOW
    for param in _window_like(name):
        assert param not in check_indicator_params(INDICATORS[name], {param: limit})
        assert check_indicator_params(INDICATORS[name], {param: limit + 1}) == {
            param: f"must be an integer ≥ 1 and ≤ {limit} (got {limit + 1})"
        }


def test_only_window_like_params_are_integers():
    integers = {param for name in INDICATORS for param in _window_like(name)}
    assert integers == {"window", "fast", "slow", "signal", "smooth_window"}


def test_cci_states_its_window_cap():
    cci = next(entry for entry in describe_catalogue() if entry["name"] == "cci")
    assert "at most 1,000 bars" in cci["description"]
    assert cci["params"][0]["maximum"] == MAX_CCI_WINDOW == 1000
    with pytest.raises(ValueError, match=r"^cci window must be an integer ≥ 1 and ≤ 1000 \(got"):
        compute_indicator("cci", BARS, {"window": 1001})


def test_the_cache_computes_each_distinct_indicator_once():
    computed = []
    cache = IndicatorCache(BARS, on_compute=lambda: computed.append(len(cache)))
    first = cache.get("sma", {"window": 10})
    assert cache.get("sma", {"window": 10.0, "source": "close"}) is first
    assert cache.get("sma", {"window": 11}) is not first
    assert len(cache) == 2
    assert not first.flags.writeable
    assert computed == [1, 2]  # after each computation, none on a hit
