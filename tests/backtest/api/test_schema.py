"""The backtest API in the OpenAPI schema: every route, its errors and its examples."""

import pytest
import yaml
from django.core.management import call_command

BACKTEST_PATHS = {
    "/api/strategies/": {"get", "post"},
    "/api/strategies/{id}/": {"get", "put", "patch", "delete"},
    "/api/strategies/validate/": {"post"},
    "/api/strategies/templates/": {"get"},
    "/api/strategies/indicators/": {"get"},
    "/api/strategies/from-template/": {"post"},
    "/api/backtests/": {"get", "post"},
    "/api/backtests/{id}/": {"get"},
    "/api/backtests/{id}/trades/": {"get"},
    "/api/backtests/{id}/equity/": {"get"},
    "/api/backtests/{id}/cancel/": {"post"},
    "/api/backtests/{id}/rerun/": {"post"},
    "/api/backtests/{id}/report.csv": {"get"},
    "/api/backtests/{id}/report.json": {"get"},
    "/api/sweeps/": {"get", "post"},
    "/api/sweeps/{id}/": {"get"},
    "/api/sweeps/{id}/cancel/": {"post"},
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    out = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    return yaml.safe_load(out.read_text())


def test_every_backtest_route_and_method_is_described(schema):
    for path, methods in BACKTEST_PATHS.items():
        assert path in schema["paths"], path
        described = {m for m in schema["paths"][path] if m != "parameters"}
        assert described == methods, path


def test_every_operation_lists_its_error_responses(schema):
    for path in BACKTEST_PATHS:
        for method, operation in schema["paths"][path].items():
            codes = set(operation["responses"])
            assert "401" in codes, (path, method)
            if "{id}" in path:
                assert "404" in codes, (path, method)
            if method in {"post", "put", "patch", "delete"} and "validate" not in path:
                assert "403" in codes, (path, method)


def test_write_operations_have_examples(schema):
    paths = schema["paths"]
    strategy = paths["/api/strategies/"]["post"]["requestBody"]["content"]["application/json"]
    example = next(iter(strategy["examples"].values()))["value"]
    assert example["entry_rules"]["long"]["op"] == "crosses_above"
    assert example["config"]["parameters"] == {"fast": 10, "slow": 30}
    backtest = paths["/api/backtests/"]["post"]["requestBody"]["content"]["application/json"]
    assert {"strategy", "symbol", "timeframe"} <= set(
        next(iter(backtest["examples"].values()))["value"]
    )
    sweep = paths["/api/sweeps/"]["post"]["requestBody"]["content"]["application/json"]
    assert "grid" in next(iter(sweep["examples"].values()))["value"]


def test_reports_are_typed_as_files(schema):
    csv = schema["paths"]["/api/backtests/{id}/report.csv"]["get"]["responses"]["200"]
    assert list(csv["content"]) == ["text/csv"]
    equity = schema["paths"]["/api/backtests/{id}/equity/"]["get"]
    assert {"409", "400"} <= set(equity["responses"])
    assert "max_points" in {p["name"] for p in equity["parameters"]}


@pytest.mark.django_db
def test_api_root_links_the_backtest_entry_points(anon_client):
    body = anon_client.get("/api/").json()
    assert body["strategies"].endswith("/api/strategies/")
    assert body["strategy_templates"].endswith("/api/strategies/templates/")
    assert body["indicators"].endswith("/api/strategies/indicators/")
    assert body["strategy_validate"].endswith("/api/strategies/validate/")
    assert body["backtests"].endswith("/api/backtests/")
    assert body["sweeps"].endswith("/api/sweeps/")
