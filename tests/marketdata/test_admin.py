"""The market-data admin: read-only candles and series, what operators may see and do."""

from datetime import UTC, datetime

import pytest
from django.test import override_settings
from django.utils.text import Truncator

from marketdata.models import Candle, CandleSeries, Symbol, SyncRun
from marketdata.sample_data import kline_rows
from marketdata.services import get_or_create_symbol, import_candles

PLAIN_STATIC = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
URL = "/admin/marketdata/candlerecord/"


@pytest.fixture
def stored(tmp_path):
    path = tmp_path / "k.csv"
    path.write_bytes(kline_rows(1_704_067_200_000, 60_000, 30, 100.0, seed=5))
    import_candles(path, symbol="BTCUSDT", timeframe="1m")
    path.write_bytes(kline_rows(1_704_067_200_000, 3_600_000, 5, 50.0, seed=6))
    import_candles(path, symbol="ETHUSDT", timeframe="1h")


@pytest.fixture
def admin_client_plain_static(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-Root-1")
    client.force_login(admin)
    with override_settings(STORAGES=PLAIN_STATIC):
        yield client


@pytest.mark.django_db
def test_candle_admin_lists_every_candle_and_filters_by_series(admin_client_plain_static, stored):
    client = admin_client_plain_static
    response = client.get(URL)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 35
    eth = CandleSeries.objects.get(symbol__name="ETHUSDT")
    filtered = client.get(f"{URL}?series__symbol__id__exact={eth.symbol_id}")
    assert filtered.context["cl"].result_count == 5
    hourly = client.get(f"{URL}?series__timeframe=1h")
    assert hourly.context["cl"].result_count == 5
    newest = filtered.context["cl"].result_list[0]
    assert newest.timestamp == Candle.objects.filter(series=eth).latest("timestamp").timestamp


@pytest.mark.django_db
def test_candle_admin_is_read_only(admin_client_plain_static, stored):
    client = admin_client_plain_static
    listing = client.get(URL)
    assert b"Add candle" not in listing.content
    assert client.get(f"{URL}add/").status_code == 403
    record = listing.context["cl"].result_list[0]
    assert client.post(f"{URL}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Candle.objects.count() == 35


SERIES_URL = "/admin/marketdata/candleseries/"
SYMBOL_URL = "/admin/marketdata/symbol/"


@pytest.mark.django_db
def test_candle_series_admin_is_read_only_even_for_superusers(admin_client_plain_static, stored):
    client = admin_client_plain_static
    series = CandleSeries.objects.get(symbol__name="ETHUSDT")
    eth_1h = {"symbol": series.symbol_id, "timeframe": "1h", "source": "binance"}

    listing = client.get(SERIES_URL)
    assert listing.status_code == 200 and b"Add candle series" not in listing.content
    assert client.get(f"{SERIES_URL}{series.pk}/change/").status_code == 200  # viewable
    assert client.get(f"{SERIES_URL}add/").status_code == 403
    relabel = {**eth_1h, "timeframe": "1d"}
    assert client.post(f"{SERIES_URL}{series.pk}/change/", relabel).status_code == 403
    assert client.post(f"{SERIES_URL}{series.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk_delete = {"action": "delete_selected", "_selected_action": [series.pk], "post": "yes"}
    client.post(SERIES_URL, bulk_delete)

    series.refresh_from_db()
    assert (series.timeframe, series.candle_count) == ("1h", 5)
    assert Candle.objects.filter(series=series).count() == 5


@pytest.fixture
def operator_admin(client, operator):
    client.force_login(operator)
    with override_settings(STORAGES=PLAIN_STATIC):
        yield client


@pytest.mark.django_db
def test_operators_see_symbols_series_and_candles(operator_admin, stored):
    client = operator_admin

    index = client.get("/admin/").content.decode()
    for model in ("symbol", "candleseries", "candlerecord", "watchedsymbol", "syncrun"):
        assert f"/admin/marketdata/{model}/" in index
    assert client.get(SYMBOL_URL).context["cl"].result_count == 2
    assert client.get(SERIES_URL).context["cl"].result_count == 2
    assert client.get(URL).context["cl"].result_count == 35


@pytest.mark.django_db
def test_operators_add_symbols_to_watch_but_cannot_rename_or_delete_them(operator_admin):
    client = operator_admin
    added = {"name": "sol/usdt", "base_asset": "SOL", "quote_asset": "USDT", "is_active": "on"}

    response = client.post(f"{SYMBOL_URL}add/", added)

    assert response.status_code == 302, response.context["adminform"].form.errors
    symbol = Symbol.objects.get()
    assert (symbol.name, symbol.base_asset, symbol.is_active) == ("SOLUSDT", "SOL", True)
    assert client.post(f"{SYMBOL_URL}add/", {**added, "name": "SOLUSDT"}).status_code == 200
    assert client.post(f"{SYMBOL_URL}add/", {**added, "name": "no!"}).status_code == 200
    assert Symbol.objects.count() == 1

    renamed = {**added, "name": "XRPUSDT", "is_active": ""}
    assert client.post(f"{SYMBOL_URL}{symbol.pk}/change/", renamed).status_code == 302
    symbol.refresh_from_db()
    assert (symbol.name, symbol.is_active) == ("SOLUSDT", False)  # deactivated, not renamed
    assert client.post(f"{SYMBOL_URL}{symbol.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Symbol.objects.filter(pk=symbol.pk).exists()


@pytest.mark.django_db
def test_sync_run_list_shows_the_start_of_each_error(operator_admin):
    error = "BinanceError: HTTP 400 -1121 Invalid symbol. " + "details " * 50
    SyncRun.objects.create(
        symbol=get_or_create_symbol("NOPEUSDT"),
        timeframe="1h",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        status=SyncRun.Status.FAILED,
        error=error,
    )

    page = operator_admin.get("/admin/marketdata/syncrun/").content.decode()

    assert "column-short_error" in page
    assert Truncator(error).chars(80) in page
    assert error not in page
