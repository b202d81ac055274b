"""A strategy snapshot run on bars in memory: signals, simulation, metrics.

No Django here, so the benchmark and notebooks call it as the worker and the CLI do.
"""

from __future__ import annotations

from collections.abc import Callable

from backtest import validators
from backtest.engine.rules import compile_signals, lookback
from backtest.engine.simulator import simulate
from backtest.engine.types import Bars, EngineResult


class TooFewBars(ValueError):
    """The data range is shorter than the strategy's warm-up."""


def bars_needed(snapshot: dict, run_parameters: dict) -> int:
    """The fewest bars a run can act on: the longest warm-up (indicators, offsets, the
    ATR of risk sizing) plus one bar to signal on and one to fill on."""
    warm_up = lookback(
        snapshot["entry_rules"], snapshot["exit_rules"], run_parameters.get("parameters", {})
    )
    sizing = run_parameters.get("sizing") or {}
    if sizing.get("mode") == "risk":
        warm_up = max(warm_up, int(sizing.get("atr_window") or 0))
    return warm_up + 2


def check_enough_bars(available: int, snapshot: dict, run_parameters: dict) -> None:
    needed = bars_needed(snapshot, run_parameters)
    if available < needed:
        raise TooFewBars(
            f"the range holds {available} bars; this strategy needs at least {needed} "
            "(its longest indicator warm-up plus a bar to signal on and one to fill on)"
        )


def run_strategy(
    bars: Bars,
    snapshot: dict,
    run_parameters: dict,
    bars_per_year: float,
    progress: Callable[[float], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> EngineResult:
    """`snapshot` holds entry_rules and exit_rules; `run_parameters` is what
    validators.merge_run_parameters made of the strategy config and the run's options.

    `progress(done)` is called with 0 to 1 over the simulation, `heartbeat()` after each
    indicator is computed; either may raise to stop the run.
    """
    check_enough_bars(len(bars), snapshot, run_parameters)
    config = validators.build_engine_config(run_parameters, bars_per_year)
    atr_window = config.sizing.atr_window if config.sizing.mode == "risk" else None
    signals = compile_signals(
        bars,
        snapshot["entry_rules"],
        snapshot["exit_rules"],
        run_parameters.get("parameters", {}),
        atr_window,
        on_indicator=heartbeat,
    )
    if progress is not None:
        progress(0.0)  # signals are ready; the simulation reports from here
    return simulate(bars, signals, config, progress=progress)
