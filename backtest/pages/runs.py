"""Pages for running backtests and reading their results.

Thin views: objects are looked up only through backtest.selectors (another user's run
is 404), the templates get permission flags so a viewer sees no controls, and every
write (submit, cancel, share) goes through the REST API from the page's script.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path

from accounts.sharing import can_share
from backtest import selectors
from backtest.models import Backtest, RunStatus
from backtest.overlays import backtest_overlays

# Candle buckets the result chart asks the market-data API for; the indicator
# overlays are sampled at the same buckets.
CHART_POINTS = 2000
LIST_PAGE_SIZE = 50


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@login_required
def backtest_list(request: HttpRequest) -> HttpResponse:
    """The user's visible runs (own, shared, cells of shared sweeps), newest first,
    optionally of one status; two or more can be picked for the comparison page."""
    runs = selectors.visible_backtests(request.user)
    status = request.GET.get("status", "")
    if status in RunStatus.values:
        runs = runs.filter(status=status)
    page = Paginator(runs, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    positions = selectors.queue_positions(list(page.object_list))
    for run in page.object_list:
        run.queue_position = positions.get(run.pk)
    return render(
        request,
        "backtest/runs/list.html",
        {
            "page": page,
            "status": status,
            "statuses": RunStatus.choices,
            "can_run": selectors.can_run_backtests(request.user),
        },
    )


def _prefill(backtest: Backtest) -> dict:
    """What a new run copied from `backtest` starts from: its data range and the
    engine parameters it ran with (the completed set, defaults included)."""
    parameters = dict(backtest.parameters or {})
    return {
        "from": backtest.pk,
        "strategy": backtest.strategy_id,
        "symbol": backtest.symbol,
        "timeframe": backtest.timeframe,
        "source": backtest.source,
        "start": _iso(backtest.start_time),
        "end": _iso(backtest.end_time),
        "parameters": parameters.pop("parameters", {}) or {},
        "options": {
            key: parameters.get(key)
            for key in ("cash", "fee", "slippage", "direction", "fill", "sizing", "risk")
        },
    }


@login_required
def backtest_new(request: HttpRequest) -> HttpResponse:
    """The run form; `?strategy=<id>` preselects a strategy, `?from=<backtest id>`
    copies a run's strategy, range and settings ("re-run with edits")."""
    can_run = selectors.can_run_backtests(request.user)
    source_run = None
    if can_run and request.GET.get("from", "").isdigit():
        source_run = get_object_or_404(
            selectors.visible_backtests(request.user), pk=int(request.GET["from"])
        )
    strategies = list(selectors.visible_strategies(request.user).filter(is_active=True))
    strategy_ids = {strategy.pk for strategy in strategies}
    selected = request.GET.get("strategy", "")
    prefill = _prefill(source_run) if source_run else {}
    if source_run is None and selected.isdigit() and int(selected) in strategy_ids:
        prefill["strategy"] = int(selected)
    strategy_data = [
        {
            "id": strategy.pk,
            "name": strategy.name,
            "owner": strategy.owner.username,
            "config": strategy.config or {},
        }
        for strategy in strategies
    ]
    return render(
        request,
        "backtest/runs/new.html",
        {
            "can_run": can_run,
            "strategies": strategies,
            "source_run": source_run,
            "strategy_missing": bool(source_run) and source_run.strategy_id not in strategy_ids,
            "page_data": {"strategies": strategy_data, "prefill": prefill},
        },
    )


@login_required
def backtest_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One run: live progress while it waits or runs, then its result in place."""
    backtest = get_object_or_404(selectors.visible_backtests(request.user), pk=pk)
    can_manage = selectors.manageable_backtests(request.user).filter(pk=pk).exists()
    can_rerun = can_manage and selectors.can_run_backtests(request.user)
    overlays = backtest_overlays(backtest, CHART_POINTS)
    page_data = {
        "id": backtest.pk,
        "status": backtest.status,
        "progress": backtest.progress,
        "error": backtest.error,
        "symbol": backtest.symbol,
        "timeframe": backtest.timeframe,
        "source": backtest.source,
        "start": _iso(backtest.start_time),
        "end": _iso(backtest.end_time),
        "chart_points": CHART_POINTS,
        "overlays": [{"label": o.label, "pane": o.pane, "points": o.points} for o in overlays],
    }
    return render(
        request,
        "backtest/runs/detail.html",
        {
            "backtest": backtest,
            "strategy_name": (backtest.strategy_snapshot or {}).get("name", ""),
            "queue_position": selectors.queue_positions([backtest]).get(backtest.pk),
            "can_manage": can_manage,
            "can_rerun": can_rerun,
            "can_share": can_share(request.user, backtest),
            "page_data": page_data,
        },
    )


urlpatterns = [
    path("backtests/", backtest_list, name="backtest-pages"),
    path("backtests/new/", backtest_new, name="backtest-new-page"),
    path("backtests/<int:pk>/", backtest_detail, name="backtest-page"),
]
