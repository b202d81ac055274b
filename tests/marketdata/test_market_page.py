"""The market-data page (/market/) through Django's test client: who gets in and who
sees the sync controls and the import panel. The page's data comes from the API, tested
in test_api.py."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from marketdata.models import Candle

pytestmark = pytest.mark.django_db

URL = "/market/"


def page_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="page-data" type="application/json">') + len(
        '<script id="page-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_the_url_name_is_market_page():
    assert reverse("market-page") == URL


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/market/")


def test_renders_for_an_analyst_without_sync_controls(client, analyst):
    client.force_login(analyst)
    response = client.get(URL + "?symbol=ETHUSDT&timeframe=1h")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="market-chart"' in html and 'id="pick-symbol"' in html
    assert "/static/js/market." in html
    assert 'id="sync-form"' not in html and "market-sync." not in html
    assert 'id="sync-runs"' not in html
    assert page_data(response) == {
        "symbol": "ETHUSDT",
        "timeframe": "1h",
        "source": "",
        "can_sync": False,
    }


def test_a_viewer_sees_the_chart_but_no_sync_controls(client, viewer):
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="market-chart"' in html and 'id="sync-form"' not in html
    assert "Ask an operator" in html


def test_operators_get_the_sync_form_and_runs(client, operator):
    client.force_login(operator)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for control in ('id="sync-form"', 'name="symbol"', 'name="timeframe"', 'name="start"'):
        assert control in html
    assert 'name="end"' in html and 'id="sync-runs"' in html
    assert "/static/js/market-sync." in html
    assert page_data(response)["can_sync"] is True


def test_preselection_is_passed_as_data_not_markup(client, analyst):
    client.force_login(analyst)
    response = client.get(URL, {"symbol": "</script><b>x", "timeframe": "1h"})
    assert response.status_code == 200
    assert "</script><b>x" not in response.content.decode()
    assert page_data(response)["symbol"] == "</script><b>x"


# --- the import panel (users with marketdata.import_candles) ---------------------------


def test_analysts_get_the_import_panel_with_the_apis_fields(client, analyst):
    client.force_login(analyst)
    html = client.get(URL).content.decode()
    assert 'id="import-form"' in html and "/static/js/market-import." in html
    for control in (
        'name="file" type="file"',
        'name="symbol"',
        'name="timeframe"',
        'name="format"',
        'name="source"',
        'name="skip_invalid"',
    ):
        assert control in html, control
    for control_id in ("file", "symbol", "timeframe", "format", "source", "skip"):
        assert f'<label for="import-{control_id}">' in html, control_id
    for fmt in ("auto", "binance", "ohlcv"):
        assert f'<option value="{fmt}">' in html
    assert 'value="binance"' in html  # the API's default source
    assert "Import a candle file with the form below" in html  # nothing stored yet


def test_operators_get_both_the_sync_form_and_the_import_panel(client, operator):
    client.force_login(operator)
    html = client.get(URL).content.decode()
    assert 'id="import-form"' in html and 'id="sync-form"' in html
    assert "/static/js/market-import." in html and "/static/js/market-sync." in html


def test_a_viewer_gets_no_import_panel_and_the_api_refuses_the_upload(client, viewer):
    client.force_login(viewer)
    html = client.get(URL).content.decode()
    assert 'id="import-panel"' not in html and 'id="import-form"' not in html
    assert "market-import." not in html
    upload = SimpleUploadedFile("BTCUSDT-1m-2024-01-01.csv", b"1704067200000,1,1,1,1,1\n")
    response = client.post(
        "/api/market-data/import/", {"file": upload, "symbol": "BTCUSDT", "timeframe": "1m"}
    )
    assert response.status_code == 403
    assert not Candle.objects.exists()
