"""The transactions API in the OpenAPI schema: every route, its errors and examples."""

import pytest
import yaml
from django.core.management import call_command

TRANSACTION_PATHS = {
    "/api/transactions/history/": {"get"},
    "/api/transactions/history/{id}/": {"get", "delete"},
    "/api/transactions/history/upload/": {"post"},
    "/api/transactions/history/fetch/": {"post"},
    "/api/transactions/summary/": {"get"},
    "/api/transactions/imports/": {"get"},
    "/api/transactions/imports/{id}/": {"get"},
    "/api/transactions/imports/{id}/shares/": {"get", "post", "delete"},
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    out = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    return yaml.safe_load(out.read_text())


def test_every_transaction_route_lists_its_methods_and_errors(schema):
    for path, methods in TRANSACTION_PATHS.items():
        described = {m for m in schema["paths"][path] if m != "parameters"}
        assert described == methods, path
        for method in methods:
            codes = set(schema["paths"][path][method]["responses"])
            assert "401" in codes, (path, method)
            if "{id}" in path:
                assert "404" in codes, (path, method)
            if method in {"post", "delete"}:
                assert "403" in codes, (path, method)


def test_imports_are_documented_with_examples(schema):
    upload = schema["paths"]["/api/transactions/history/upload/"]["post"]
    body = upload["requestBody"]["content"]["multipart/form-data"]
    assert {"file", "format", "mapping", "skip_invalid"} <= set(
        schema["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]
    )
    assert any(e["value"].get("mapping") for e in body["examples"].values())
    refused = upload["responses"]["400"]["content"]["application/json"]["examples"]
    assert any(e["value"]["rejects"][0]["line"] == 4 for e in refused.values())
    fetch = schema["paths"]["/api/transactions/history/fetch/"]["post"]
    request = fetch["requestBody"]["content"]["application/json"]["examples"]
    assert any("symbols" in e["value"] for e in request.values())
    assert set(fetch["responses"]) >= {"202", "400"}
