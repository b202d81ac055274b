"""The transactions API: uploads (201/400/403/401, a refused file stores nothing), the
fill list with its filters and pages, detail and delete, the per-symbol summary, the
imports and their shares; someone else's fill or import is 404."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import sharing
from replay import imports
from replay.models import TransactionHistory
from tests.replay.import_helpers import (
    BAD_EXPORT_REJECTS,
    BINANCE_EXPORT,
    BINANCE_EXPORT_BAD,
    GENERIC,
    GENERIC_MAPPED,
    GENERIC_MAPPING,
    table_counts,
)

pytestmark = pytest.mark.django_db

HISTORY = "/api/transactions/history/"
UPLOAD = "/api/transactions/history/upload/"
SUMMARY = "/api/transactions/summary/"
IMPORTS = "/api/transactions/imports/"


def upload(path, **fields) -> dict:
    return {"file": SimpleUploadedFile(path.name, path.read_bytes(), "text/csv"), **fields}


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def bob(make_user):
    return make_user("bob", role="analyst")


# --- Uploads -----------------------------------------------------------------------------


def test_upload_stores_the_fills_and_answers_with_the_batch(analyst_client, analyst):
    response = analyst_client.post(UPLOAD, upload(BINANCE_EXPORT), format="multipart")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["format"], body["status"], body["owner"]) == ("binance_trades", "completed", "ana")
    assert (body["inserted"], body["skipped"], body["rejected"], body["rejects"]) == (5, 0, 0, [])
    assert response.headers["Location"].endswith(f"{IMPORTS}{body['id']}/")
    assert TransactionHistory.objects.filter(owner=analyst, import_batch_id=body["id"]).count() == 5
    again = analyst_client.post(UPLOAD, upload(BINANCE_EXPORT), format="multipart").json()
    assert (again["inserted"], again["skipped"]) == (0, 5)


def test_a_refused_upload_is_400_with_every_bad_line_and_stores_nothing(analyst_client, analyst):
    imports.import_file(analyst, GENERIC)
    before = table_counts()

    response = analyst_client.post(UPLOAD, upload(BINANCE_EXPORT_BAD), format="multipart")

    assert response.status_code == 400
    body = response.json()
    assert body["rejects"] == BAD_EXPORT_REJECTS
    assert (body["rejected"], body["rows_total"], body["inserted"]) == (4, 6, 0)
    assert body["detail"].startswith("4 of 6 rows are invalid, nothing was imported")
    assert table_counts() == before


def test_skip_invalid_uploads_the_good_rows(analyst_client):
    response = analyst_client.post(
        UPLOAD, upload(BINANCE_EXPORT_BAD, skip_invalid="true"), format="multipart"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["inserted"], body["rejected"], body["rejects"]) == (2, 4, BAD_EXPORT_REJECTS)


def test_a_generic_upload_with_a_mapping(analyst_client):
    response = analyst_client.post(
        UPLOAD,
        upload(GENERIC_MAPPED, format="generic", mapping=GENERIC_MAPPING, exchange="kraken"),
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["inserted"], response.json()["exchange"]) == (2, "kraken")


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"mapping": "when=When"}, {"mapping"}),
        ({"format": "xlsx"}, {"format"}),
        ({"exchange": "no spaces"}, {"exchange"}),
    ],
)
def test_bad_upload_fields_are_400_naming_the_field(analyst_client, fields, errors):
    response = analyst_client.post(UPLOAD, upload(GENERIC_MAPPED, **fields), format="multipart")
    assert response.status_code == 400
    assert set(response.json()) == errors
    assert table_counts() == (0, 0)


def test_an_unreadable_file_is_400_on_the_file(analyst_client):
    bad = SimpleUploadedFile("x.csv", b"Nothing,We,Know\n1,2,3\n", "text/csv")
    response = analyst_client.post(UPLOAD, {"file": bad}, format="multipart")
    assert response.status_code == 400
    assert "unrecognised header" in response.json()["file"][0]


def test_uploads_need_the_analyst_permission_and_a_sign_in(viewer_client, anon_client):
    assert viewer_client.post(UPLOAD, upload(GENERIC), format="multipart").status_code == 403
    assert anon_client.post(UPLOAD, upload(GENERIC), format="multipart").status_code == 401
    assert table_counts() == (0, 0)


# --- Fills -------------------------------------------------------------------------------


def test_the_list_shows_your_fills_with_filters_and_pages(analyst_client, analyst, bob):
    export = imports.import_file(analyst, BINANCE_EXPORT)
    imports.import_file(analyst, GENERIC)
    imports.import_file(bob, GENERIC_MAPPED, mapping=GENERIC_MAPPING)

    body = analyst_client.get(HISTORY).json()
    assert body["count"] == 9  # bob's fills are not listed
    first = body["results"][0]
    assert (first["symbol"], first["price"], first["quantity"], first["value"]) == (
        "BTCUSDT",
        "42150.1",
        "0.0015",
        "63.22515",
    )
    assert (first["fee"], first["fee_asset"], first["owner"]) == ("0.0000015", "BNB", "ana")

    def count(query: str) -> int:
        response = analyst_client.get(f"{HISTORY}?{query}")
        assert response.status_code == 200, response.content
        return response.json()["count"]

    assert count("symbol=btc/usdt") == 4
    assert count("side=sell") == 4
    assert count("symbol=ETHUSDT&side=buy") == 1
    assert count("start=2024-02-01T00:00:00Z") == 4
    assert count("start=2024-01-15T08:30:12Z&end=2024-01-17T00:00:00Z") == 3
    assert count(f"import_batch={export.pk}") == 5
    assert count("transaction_type=limit") == 1
    assert count("owner=bob") == 0
    page = analyst_client.get(f"{HISTORY}?page_size=2&page=2&ordering=-transaction_time").json()
    assert len(page["results"]) == 2 and page["next"] and page["previous"]


def test_detail_and_delete_are_for_those_who_may(analyst, bob, make_user, operator):
    batch = imports.import_file(analyst, GENERIC)
    viewer = make_user("vic", role="viewer")
    sharing.share(batch, grantee_type="user", grantee="vic", actor=analyst)
    fill = TransactionHistory.objects.filter(owner=analyst).first()
    url = f"{HISTORY}{fill.pk}/"

    assert client_for(analyst).get(url).json()["transaction_id"] == fill.transaction_id
    assert client_for(viewer).get(url).status_code == 200  # its import is shared with them
    assert client_for(operator).get(url).status_code == 200
    assert client_for(bob).get(url).status_code == 404  # as if it did not exist
    assert client_for(bob).get(f"{HISTORY}999999/").status_code == 404
    assert APIClient().get(url).status_code == 401

    assert client_for(bob).delete(url).status_code == 404
    assert client_for(viewer).delete(url).status_code == 403
    assert client_for(operator).delete(url).status_code == 403
    assert client_for(analyst).delete(url).status_code == 204
    assert not TransactionHistory.objects.filter(pk=fill.pk).exists()


def test_the_summary_counts_volumes_and_fees_per_symbol(analyst_client, analyst, bob):
    imports.import_file(analyst, BINANCE_EXPORT)
    imports.import_file(bob, BINANCE_EXPORT)  # not the analyst's: not counted

    response = analyst_client.get(SUMMARY)

    assert response.status_code == 200
    rows = {row["symbol"]: row for row in response.json()}
    assert list(rows) == ["1000SATSUSDT", "BTCUSDT", "ETHBTC", "ETHUSDT"]
    btc = rows["BTCUSDT"]
    assert (btc["count"], btc["buy_count"], btc["sell_count"]) == (2, 2, 0)
    assert Decimal(btc["buy_quantity"]) == Decimal("0.003")
    assert Decimal(btc["buy_value"]) == Decimal("126.4503")  # 2 x 42150.1 x 0.0015, exact
    assert (btc["sell_quantity"], btc["sell_value"]) == ("0", "0")
    assert btc["fees"] == {"BNB": "0.000003"}
    assert (btc["first_time"], btc["last_time"]) == ("2024-01-15T08:30:12Z",) * 2
    eth = rows["ETHUSDT"]
    assert (eth["sell_quantity"], eth["sell_value"]) == ("1250", "3163187.5")
    assert rows["1000SATSUSDT"]["fees"] == {"1000SATS": "25"}
    filtered = analyst_client.get(f"{SUMMARY}?side=sell").json()
    assert [row["symbol"] for row in filtered] == ["ETHBTC", "ETHUSDT"]


# --- Imports -----------------------------------------------------------------------------


def test_imports_are_listed_and_shared_like_other_work(analyst, bob, make_user):
    batch = imports.import_file(analyst, GENERIC)
    imports.import_file(bob, GENERIC)
    viewer = make_user("vic", role="viewer")
    owner, visitor = client_for(analyst), client_for(viewer)

    assert [item["id"] for item in owner.get(IMPORTS).json()["results"]] == [batch.pk]
    detail = owner.get(f"{IMPORTS}{batch.pk}/").json()
    assert (detail["inserted"], detail["parameters"]["columns"]["time"]) == (4, "time")
    assert client_for(bob).get(f"{IMPORTS}{batch.pk}/").status_code == 404
    assert visitor.get(f"{IMPORTS}{batch.pk}/").status_code == 404
    assert visitor.get(HISTORY).json()["count"] == 0

    shares = f"{IMPORTS}{batch.pk}/shares/"
    shared = owner.post(shares, {"grantee": "vic", "permission": "view"}, format="json")
    assert shared.status_code == 201, shared.content
    assert visitor.get(f"{IMPORTS}{batch.pk}/").status_code == 200
    assert visitor.get(HISTORY).json()["count"] == 4  # the import's fills come with it
    assert visitor.get(shares).status_code == 403  # may see it, may not share it
    assert client_for(bob).get(shares).status_code == 404
    assert owner.delete(f"{shares}?grantee=vic").status_code == 204
    assert visitor.get(HISTORY).json()["count"] == 0


def test_reading_needs_a_sign_in(anon_client):
    for url in (HISTORY, SUMMARY, IMPORTS):
        assert anon_client.get(url).status_code == 401


def test_an_upload_from_a_file_object_name(analyst):
    """The service takes an open file as the API hands it over (no path)."""
    batch = imports.import_file(analyst, io.BytesIO(GENERIC.read_bytes()), file_name="g.csv")
    assert batch.file_name == "g.csv"


def test_lists_cost_the_same_queries_for_few_and_many(analyst, make_user):
    viewer = make_user("vic", role="viewer")
    client = client_for(viewer)

    def queries(url: str) -> int:
        client.get(url)  # warm caches (content types)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    def import_shared(path, **options):
        batch = imports.import_file(analyst, path, **options)
        sharing.share(batch, grantee_type="user", grantee="vic", actor=analyst)

    import_shared(GENERIC)
    few = {url: queries(url) for url in (HISTORY, IMPORTS, SUMMARY)}
    import_shared(BINANCE_EXPORT)
    import_shared(GENERIC_MAPPED, mapping=GENERIC_MAPPING)
    assert client.get(HISTORY).json()["count"] == 11
    assert {url: queries(url) for url in (HISTORY, IMPORTS, SUMMARY)} == few
