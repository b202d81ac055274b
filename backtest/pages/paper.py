"""Paper-trading pages: the user's sessions with a start form, and one session live.

Thin views: sessions are looked up only through backtest.paper's selectors (the API's),
so another user's session is 404; the templates get permission flags so nobody sees a
button the API would refuse; starting, stopping and the kill switch go through the REST
API from the page's script.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path

from backtest import paper, selectors
from backtest.models import PaperStatus


@login_required
def paper_list(request: HttpRequest) -> HttpResponse:
    """The sessions the user may see, newest first, and (for analysts) the start form."""
    can_start = paper.can_start_sessions(request.user)
    strategies = (
        list(selectors.visible_strategies(request.user).filter(is_active=True)) if can_start else []
    )
    return render(
        request,
        "backtest/paper/list.html",
        {
            "sessions": paper.visible_sessions(request.user).order_by("-created_at", "-pk")[:200],
            "can_start": can_start,
            "strategies": strategies,
            "page_data": {
                "strategies": [
                    {"id": s.pk, "name": s.name, "config": s.config or {}} for s in strategies
                ]
            },
        },
    )


@login_required
def paper_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One session: status, breaker, equity, position and trades, updated live."""
    session = get_object_or_404(paper.visible_sessions(request.user), pk=pk)
    running = session.status == PaperStatus.RUNNING
    can_stop = paper.manageable_sessions(request.user).filter(pk=pk).exists()
    return render(
        request,
        "backtest/paper/detail.html",
        {
            "session": session,
            "running": running,
            "can_stop": can_stop,
            "can_kill": paper.can_kill_sessions(request.user),
            "strategy_name": (session.strategy_snapshot or {}).get("name", ""),
            "page_data": {"id": session.pk, "status": session.status},
        },
    )


urlpatterns = [
    path("paper/", paper_list, name="paper-pages"),
    path("paper/<int:pk>/", paper_detail, name="paper-page"),
]
