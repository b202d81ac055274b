"""Strategy pages: the list, a new strategy (blank or from a template) and one strategy.

The views only look strategies up through `backtest.selectors` (so another user's private
strategy is a 404) and tell the template what the user may do; every write goes through
the REST API from `static/js/strategy-builder.js`, so the API's validation, permissions
and audit apply to the pages as they do to any client.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, path, reverse

from accounts.sharing import can_share
from backtest import selectors
from backtest.api.serializers import StrategySerializer
from backtest.models import Strategy


def _new_backtest_url() -> str:
    """The backtest form (another page's URL), or its documented path before it exists."""
    try:
        return reverse("backtest-new-page")
    except NoReverseMatch:
        return "/backtests/new/"


def _may_create(user: Any) -> bool:
    """Creating a strategy (new or a copy) through the API takes both permissions: the
    create endpoint is guarded like every run endpoint. Buttons are offered only with both."""
    return selectors.can_create_strategies(user) and selectors.can_run_backtests(user)


@login_required
def strategy_list(request: HttpRequest) -> HttpResponse:
    """Every strategy the user can see: their own, shared with them, and public ones."""
    user = request.user
    strategies = selectors.visible_strategies(user).order_by("-updated_at", "id")
    editable = set(
        selectors.editable_strategies(user)
        .filter(pk__in=strategies.values("pk"))
        .values_list("pk", flat=True)
    )
    rows = [
        {
            "strategy": strategy,
            "mine": strategy.owner_id == user.pk,
            "editable": strategy.pk in editable,
        }
        for strategy in strategies
    ]
    return render(
        request,
        "backtest/strategies/list.html",
        {
            "rows": rows,
            "can_create": _may_create(user),
            "can_run": selectors.can_run_backtests(user),
            "new_backtest_url": _new_backtest_url(),
            "page": {**_api_urls(), "new_url": reverse("strategy-new-page")},
        },
    )


@login_required
def strategy_new(request: HttpRequest) -> HttpResponse:
    """The rule builder on a new strategy; `?template=<name>` preselects a template."""
    user = request.user
    if not _may_create(user):
        raise PermissionDenied("You need the analyst role to create strategies.")
    page = {
        "strategy": None,
        "template": request.GET.get("template", ""),
        "editable": True,
        "can_publish": True,
        "can_delete": False,
        "can_duplicate": False,
        **_api_urls(),
    }
    return render(
        request,
        "backtest/strategies/detail.html",
        {"strategy": None, "page": page, "editable": True, "can_publish": True},
    )


@login_required
def strategy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One strategy in the rule builder: editable, or read-only for those who may not
    change it (the API refuses their writes anyway)."""
    user = request.user
    strategy: Strategy = get_object_or_404(selectors.visible_strategies(user), pk=pk)
    editable = selectors.editable_strategies(user).filter(pk=pk).exists()
    sharing = can_share(user, strategy)
    page = {
        "strategy": StrategySerializer(strategy).data,
        "template": "",
        "editable": editable,
        # The API lets only those who may share it make a strategy public or private.
        "can_publish": editable and sharing,
        "can_delete": selectors.deletable_strategies(user).filter(pk=pk).exists(),
        "can_duplicate": _may_create(user),
        **_api_urls(),
    }
    return render(
        request,
        "backtest/strategies/detail.html",
        {
            "strategy": strategy,
            "page": page,
            "editable": editable,
            "can_publish": page["can_publish"],
            "can_delete": page["can_delete"],
            "can_duplicate": page["can_duplicate"],
            "can_share": sharing,
            "can_run": selectors.can_run_backtests(user),
            "share_url": reverse("strategy-shares", args=[pk]),
            "new_backtest_url": _new_backtest_url(),
            "saved": request.GET.get("saved") == "1",
        },
    )


def _api_urls() -> dict[str, str]:
    return {
        "list_url": reverse("strategy-list"),
        "validate_url": reverse("strategy-validate"),
        "templates_url": reverse("strategy-templates"),
        "indicators_url": reverse("indicator-catalogue"),
        "pages_url": reverse("strategy-pages"),
    }


urlpatterns = [
    path("strategies/", strategy_list, name="strategy-pages"),
    path("strategies/new/", strategy_new, name="strategy-new-page"),
    path("strategies/<int:pk>/", strategy_detail, name="strategy-page"),
]
