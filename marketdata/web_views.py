"""The market-data page: a thin shell over the market-data REST API.

Everything the page shows (stored series, candles, sync runs) and does (start or cancel
a sync) goes through /api/market-data/ from static/js/market.js, so the API's
validation, permissions and audit trail apply; the view only says who may sync.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from marketdata.selectors import can_sync_market_data


@login_required
def market_page(request: HttpRequest) -> HttpResponse:
    """Candles of one stored series; for operators also the sync runs and a sync form.

    `?symbol=&timeframe=&source=` preselects a series (the script keeps the URL in step
    with the pickers), so a chart can be linked to.
    """
    can_sync = can_sync_market_data(request.user)
    page_data = {
        "symbol": request.GET.get("symbol", ""),
        "timeframe": request.GET.get("timeframe", ""),
        "source": request.GET.get("source", ""),
        "can_sync": can_sync,
    }
    return render(request, "marketdata/market.html", {"can_sync": can_sync, "page_data": page_data})
