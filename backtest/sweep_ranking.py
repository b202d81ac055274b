"""A sweep's cells ranked by one metric, best first.

Higher is better for every rankable metric except the losses and costs in
LOWER_IS_BETTER. Cells without a value (not completed yet, failed, or the metric is
undefined for them, e.g. a Sharpe ratio without volatility) come last, in cell order.
"""

from __future__ import annotations

from dataclasses import dataclass

from backtest.models import Backtest, PerformanceSummary, Sweep

LOWER_IS_BETTER = frozenset(
    {
        "max_drawdown",
        "max_drawdown_percentage",
        "annualized_volatility",
        "fees_paid",
        "losing_trades",
    }
)
HEADLINE_METRICS = (
    "total_pnl_percentage",
    "sharpe_ratio",
    "max_drawdown_percentage",
    "total_trades",
)


@dataclass(frozen=True)
class RankedCell:
    rank: int | None  # 1 = best; None when the cell has no value to rank by
    backtest: Backtest
    parameters: dict  # the cell's grid values
    value: float | None
    headline: dict[str, float | int | None]


def metric_value(backtest: Backtest, metric: str) -> float | int | None:
    """A completed run's metric as computed (its summary's `metrics` holds them all)."""
    try:
        summary = backtest.performance_summary
    except PerformanceSummary.DoesNotExist:
        return None
    value = (summary.metrics or {}).get(metric)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def cell_parameters(sweep: Sweep, backtest: Backtest) -> dict:
    """The grid values this cell ran with."""
    parameters = (backtest.parameters or {}).get("parameters") or {}
    return {name: parameters.get(name) for name in sorted(sweep.grid)}


def sweep_ranking(sweep: Sweep, metric: str | None = None) -> list[RankedCell]:
    """Every cell of the sweep, best first by `metric` (default: the sweep's own).

    Reads `sweep.backtests.all()`: prefetch it (with performance_summary) when ranking
    many sweeps.
    """
    metric = metric or sweep.rank_metric
    descending = metric not in LOWER_IS_BETTER
    cells = sorted(sweep.backtests.all(), key=lambda backtest: backtest.pk)
    valued = [(backtest, metric_value(backtest, metric)) for backtest in cells]
    with_value = sorted(
        (pair for pair in valued if pair[1] is not None),
        key=lambda pair: -pair[1] if descending else pair[1],
    )
    without_value = [pair for pair in valued if pair[1] is None]
    ranked = []
    for position, (backtest, value) in enumerate(with_value + without_value, start=1):
        ranked.append(
            RankedCell(
                rank=position if value is not None else None,
                backtest=backtest,
                parameters=cell_parameters(sweep, backtest),
                value=value,
                headline={name: metric_value(backtest, name) for name in HEADLINE_METRICS},
            )
        )
    return ranked
