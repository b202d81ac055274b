"""The market-data page (/market/) through Django's test client: who gets in and who
sees the sync controls. The page's data comes from the API, tested in test_api.py."""

import json

import pytest
from django.urls import reverse

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
