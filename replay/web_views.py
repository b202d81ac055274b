"""Browser pages of transactions and replays.

The pages are thin: objects are looked up only through the permission-aware selectors
(someone else's replay or backtest is a 404), the permission flags decide which
controls are drawn, and every write goes through the REST API from the page's script,
so the API's validation, permissions and audit apply to the browser as to any client.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse

from accounts.sharing import can_share
from backtest.models import FINAL_STATUSES, RunStatus
from backtest.selectors import visible_backtests
from marketdata.timeframes import TIMEFRAME_CHOICES, get_timeframe
from replay import selectors
from replay.backtest_comparison import backtest_period, default_tolerance_seconds
from replay.importers.detect import FORMAT_CHOICES
from replay.importers.generic import FIELDS as GENERIC_FIELDS
from replay.importers.generic import REQUIRED as GENERIC_REQUIRED
from replay.models import FillModel

FORMAT_LABELS = {
    "auto": "Recognise from the header",
    "binance_trades": "Binance trade-history export",
    "generic": "Generic CSV (one row per fill)",
}


def _choices() -> dict:
    """The choices the page's forms offer, straight from the API's own lists."""
    return {
        "timeframes": [code for code, _ in TIMEFRAME_CHOICES],
        "fills": [{"value": value, "label": label} for value, label in FillModel.choices],
    }


@login_required
def transaction_pages(request: HttpRequest) -> HttpResponse:
    """Upload or fetch fills, browse and filter them, launch replays. A viewer sees the
    fills shared with them and no import or replay controls (the API refuses anyway)."""
    user = request.user
    can_import = selectors.can_import_transactions(user)
    can_replay = selectors.can_run_replays(user)
    page_data = {
        "username": user.get_username(),
        "can_import": can_import,
        "can_replay": can_replay,
        # Who may share an import: its owner, or whoever changes every import (operators),
        # as accounts.sharing.can_share decides for one object.
        "share_all_imports": user.has_perm("replay.change_importbatch"),
        "settings_url": _optional_url("settings-page"),
        **_choices(),
    }
    context = {
        "can_import": can_import,
        "can_replay": can_replay,
        "formats": [(value, FORMAT_LABELS.get(value, value)) for value in FORMAT_CHOICES],
        "mapping_fields": [
            {"name": name, "required": name in GENERIC_REQUIRED} for name in GENERIC_FIELDS
        ],
        "timeframes": page_data["timeframes"],
        "fills": FillModel.choices,
        "page_data": page_data,
    }
    return render(request, "replay/transactions.html", context)


@login_required
def replay_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One replay: live progress until it ends, then its result in place."""
    user = request.user
    run = get_object_or_404(selectors.visible_replay_runs(user), pk=pk)
    backtest_visible = (
        run.backtest_id is not None and visible_backtests(user).filter(pk=run.backtest_id).exists()
    )
    page_data = {
        "id": run.pk,
        "api": reverse("replay-detail", args=[run.pk]),
        "executions": reverse("replay-executions", args=[run.pk]),
        "cancel": reverse("replay-cancel", args=[run.pk]),
        "ws": f"/ws/replays/{run.pk}/",
        "status": run.status,
        "progress": round(float(run.progress), 2),
        "transaction_count": run.transaction_count,
        "final": run.status in FINAL_STATUSES,
        "timeframe": run.timeframe,
        "timeframe_seconds": get_timeframe(run.timeframe).seconds,
        "source": run.parameters.get("source", "binance"),
        "backtest": run.backtest_id if backtest_visible else None,
    }
    context = {
        "run": run,
        "can_cancel": selectors.manageable_replay_runs(user).filter(pk=run.pk).exists(),
        "can_share": can_share(user, run),
        "share_url": reverse("replay-shares", args=[run.pk]),
        "backtest_visible": backtest_visible,
        "page_data": page_data,
    }
    return render(request, "replay/replay.html", context)


@login_required
def replay_new_page(request: HttpRequest) -> HttpResponse:
    """Compare my trades with a backtest: its symbol and period, the comparison's
    options, and the launch (POST /api/backtests/<id>/replay/)."""
    try:
        backtest_id = int(request.GET.get("backtest", ""))
    except ValueError:
        raise Http404("Name the backtest to compare with: ?backtest=<id>.") from None
    backtest = get_object_or_404(visible_backtests(request.user), pk=backtest_id)
    completed = backtest.status == RunStatus.COMPLETED and "data_start" in backtest.metadata
    period = backtest_period(backtest) if completed else None
    can_replay = selectors.can_run_replays(request.user)
    context = {
        "backtest": backtest,
        "strategy_name": (backtest.strategy_snapshot or {}).get("name")
        or (backtest.strategy.name if backtest.strategy else ""),
        "completed": completed,
        "period": period,
        "can_replay": can_replay,
        "tolerance": default_tolerance_seconds(backtest),
        "timeframes": _choices()["timeframes"],
        "fills": FillModel.choices,
        "page_data": {
            "backtest": backtest.pk,
            "launch": reverse("backtest-replay", args=[backtest.pk]),
        },
    }
    return render(request, "replay/replay_new.html", context)


def _optional_url(name: str) -> str | None:
    """A page another app owns, when it is wired (a link, not a dependency)."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None
