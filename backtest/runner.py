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


def run_strategy(
    bars: Bars,
    snapshot: dict,
    run_parameters: dict,
    bars_per_year: float,
    progress: Callable[[float], None] | None = None,
) -> EngineResult:
    """`snapshot` holds entry_rules and exit_rules; `run_parameters` is what
    validators.merge_run_parameters made of the strategy config and the run's options."""
    entry_rules, exit_rules = snapshot["entry_rules"], snapshot["exit_rules"]
    strategy_parameters = run_parameters.get("parameters", {})
    needed = lookback(entry_rules, exit_rules, strategy_parameters) + 2
    if len(bars) < needed:
        raise TooFewBars(
            f"the range holds {len(bars)} bars; this strategy needs at least {needed} "
            "(its longest indicator warm-up plus one bar to act on)"
        )
    config = validators.build_engine_config(run_parameters, None, bars_per_year)
    atr_window = config.sizing.atr_window if config.sizing.mode == "risk" else None
    signals = compile_signals(bars, entry_rules, exit_rules, strategy_parameters, atr_window)
    if progress is not None:
        progress(0.0)  # signals are ready; the simulation reports from here
    return simulate(bars, signals, config, progress=progress)
