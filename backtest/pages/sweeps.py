"""The parameter-sweep pages: the list, the launch form and one sweep's results.

The views only check access and hand the page what its script needs (permission flags,
the API's URLs, the choices of the form); every read of progress and results and every
write (launch, cancel, share) goes through the sweep API from the browser, so its
validation, permissions and audit apply.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse

from accounts.sharing import can_share
from backtest import selectors, strategy_templates
from backtest.models import ACTIVE_STATUSES
from backtest.pages.comparison import backtest_page_pattern, metric_choices
from marketdata.models import DEFAULT_SOURCE
from marketdata.selectors import stored_series


def _sweep_page_pattern() -> str:
    return reverse("sweep-page", args=[0])


@login_required
def sweep_list_page(request: HttpRequest) -> HttpResponse:
    """Sweeps the user can see, loaded (and refreshed while any runs) from the API."""
    page_data = {
        "api_url": reverse("sweep-list"),
        "sweep_page": _sweep_page_pattern(),
        "active": list(ACTIVE_STATUSES),
        "metrics": metric_choices(),
    }
    return render(
        request,
        "backtest/sweeps/list.html",
        {"can_run": selectors.can_run_sweeps(request.user), "page_data": page_data},
    )


@login_required
def sweep_new_page(request: HttpRequest) -> HttpResponse:
    """The launch form; users without the right to run sweeps are refused (403), as the
    API would refuse them. Each strategy and template comes with its parameters and its
    engine settings (`config`), which the form greys in as what applies when left empty."""
    if not selectors.can_run_sweeps(request.user):
        raise PermissionDenied("You may not run sweeps.")
    strategies = [
        {
            "id": strategy.pk,
            "name": strategy.name,
            "parameters": (strategy.config or {}).get("parameters") or {},
            "config": strategy.config or {},
        }
        for strategy in selectors.visible_strategies(request.user)
        .filter(is_active=True)
        .order_by("name", "id")
    ]
    templates = [
        {
            "name": name,
            "title": template.title,
            "parameters": template.config.get("parameters") or {},
            "config": template.config,
        }
        for name, template in strategy_templates.TEMPLATES.items()
    ]
    series = [
        {
            "symbol": item.symbol.name,
            "timeframe": item.timeframe,
            "source": item.source,
            "first": item.first_timestamp,
            "last": item.last_timestamp,
        }
        for item in stored_series().order_by("symbol__name", "timeframe")
    ]
    page_data = {
        "api_url": reverse("sweep-list"),
        "sweep_page": _sweep_page_pattern(),
        "strategies": strategies,
        "templates": templates,
        "series": series,
        "selected": request.GET.get("strategy", ""),
    }
    context = {
        "page_data": page_data,
        "metrics": metric_choices(),
        "default_source": DEFAULT_SOURCE,
        "sources": sorted({item["source"] for item in series} | {DEFAULT_SOURCE}),
        "symbols": sorted({item["symbol"] for item in series}),
        "timeframes": sorted({item["timeframe"] for item in series}),
    }
    return render(request, "backtest/sweeps/new.html", context)


@login_required
def sweep_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One sweep (404 unless the user can see it); cancel and sharing only for those
    the API lets do them."""
    sweep = get_object_or_404(selectors.visible_sweeps(request.user), pk=pk)
    can_cancel = selectors.manageable_sweeps(request.user).filter(pk=pk).exists()
    page_data = {
        "id": sweep.pk,
        "api_url": reverse("sweep-detail", args=[sweep.pk]),
        "cancel_url": reverse("sweep-cancel", args=[sweep.pk]),
        "backtest_page": backtest_page_pattern(),
        "compare_page": reverse("backtest-compare-page"),
        "metrics": metric_choices(),
        "rank_metric": sweep.rank_metric,
        "grid": sweep.grid,
        "active": list(ACTIVE_STATUSES),
    }
    context = {
        "sweep": sweep,
        "can_cancel": can_cancel,
        "can_share": can_share(request.user, sweep),
        "share_url": reverse("sweep-shares", args=[sweep.pk]),
        "metrics": metric_choices(),
        "page_data": page_data,
    }
    return render(request, "backtest/sweeps/detail.html", context)


urlpatterns = [
    path("sweeps/", sweep_list_page, name="sweep-pages"),
    path("sweeps/new/", sweep_new_page, name="sweep-new-page"),
    path("sweeps/<int:pk>/", sweep_page, name="sweep-page"),
]
