"""The market-data page: a thin shell over the market-data REST API.

Everything the page shows (stored series, candles, sync runs) and does (start or cancel
a sync) goes through /api/market-data/ from static/js/market.js, so the API's
validation, permissions and audit trail apply; the view only says who may sync and
who may import candle files (and passes the import form's choices, so they follow the API).
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from marketdata.importers.formats import FORMATS
from marketdata.models import DEFAULT_SOURCE
from marketdata.selectors import can_import_candles, can_sync_market_data


@login_required
def market_page(request: HttpRequest) -> HttpResponse:
    """Candles of one stored series; for operators also the sync runs and a sync form,
    for users who may import candles (analysts, operators) an upload form.

    `?symbol=&timeframe=&source=` preselects a series (the script keeps the URL in step
    with the pickers), so a chart can be linked to.
    """
    can_sync = can_sync_market_data(request.user)
    can_import = can_import_candles(request.user)
    page_data = {
        "symbol": request.GET.get("symbol", ""),
        "timeframe": request.GET.get("timeframe", ""),
        "source": request.GET.get("source", ""),
        "can_sync": can_sync,
    }
    context = {
        "can_sync": can_sync,
        "can_import": can_import,
        "import_formats": FORMATS,
        "default_source": DEFAULT_SOURCE,
        "import_max_bytes": settings.MARKET_IMPORT_MAX_UPLOAD_BYTES,
        "page_data": page_data,
    }
    return render(request, "marketdata/market.html", context)
