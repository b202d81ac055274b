"""Server-rendered pages of the project itself (the analysts' UI lives in the apps)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from backtest import selectors as backtest_selectors
from marketdata.selectors import stored_series

RECENT_RUNS = 10


def home(request: HttpRequest) -> HttpResponse:
    """Where a browser lands. Anonymous visitors get the links to sign in, the admin
    and the API; signed-in users their dashboard: their recent backtests (live status,
    place in the queue, failures) and what market data is stored (the catalogue is not
    public, as in the API)."""
    if not request.user.is_authenticated:
        return render(request, "home.html", {})
    runs = list(backtest_selectors.visible_backtests(request.user)[:RECENT_RUNS])
    positions = backtest_selectors.queue_positions(runs)
    for run in runs:
        run.queue_position = positions.get(run.pk)
    return render(
        request,
        "home.html",
        {
            "series": stored_series(),
            "runs": runs,
            "recent_runs": RECENT_RUNS,
            "can_run": backtest_selectors.can_run_backtests(request.user),
        },
    )
