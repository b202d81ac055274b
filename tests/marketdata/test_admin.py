"""The candle admin: a read-only, filterable list over the candle_record view."""

import pytest
from django.test import override_settings

from marketdata.models import Candle, CandleSeries
from marketdata.sample_data import kline_rows
from marketdata.services import import_candles

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
