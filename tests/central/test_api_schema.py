"""The OpenAPI schema is complete (every route, no generator warnings) and the API root
and docs work without any CDN."""

import pytest
from django.core.management import call_command
from django.urls import reverse

EXPECTED_PATHS = {
    "/api/health/",
    "/api/market-data/symbols/",
    "/api/market-data/import/",
    "/api/market-data/sync/",
    "/api/market-data/sync-runs/",
    "/api/market-data/sync-runs/{id}/",
    "/api/market-data/{symbol}/{timeframe}/",
}


@pytest.mark.django_db
def test_schema_lists_every_route_and_generates_without_warnings(tmp_path, capsys):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    import yaml

    schema = yaml.safe_load(out.read_text())
    assert set(schema["paths"]) >= EXPECTED_PATHS
    candles = schema["paths"]["/api/market-data/{symbol}/{timeframe}/"]["get"]
    assert {p["name"] for p in candles["parameters"]} >= {
        "symbol",
        "timeframe",
        "start",
        "end",
        "max_points",
    }
    assert "examples" in str(candles["responses"]["200"])


@pytest.mark.django_db
def test_api_root_links_the_entry_points(anon_client):
    body = anon_client.get("/api/").json()
    assert body["health"].endswith("/api/health/")
    assert body["market_data_symbols"].endswith("/api/market-data/symbols/")


@pytest.mark.django_db
def test_swagger_ui_is_served_from_local_static_files(anon_client):
    page = anon_client.get(reverse("api-docs")).content.decode()
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert "/static/drf_spectacular_sidecar/" in page
