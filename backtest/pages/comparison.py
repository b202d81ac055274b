"""The comparison page: two or more backtests side by side (normalised equity, metrics).

Runs are looked up only through `visible_backtests`, so an id the user may not see is
reported exactly like an id that does not exist: the page never reveals that it exists.
The metrics table is rendered here from each run's stored summary (the same figures the
API returns); the chart loads each curve from the equity API in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse

from backtest.engine.metrics import METRIC_NAMES
from backtest.models import Backtest, PerformanceSummary, RunStatus
from backtest.selectors import visible_backtests
from backtest.sweep_ranking import LOWER_IS_BETTER

MAX_COMPARED = 8  # one colour of the chart palette each
PICKER_SIZE = 100

# What each metric is called on the pages, and how its value reads.
METRIC_LABELS: dict[str, str] = {
    "final_balance": "Final balance",
    "total_pnl": "Total PnL",
    "total_pnl_percentage": "Return %",
    "max_drawdown": "Max drawdown",
    "max_drawdown_percentage": "Max drawdown %",
    "cagr": "CAGR %",
    "annualized_volatility": "Volatility (annual) %",
    "sharpe_ratio": "Sharpe ratio",
    "sortino_ratio": "Sortino ratio",
    "calmar_ratio": "Calmar ratio",
    "exposure_percentage": "Exposure %",
    "buy_and_hold_return": "Buy & hold return %",
    "total_trades": "Trades",
    "long_trades": "Long trades",
    "short_trades": "Short trades",
    "winning_trades": "Winning trades",
    "losing_trades": "Losing trades",
    "win_rate": "Win rate %",
    "profit_factor": "Profit factor",
    "average_win": "Average win",
    "average_loss": "Average loss",
    "largest_win": "Largest win",
    "largest_loss": "Largest loss",
    "expectancy": "Expectancy",
    "sqn": "SQN",
    "kelly_criterion": "Kelly criterion",
    "average_trade_duration_seconds": "Average trade duration",
    "max_trade_duration_seconds": "Longest trade",
    "fees_paid": "Fees paid",
}
# Figures that describe a run rather than rate it: no value of them is "better".
NEUTRAL_METRICS = frozenset(
    {
        "total_trades",
        "long_trades",
        "short_trades",
        "exposure_percentage",
        "buy_and_hold_return",
        "average_trade_duration_seconds",
        "max_trade_duration_seconds",
    }
)
_DURATION_METRICS = frozenset({"average_trade_duration_seconds", "max_trade_duration_seconds"})
_COUNT_METRICS = frozenset(
    {"total_trades", "long_trades", "short_trades", "winning_trades", "losing_trades"}
)


def metric_direction(metric: str) -> str | None:
    """ "higher" or "lower" (which value is better), None for a neutral figure. The
    sweep ranking's own rule, so a comparison and a ranking never disagree."""
    if metric in NEUTRAL_METRICS:
        return None
    return "lower" if metric in LOWER_IS_BETTER else "higher"


def metric_choices() -> list[dict[str, str | None]]:
    """Every metric with its label and direction, for the pages' metric selectors."""
    return [
        {"key": name, "label": METRIC_LABELS.get(name, name), "better": metric_direction(name)}
        for name in METRIC_NAMES
    ]


def backtest_page_pattern() -> str:
    """The backtest page's URL with 0 for the id: scripts that link many runs put each
    run's id in its place."""
    return reverse("backtest-page", args=[0])


@dataclass(frozen=True)
class MetricRow:
    key: str
    label: str
    better: str | None
    cells: list[dict]  # per run: {"run": id, "value", "text", "best": bool}


NO_VALUE = "\N{EN DASH}"  # as the pages' scripts show a missing figure


def _display(metric: str, value: float | int | None) -> str:
    if value is None:
        return NO_VALUE
    if metric in _DURATION_METRICS:
        hours = value / 3600
        return f"{hours:,.1f} h" if hours < 48 else f"{hours / 24:,.1f} d"
    if metric in _COUNT_METRICS:
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"


def metric_rows(runs: list[Backtest]) -> list[MetricRow]:
    """One row per metric, one cell per run; the best value of a rated metric is marked
    (every run that has it, on a tie), unless all runs have the same value."""
    metrics = [_summary_metrics(run) for run in runs]
    rows = []
    for name in METRIC_NAMES:
        values = [m.get(name) if _is_number(m.get(name)) else None for m in metrics]
        better = metric_direction(name)
        present = [v for v in values if v is not None]
        best = None
        if better and len(set(present)) > 1:
            best = max(present) if better == "higher" else min(present)
        cells = [
            {
                "run": run.pk,
                "value": value,
                "text": _display(name, value),
                "best": best is not None and value == best,
            }
            for run, value in zip(runs, values, strict=True)
        ]
        rows.append(MetricRow(name, METRIC_LABELS.get(name, name), better, cells))
    return rows


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _summary_metrics(run: Backtest) -> dict:
    try:
        return run.performance_summary.metrics or {}
    except PerformanceSummary.DoesNotExist:
        return {}


def run_label(run: Backtest) -> str:
    name = (run.strategy_snapshot or {}).get("name") or "backtest"
    return f"#{run.pk} {name}"


def run_parameters(run: Backtest) -> str:
    parameters = (run.parameters or {}).get("parameters") or {}
    return ", ".join(f"{key}={value}" for key, value in sorted(parameters.items())) or NO_VALUE


def requested_ids(values: list[str]) -> tuple[list[int], list[str]]:
    """Ids from `?ids=1,2,3` (or repeated `ids=`, as the picker's checkboxes send them),
    in order without repeats, and the tokens that are not ids."""
    ids: list[int] = []
    bad: list[str] = []
    for value in values:
        for token in value.replace(" ", ",").split(","):
            if not token:
                continue
            if token.isdigit() and int(token) > 0:
                if int(token) not in ids:
                    ids.append(int(token))
            else:
                bad.append(token)
    return ids, bad


@login_required
def compare_page(request: HttpRequest) -> HttpResponse:
    """Backtests side by side; problems with the ids are listed, never a crash."""
    ids, bad = requested_ids(request.GET.getlist("ids"))
    visible = visible_backtests(request.user)
    found = {run.pk: run for run in visible.filter(pk__in=ids)}
    errors = []
    if bad:
        errors.append("Not backtest ids: " + ", ".join(f"“{token}”" for token in bad[:10]) + ".")
    unknown = [pk for pk in ids if pk not in found]
    if unknown:
        listed = ", ".join(f"#{pk}" for pk in unknown)
        errors.append(f"No backtest you can see has the id {listed}.")
    chosen = [found[pk] for pk in ids if pk in found]
    for run in (run for run in chosen if run.status != RunStatus.COMPLETED):
        errors.append(
            f"Backtest #{run.pk} is {run.status}: only completed backtests have results to compare."
        )
    runs = [run for run in chosen if run.status == RunStatus.COMPLETED]
    if len(runs) > MAX_COMPARED:
        errors.append(f"At most {MAX_COMPARED} backtests can be compared at once.")
        runs = runs[:MAX_COMPARED]
    comparable = len(runs) >= 2
    if not comparable:
        runs = []
    pattern = backtest_page_pattern()
    columns = [
        {
            "id": run.pk,
            "label": run_label(run),
            "page_url": pattern.replace("/0/", f"/{run.pk}/"),
            "equity_url": reverse("backtest-equity", args=[run.pk]),
            "market": f"{run.symbol} {run.timeframe}",
            "parameters": run_parameters(run),
            "initial_balance": run.initial_balance,
        }
        for run in runs
    ]
    candidates = visible.filter(status=RunStatus.COMPLETED).order_by("-finished_at", "-id")[
        :PICKER_SIZE
    ]
    context = {
        "errors": errors,
        "comparable": comparable,
        "columns": columns,
        "rows": metric_rows(runs),
        "candidates": [
            {
                "id": run.pk,
                "label": run_label(run),
                "market": f"{run.symbol} {run.timeframe}",
                "sweep": run.sweep_id,
                "finished_at": run.finished_at,
                "checked": run.pk in ids,
            }
            for run in candidates
        ],
        "page_data": {
            "runs": [
                {key: column[key] for key in ("id", "label", "page_url", "equity_url")}
                for column in columns
            ]
        },
    }
    return render(request, "backtest/compare/compare.html", context)


urlpatterns = [
    path("backtests/compare/", compare_page, name="backtest-compare-page"),
]
