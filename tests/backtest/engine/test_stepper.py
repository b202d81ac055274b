"""The paper-trading stepper against the vectorised simulator.

The issue's requirement: fed one closed bar at a time after a warm-up, the stepper makes
the same trades as the simulator on the same bars from the same start. "The same start":
the simulator runs over the stepped bars with signals computed on warm-up + stepped
bars (the warm-up only feeds the indicators). The simulator closes what is still open
on its last bar ("end_of_data"); live data has no last bar, so the stepper's trade is
still open there and is compared by its entry.
"""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest

from backtest import validators
from backtest.engine import stepper as stepper_module
from backtest.engine.indicators import INDICATORS, compute_indicator
from backtest.engine.rules import compile_signals, lookback
from backtest.engine.simulator import simulate
from backtest.engine.stepper import (
    Bar,
    BarMarked,
    BarStepper,
    NotIncremental,
    OrderQueued,
    PositionOpened,
    TradeClosed,
    TradingHalted,
    event_dict,
    window_length,
)
from backtest.engine.types import EXIT_REASONS, Bars, EngineConfig, RiskLimits, Signals, Sizing
from backtest.runner import run_strategy
from backtest.strategy_templates import template_strategy

T0 = 1_704_067_200_000_000  # 2024-01-01 00:00 UTC, µs
HOUR = 3_600_000_000
FIELDS = Bar._fields
SIGNAL_NAMES = ("long_entry", "long_exit", "short_entry", "short_exit")


def hourly_bars(n: int, seed: int, volatility: float = 0.01) -> Bars:
    """A random walk plus a slow sine (so oscillators swing), hourly, consistent OHLC."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    log_price = np.cumsum(rng.normal(0, volatility, n)) + 0.05 * np.sin(2 * np.pi * t / 90)
    close = 100 * np.exp(log_price)
    opens = np.concatenate([[100.0], close[:-1]]) * (1 + rng.normal(0, volatility / 5, n))
    return Bars(
        timestamp=T0 + HOUR * t.astype(np.int64),
        open=opens,
        high=np.maximum(opens, close) * (1 + rng.uniform(0, volatility, n)),
        low=np.minimum(opens, close) * (1 - rng.uniform(0, volatility, n)),
        close=close,
        volume=rng.uniform(1, 100, n),
    )


def bars_slice(bars: Bars, start: int, stop: int | None = None) -> Bars:
    return Bars(**{name: getattr(bars, name)[start:stop] for name in FIELDS})


def bar_at(bars: Bars, index: int) -> Bar:
    return Bar(*(getattr(bars, name)[index] for name in FIELDS))


def sma_rules(fast: int = 10, slow: int = 30) -> tuple[dict, dict, dict]:
    strategy = template_strategy("sma_cross", {"fast": fast, "slow": slow})
    return strategy["entry_rules"], strategy["exit_rules"], strategy["config"]["parameters"]


def template_rules(name: str) -> tuple[dict, dict, dict]:
    strategy = template_strategy(name)
    return strategy["entry_rules"], strategy["exit_rules"], strategy["config"]["parameters"]


def macd_rules() -> tuple[dict, dict, dict]:
    strategy = template_strategy("macd_cross", {"fast": 6, "slow": 13, "signal": 5})
    return strategy["entry_rules"], strategy["exit_rules"], strategy["config"]["parameters"]


CASES = {
    # name: (rules, config, seed)
    "sma_cross_both": (template_rules("sma_cross"), EngineConfig(direction="both"), 1),
    "rsi_reversion_long": (
        template_rules("rsi_reversion"),
        EngineConfig(direction="long", fee=0.0005, slippage=0.0002),
        2,
    ),
    "ema_cross_short": (template_rules("ema_cross"), EngineConfig(direction="short"), 3),
    "stops_and_trailing": (
        sma_rules(),
        EngineConfig(
            direction="both",
            slippage=0.0005,
            sizing=Sizing(mode="fraction", value=0.8),
            risk=RiskLimits(stop_loss=0.03, take_profit=0.06, trailing_stop=0.04),
        ),
        6,
    ),
    "drawdown_breaker_and_daily_limit": (
        sma_rules(5, 15),
        EngineConfig(
            direction="both", fee=0.002, risk=RiskLimits(max_drawdown=0.2, daily_loss_limit=0.02)
        ),
        7,
    ),
    "kill_switch_drawdown": (
        sma_rules(5, 15),
        EngineConfig(
            direction="both",
            fee=0.002,
            risk=RiskLimits(daily_loss_limit=0.02, kill_switch_drawdown=0.15),
        ),
        7,
    ),
    "risk_sizing_same_close": (
        macd_rules(),
        EngineConfig(
            direction="long",
            fill="same_close",
            sizing=Sizing(mode="risk", value=0.02, atr_window=14, atr_multiple=2.0),
            risk=RiskLimits(max_position_size=0.5, take_profit=0.03),
        ),
        6,
    ),
}
# What each case must show happening, or its consistency would prove little.
EXPECTED_EXITS = {
    "stops_and_trailing": {"stop_loss", "take_profit", "trailing_stop", "exit_signal"},
    "kill_switch_drawdown": {"kill_switch"},
    "risk_sizing_same_close": {"stop_loss", "take_profit"},
}
EXPECTED_HALTS = {
    "drawdown_breaker_and_daily_limit": {"max_drawdown", "daily_loss_limit"},
    "kill_switch_drawdown": {"daily_loss_limit", "kill_switch"},
}

BARS = 1500
WARM_UP = 200


def run_both(rules, config: EngineConfig, bars: Bars, warm_up: int):
    """(the stepper's events per stepped bar, the simulator's result on the same bars)."""
    entry_rules, exit_rules, parameters = rules
    atr_window = config.sizing.atr_window if config.sizing.mode == "risk" else None
    signals = compile_signals(bars, entry_rules, exit_rules, parameters, atr_window)
    stepped_signals = Signals(
        *(getattr(signals, name)[warm_up:] for name in SIGNAL_NAMES),
        atr=None if signals.atr is None else signals.atr[warm_up:],
    )
    result = simulate(bars_slice(bars, warm_up), stepped_signals, config)

    stepper = BarStepper(entry_rules, exit_rules, parameters, config, bars_slice(bars, 0, warm_up))
    steps = [stepper.step(bar_at(bars, index)) for index in range(warm_up, len(bars))]
    return stepper, steps, result


def assert_same_trades(steps: list[list], result, warm_up: int, bars: Bars) -> None:
    closed = [event for events in steps for event in events if isinstance(event, TradeClosed)]
    trades = result.trades
    expected = len(trades)
    end_of_data = expected and EXIT_REASONS[trades.exit_reason[-1]] == "end_of_data"
    if end_of_data:
        expected -= 1
    assert len(closed) == expected
    assert expected >= 5, "the case should trade"
    assert [t.entry_index - warm_up for t in closed] == trades.entry_index[:expected].tolist()
    assert [t.exit_index - warm_up for t in closed] == trades.exit_index[:expected].tolist()
    entry_times = bars.timestamp[warm_up:][trades.entry_index[:expected]]
    assert [t.entry_time for t in closed] == entry_times.tolist()
    assert [t.exit_time for t in closed] == bars.timestamp[warm_up:][
        trades.exit_index[:expected]
    ].tolist()
    assert [t.side for t in closed] == [
        "long" if side > 0 else "short" for side in trades.side[:expected]
    ]
    assert [t.exit_reason for t in closed] == [
        EXIT_REASONS[reason] for reason in trades.exit_reason[:expected]
    ]
    for field in ("quantity", "entry_price", "exit_price", "pnl", "fees", "pnl_percentage"):
        np.testing.assert_allclose(
            [getattr(t, field) for t in closed],
            getattr(trades, field)[:expected],
            rtol=1e-12,
            atol=1e-9,
            err_msg=field,
        )
    opened = [event for events in steps for event in events if isinstance(event, PositionOpened)]
    if end_of_data:
        # The simulator's last trade is the stepper's open position.
        assert len(opened) == expected + 1
        assert opened[-1].bar_index - warm_up == trades.entry_index[-1]
        assert opened[-1].quantity == pytest.approx(trades.quantity[-1], rel=1e-12)
        assert opened[-1].price == pytest.approx(trades.entry_price[-1], rel=1e-12)


def assert_same_equity(steps: list[list], result) -> None:
    marks = [events[-1] for events in steps]
    assert all(isinstance(mark, BarMarked) for mark in marks)
    # The simulator's last bar closes the position at end of data; the stepper's does not.
    for field in ("equity", "drawdown", "exposure"):
        np.testing.assert_allclose(
            [getattr(mark, field) for mark in marks[:-1]],
            getattr(result, field)[:-1],
            rtol=1e-12,
            atol=1e-9,
            err_msg=field,
        )


@pytest.mark.parametrize("case", list(CASES))
def test_same_trades_as_the_simulator(case):
    rules, config, seed = CASES[case]
    bars = hourly_bars(BARS, seed)
    stepper, steps, result = run_both(rules, config, bars, WARM_UP)
    assert_same_trades(steps, result, WARM_UP, bars)
    assert_same_equity(steps, result)
    # Long enough that the trailing window really trails (is not the whole history).
    assert stepper.window_length < BARS - WARM_UP

    events = [event for events in steps for event in events]
    exits = {event.exit_reason for event in events if isinstance(event, TradeClosed)}
    assert EXPECTED_EXITS.get(case, set()) <= exits
    halts = [event.limit for event in events if isinstance(event, TradingHalted)]
    assert set(halts) == EXPECTED_HALTS.get(case, set())
    if "daily_loss_limit" in halts:
        assert halts.count("daily_loss_limit") > 1  # it resets each UTC day


def test_same_trades_as_run_strategy_when_the_warm_up_is_the_lookback():
    """With a warm-up of `lookback` bars (where no rule can fire yet), a session equals a
    plain backtest run (runner.run_strategy, config built by the validators) over all
    the bars."""
    strategy = template_strategy("ema_cross")
    strategy["config"]["risk"] = {"stop_loss": 0.03, "daily_loss_limit": 0.02}
    run_parameters = validators.merge_run_parameters(strategy["config"], {"fee": 0.0005})
    bars_per_year = 24 * 365
    config = validators.build_engine_config(run_parameters, bars_per_year)
    bars = hourly_bars(2000, seed=7)
    result = run_strategy(bars, strategy, run_parameters, bars_per_year)

    warm_up = lookback(
        strategy["entry_rules"], strategy["exit_rules"], run_parameters["parameters"]
    )
    stepper = BarStepper(
        strategy["entry_rules"],
        strategy["exit_rules"],
        run_parameters["parameters"],
        config,
        bars_slice(bars, 0, warm_up),
    )
    steps = [stepper.step(bar_at(bars, index)) for index in range(warm_up, len(bars))]
    from_warm_up_end = result_from(result, warm_up)
    assert_same_trades(steps, from_warm_up_end, warm_up, bars)
    assert_same_equity(steps, from_warm_up_end)
    assert (result.equity[:warm_up] == config.cash).all()


def result_from(result, skipped: int):
    """`result` seen from bar `skipped` on (the warm-up bars held no trade)."""
    assert (result.trades.entry_index >= skipped).all()
    trades = result.trades
    return type(result)(
        bars=result.bars,
        config=result.config,
        trades=type(trades)(
            **{
                name: getattr(trades, name) - skipped
                if name in ("entry_index", "exit_index")
                else getattr(trades, name)
                for name in trades.__dataclass_fields__
            }
        ),
        equity=result.equity[skipped:],
        drawdown=result.drawdown[skipped:],
        exposure=result.exposure[skipped:],
    )


# ---------------------------------------------------------------------------------------
# Persistence and the kill switch.


@pytest.mark.parametrize("case", ["stops_and_trailing", "kill_switch_drawdown"])
def test_state_round_trip_mid_stream_changes_nothing(case):
    rules, config, seed = CASES[case]
    bars = hourly_bars(BARS, seed)
    _, uninterrupted, _ = run_both(rules, config, bars, WARM_UP)

    entry_rules, exit_rules, parameters = rules
    stepper = BarStepper(entry_rules, exit_rules, parameters, config, bars_slice(bars, 0, WARM_UP))
    steps = []
    restarts = 0
    for index in range(WARM_UP, len(bars)):
        steps.append(stepper.step(bar_at(bars, index)))
        if index % 97 == 0 or (stepper.position != 0 and index % 13 == 0):
            # A restart: the state through JSON (strict: no inf or NaN), the bars
            # reloaded from the "store" (only the window the strategy needs).
            state = json.loads(json.dumps(stepper.to_state(), allow_nan=False))
            start = max(0, index + 1 - stepper.window_length)
            stepper = BarStepper.from_state(
                state,
                entry_rules,
                exit_rules,
                parameters,
                config,
                bars_slice(bars, start, index + 1),
            )
            assert stepper.to_state() == state
            restarts += 1
    assert restarts > 10
    assert steps == uninterrupted


def test_state_names_what_a_session_shows():
    rules, config, seed = CASES["stops_and_trailing"]
    bars = hourly_bars(600, seed)
    stepper = BarStepper(*rules, config, bars_slice(bars, 0, WARM_UP))
    index = WARM_UP
    while stepper.position == 0:
        stepper.step(bar_at(bars, index))
        index += 1
    state = stepper.to_state()
    assert state["position"] == stepper.position
    assert state["cash"] + state["position"] * bars.close[index - 1] == pytest.approx(
        state["equity"]
    )
    trade = state["open_trade"]
    assert trade["entry_index"] == index - 1  # next_open: filled at this bar's open
    assert trade["entry_time"] == bars.timestamp[index - 1]
    assert trade["stop_price"] == pytest.approx(
        trade["entry_price"] * (1 - 0.03 * np.sign(state["position"]))
    )
    assert state["breakers"] == {
        "max_drawdown": False,
        "daily_loss_limit": False,
        "kill_switch": False,
    }
    assert {"peak_equity", "day_open_equity", "pending_order", "last_timestamp"} <= set(state)


def test_from_state_refuses_history_that_does_not_end_at_the_last_bar():
    rules, config, seed = CASES["sma_cross_both"]
    bars = hourly_bars(400, seed)
    stepper = BarStepper(*rules, config, bars_slice(bars, 0, WARM_UP))
    for index in range(WARM_UP, 300):
        stepper.step(bar_at(bars, index))
    with pytest.raises(ValueError, match="load the candles up to that bar"):
        BarStepper.from_state(stepper.to_state(), *rules, config, bars_slice(bars, 0, 299))
    with pytest.raises(ValueError, match="the strategy needs the last"):
        BarStepper.from_state(stepper.to_state(), *rules, config, bars_slice(bars, 295, 300))


def test_kill_switch_closes_at_the_last_close_and_halts_for_good():
    rules, config, seed = CASES["stops_and_trailing"]
    bars = hourly_bars(800, seed)
    stepper = BarStepper(*rules, config, bars_slice(bars, 0, WARM_UP))
    index = WARM_UP
    while stepper.position == 0:
        stepper.step(bar_at(bars, index))
        index += 1
    side = 1 if stepper.position > 0 else -1
    events = stepper.kill()
    closed, halted = events
    assert isinstance(closed, TradeClosed) and closed.exit_reason == "kill_switch"
    assert closed.exit_index == index - 1 and closed.exit_time == bars.timestamp[index - 1]
    assert closed.exit_price == pytest.approx(bars.close[index - 1] * (1 - side * 0.0005))
    assert halted == TradingHalted(index - 1, int(bars.timestamp[index - 1]), "kill_switch")
    assert stepper.halted and stepper.position == 0
    assert stepper.kill() == []

    restored = BarStepper.from_state(
        json.loads(json.dumps(stepper.to_state())),
        *rules,
        config,
        bars_slice(bars, 0, index),
    )
    later = [restored.step(bar_at(bars, i)) for i in range(index, len(bars))]
    assert all(len(events) == 1 and isinstance(events[0], BarMarked) for events in later)
    assert {events[0].equity for events in later} == {stepper.equity}


def test_events_report_the_order_then_its_fill():
    rules, config, seed = CASES["sma_cross_both"]
    bars = hourly_bars(600, seed)
    stepper = BarStepper(*rules, config, bars_slice(bars, 0, WARM_UP))
    steps = [stepper.step(bar_at(bars, index)) for index in range(WARM_UP, len(bars))]
    for before, after in itertools.pairwise(steps):
        queued = [event for event in before if isinstance(event, OrderQueued)]
        fills = [event for event in after if isinstance(event, PositionOpened | TradeClosed)]
        signalled = [
            event
            for event in fills
            if not isinstance(event, TradeClosed)
            or event.exit_reason in ("exit_signal", "reversal")
        ]
        assert bool(queued) == bool(signalled)
    assert all(json.dumps(event_dict(event)) for events in steps for event in events)


def test_a_bar_out_of_order_is_refused_and_changes_nothing():
    rules, config, seed = CASES["sma_cross_both"]
    bars = hourly_bars(300, seed)
    stepper = BarStepper(*rules, config, bars_slice(bars, 0, WARM_UP))
    stepper.step(bar_at(bars, WARM_UP))
    state = stepper.to_state()
    for index in (WARM_UP, WARM_UP - 1):
        with pytest.raises(ValueError, match="is not after the last bar"):
            stepper.step(bar_at(bars, index))
    assert stepper.to_state() == state


# ---------------------------------------------------------------------------------------
# The bounded window.


def test_every_catalogue_indicator_has_a_declared_memory():
    for name in INDICATORS:
        rules = {"long": {"left": {"indicator": name}, "op": ">", "right": {"value": 0}}}
        if name == "obv":
            with pytest.raises(NotIncremental, match="running total"):
                window_length(rules, {}, {})
        else:
            assert window_length(rules, {}, {}) > INDICATORS[name].lookback(
                INDICATORS[name].with_defaults({})
            )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("ema", {"window": 50}),
        ("rsi", {"window": 14}),
        ("atr", {"window": 20}),
        ("adx", {"window": 14}),
        ("macd", {"fast": 12, "slow": 26}),
        ("macd_signal", {"fast": 12, "slow": 26, "signal": 9}),
        ("macd_histogram", {"fast": 5, "slow": 35, "signal": 5}),
        ("sma", {"window": 30}),
        ("bollinger_upper", {"window": 20}),
        ("cci", {"window": 20}),
        ("stoch_d", {"window": 14}),
        ("vwap", {"window": 14}),
    ],
)
def test_the_window_reproduces_the_full_history_value(name, params):
    """The documented bound: on `window_length` trailing bars a recursive indicator's
    newest value equals the full history's to float rounding; on a window of only its
    lookback it would not (so the settling bars are what makes it exact)."""
    rules = {
        "long": {"left": {"indicator": name, "params": params}, "op": ">", "right": {"value": 0}}
    }
    window = window_length(rules, {}, {})
    bars = hourly_bars(window + 3000, seed=11)
    full = compute_indicator(name, bars, params)
    for end in (window + 500, window + 1700, len(bars)):
        trailing = compute_indicator(name, bars_slice(bars, end - window, end), params)
        assert trailing[-1] == pytest.approx(full[end - 1], rel=1e-12, abs=1e-10)
    if name in ("ema", "rsi", "atr", "adx", "macd", "macd_signal"):
        short = INDICATORS[name].lookback(INDICATORS[name].with_defaults(params)) + 1
        assert compute_indicator(name, bars_slice(bars, len(bars) - short, None), params)[
            -1
        ] != pytest.approx(full[-1], rel=1e-9)


def test_work_per_step_does_not_grow_with_history(monkeypatch):
    """Each step evaluates the rules on at most `window_length` bars, so 100 steps after
    10,000 bars of history cost what they cost after 1,000."""
    entry_rules, exit_rules, parameters = template_rules("rsi_reversion")
    config = EngineConfig(direction="both", risk=RiskLimits(stop_loss=0.02))
    evaluated: list[int] = []
    real_compile = stepper_module.compile_signals

    def counting_compile(bars, *args, **kwargs):
        evaluated.append(len(bars))
        return real_compile(bars, *args, **kwargs)

    monkeypatch.setattr(stepper_module, "compile_signals", counting_compile)
    bars = hourly_bars(10_200, seed=12)

    def seconds_per_100_steps(history: int) -> float:
        stepper = BarStepper(
            entry_rules, exit_rules, parameters, config, bars_slice(bars, 0, history)
        )
        evaluated.clear()
        start = time.perf_counter()
        for index in range(history, history + 100):
            stepper.step(bar_at(bars, index))
        elapsed = time.perf_counter() - start
        assert evaluated == [stepper.window_length] * 100
        return elapsed

    seconds_per_100_steps(1_000)  # warm caches (numba, pandas) before timing
    short = min(seconds_per_100_steps(1_000) for _ in range(2))
    long = min(seconds_per_100_steps(10_000) for _ in range(2))
    assert long < 3 * short, (short, long)
