"""Market-data REST API: symbols, candle ranges and file uploads."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from marketdata import selectors
from marketdata.services import get_or_create_series, import_candles
from tests.marketdata.fixtures.candle_files import (
    BAD_FILE_REJECTS,
    HOUR_MS,
    bad_kline_file,
    gzipped,
    kline_values,
    klines,
    table_counts,
)

pytestmark = pytest.mark.django_db

# Token authentication comes first in REST_FRAMEWORK, so an anonymous request is
# challenged: 401 with WWW-Authenticate: Token.
ANONYMOUS_STATUS = 401


def symbols_url() -> str:
    return reverse("marketdata-symbols")


def import_url() -> str:
    return reverse("marketdata-import")


def candles_url(symbol: str = "BTCUSDT", timeframe: str = "1m") -> str:
    return reverse("marketdata-candles", args=[symbol, timeframe])


def load(tmp_path, data: bytes, symbol: str = "BTCUSDT", timeframe: str = "1m", **options):
    path = tmp_path / f"{symbol}-{timeframe}.csv"
    path.write_bytes(data)
    import_candles(path, symbol=symbol, timeframe=timeframe, **options)


def upload(client, data: bytes, name: str = "k.csv", **fields):
    form = {"file": SimpleUploadedFile(name, data), "symbol": "BTCUSDT", "timeframe": "1m"}
    form.update(fields)
    return client.post(import_url(), form, format="multipart")


# --- symbols -------------------------------------------------------------------------


def test_symbols_lists_each_symbol_with_its_stored_series(tmp_path, viewer_client):
    load(tmp_path, klines(5), "BTCUSDT", "1m")
    load(tmp_path, klines(3, step_ms=HOUR_MS), "BTCUSDT", "1h", source_name="vision")
    load(tmp_path, klines(2), "ETHBTC", "1m")
    get_or_create_series("XRPUSDT", "1m")  # nothing stored: not listed

    response = viewer_client.get(symbols_url())

    assert response.status_code == 200
    assert response.json() == [
        {
            "name": "BTCUSDT",
            "base_asset": "BTC",
            "quote_asset": "USDT",
            "is_active": True,
            "series": [
                {
                    "source": "vision",
                    "timeframe": "1h",
                    "first_timestamp": "2024-01-01T00:00:00Z",
                    "last_timestamp": "2024-01-01T02:00:00Z",
                    "candle_count": 3,
                },
                {
                    "source": "binance",
                    "timeframe": "1m",
                    "first_timestamp": "2024-01-01T00:00:00Z",
                    "last_timestamp": "2024-01-01T00:04:00Z",
                    "candle_count": 5,
                },
            ],
        },
        {
            "name": "ETHBTC",
            "base_asset": "ETH",
            "quote_asset": "BTC",
            "is_active": True,
            "series": [
                {
                    "source": "binance",
                    "timeframe": "1m",
                    "first_timestamp": "2024-01-01T00:00:00Z",
                    "last_timestamp": "2024-01-01T00:01:00Z",
                    "candle_count": 2,
                },
            ],
        },
    ]


def test_symbols_need_a_signed_in_user(anon_client):
    assert anon_client.get(symbols_url()).status_code == ANONYMOUS_STATUS


# --- candle ranges -------------------------------------------------------------------


def test_candles_raw(tmp_path, viewer_client):
    data = klines(30)
    load(tmp_path, data)

    response = viewer_client.get(candles_url())

    assert response.status_code == 200
    body = response.json()
    assert {k: v for k, v in body.items() if k != "candles"} == {
        "symbol": "BTCUSDT",
        "timeframe": "1m",
        "source": "binance",
        "bucket_seconds": 60,
        "downsampled": False,
        "count": 30,
    }
    expected = kline_values(data)
    assert body["candles"][0] == {
        "time": "2024-01-01T00:00:00Z",
        "open": expected["open"][0],
        "high": expected["high"][0],
        "low": expected["low"][0],
        "close": expected["close"][0],
        "volume": expected["volume"][0],
    }
    assert body["candles"][29]["time"] == "2024-01-01T00:29:00Z"
    assert [c["close"] for c in body["candles"]] == expected["close"].tolist()


def test_candles_symbol_in_the_path_is_normalised(tmp_path, viewer_client):
    load(tmp_path, klines(3))
    body = viewer_client.get(candles_url("btc-usdt")).json()
    assert (body["symbol"], body["count"]) == ("BTCUSDT", 3)


def test_candles_between_start_and_end(tmp_path, viewer_client):
    load(tmp_path, klines(60))

    body = viewer_client.get(
        candles_url(),
        {
            "start": "2024-01-01T00:10:00Z",
            "end": "2024-01-01T02:20:00+02:00",
        },
    ).json()

    assert body["count"] == 10
    assert [c["time"] for c in body["candles"]][::9] == [
        "2024-01-01T00:10:00Z",
        "2024-01-01T00:19:00Z",
    ]


def test_candles_downsampled(tmp_path, viewer_client):
    data = klines(120)
    load(tmp_path, data)

    body = viewer_client.get(candles_url(), {"max_points": 6}).json()

    assert (body["downsampled"], body["bucket_seconds"], body["count"]) == (True, 1200, 6)
    expected = kline_values(data)
    first, last = body["candles"][0], body["candles"][-1]
    assert first == {
        "time": "2024-01-01T00:00:00Z",
        "open": expected["open"][0],
        "high": expected["high"][:20].max(),
        "low": expected["low"][:20].min(),
        "close": expected["close"][19],
        "volume": pytest.approx(expected["volume"][:20].sum()),
    }
    assert last["time"] == "2024-01-01T01:40:00Z"
    assert last["close"] == expected["close"][-1]
    assert sum(c["volume"] for c in body["candles"]) == pytest.approx(expected["volume"].sum())


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2024-13-01T00:00:00Z"}, "end"),
        ({"start": "2024-01-01T01:00:00Z", "end": "2024-01-01T00:00:00Z"}, "end"),
        ({"start": "2024-01-01T01:00:00Z", "end": "2024-01-01T01:00:00Z"}, "end"),
        ({"max_points": "0"}, "max_points"),
        ({"max_points": "10001"}, "max_points"),
        ({"max_points": "many"}, "max_points"),
    ],
)
def test_candles_bad_query_names_the_parameter(tmp_path, viewer_client, query, parameter):
    load(tmp_path, klines(3))
    response = viewer_client.get(candles_url(), query)
    assert response.status_code == 400
    assert list(response.json()) == [parameter]


@pytest.mark.parametrize(
    ("symbol", "timeframe", "parameter"),
    [
        ("BTCUSDT", "7m", "timeframe"),
        ("BTCUSDT", "1H", "timeframe"),
        ("X", "1m", "symbol"),
    ],
)
def test_candles_bad_path_names_the_parameter(
    tmp_path, viewer_client, symbol, timeframe, parameter
):
    load(tmp_path, klines(3))
    response = viewer_client.get(candles_url(symbol, timeframe))
    assert response.status_code == 400
    assert list(response.json()) == [parameter]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (("ETHUSDT", "1m"), {}),
        (("BTCUSDT", "5m"), {}),
        (("BTCUSDT", "1m"), {"source": "vision"}),
    ],
)
def test_candles_unknown_series_is_404(tmp_path, viewer_client, path, query):
    load(tmp_path, klines(3))
    response = viewer_client.get(candles_url(*path), query)
    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"no {path[1]} candles stored for {path[0]}")


def test_candles_need_a_signed_in_user(tmp_path, anon_client):
    load(tmp_path, klines(3))
    assert anon_client.get(candles_url()).status_code == ANONYMOUS_STATUS


# --- uploads -------------------------------------------------------------------------


def test_upload_imports_and_reports_counts(analyst_client):
    data = klines(30)

    response = upload(analyst_client, data, symbol="btc/usdt")

    assert response.status_code == 201
    assert response.json() == {
        "inserted": 30,
        "updated": 0,
        "skipped": 0,
        "rejected": 0,
        "rejects": [],
    }
    stored = selectors.candle_arrays(selectors.find_series("BTCUSDT", "1m"))
    np.testing.assert_array_equal(stored["close"], kline_values(data)["close"])

    again = upload(analyst_client, data)
    assert again.status_code == 201
    assert (again.json()["inserted"], again.json()["skipped"]) == (0, 30)


def test_operator_uploads_a_gzip_file_with_options(operator_client):
    response = upload(
        operator_client,
        gzipped(klines(24, step_ms=HOUR_MS)),
        name="k.csv.gz",
        timeframe="1h",
        format="binance",
        source="vision",
    )
    assert response.status_code == 201
    assert response.json()["inserted"] == 24
    assert selectors.find_series("BTCUSDT", "1h", "vision").candle_count == 24


def test_upload_of_a_bad_file_is_rejected_and_changes_nothing(tmp_path, analyst_client):
    load(tmp_path, klines(5), "ETHUSDT", "1m")
    before = table_counts()

    response = upload(analyst_client, bad_kline_file())

    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith("7 of 11 rows are invalid, nothing was imported")
    assert body["rejects"] == BAD_FILE_REJECTS
    assert table_counts() == before


def test_upload_with_skip_invalid_stores_good_rows_and_lists_rejects(analyst_client):
    response = upload(analyst_client, bad_kline_file(), skip_invalid="true")
    assert response.status_code == 201
    assert response.json() == {
        "inserted": 4,
        "updated": 0,
        "skipped": 0,
        "rejected": 7,
        "rejects": BAD_FILE_REJECTS,
    }
    assert selectors.find_series("BTCUSDT", "1m").candle_count == 4


@pytest.mark.parametrize(
    ("data", "fields", "parameter", "message"),
    [
        (b"foo,bar\n1,2\n", {}, "file", "unrecognised format"),
        (b"", {}, "file", "The submitted file is empty."),
        (klines(2), {"symbol": "B"}, "symbol", "'B' is not a symbol like BTCUSDT"),
        (klines(2), {"timeframe": "7m"}, "timeframe", '"7m" is not a valid choice.'),
        (klines(2), {"source": "Not Valid"}, "source", "must be 1-32 lower-case letters"),
        (klines(2), {"format": "xlsx"}, "format", '"xlsx" is not a valid choice.'),
    ],
)
def test_upload_errors_name_the_parameter(analyst_client, data, fields, parameter, message):
    response = upload(analyst_client, data, **fields)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == [parameter]
    assert message in body[parameter][0]
    assert table_counts() == (0, 0, 0)


def test_upload_without_a_file(analyst_client):
    response = analyst_client.post(
        import_url(), {"symbol": "BTCUSDT", "timeframe": "1m"}, format="multipart"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["file"]


def test_upload_larger_than_the_limit_is_refused(analyst_client, settings):
    data = klines(10)
    settings.MARKET_IMPORT_MAX_UPLOAD_BYTES = len(data) - 1

    response = upload(analyst_client, data)

    assert response.status_code == 400
    assert response.json() == {
        "file": [f"the file is {len(data)} bytes; uploads are limited to {len(data) - 1} bytes"]
    }
    assert table_counts() == (0, 0, 0)


def test_viewer_may_not_upload(viewer_client):
    response = upload(viewer_client, klines(3))
    assert response.status_code == 403
    assert response.json() == {"detail": "You need the 'import candles' permission."}
    assert table_counts() == (0, 0, 0)


def test_anonymous_may_not_upload(anon_client):
    response = upload(anon_client, klines(3))
    assert response.status_code == ANONYMOUS_STATUS
    assert table_counts() == (0, 0, 0)


def test_bad_token_is_refused(client_with_bad_token):
    response = upload(client_with_bad_token, klines(3))
    assert response.status_code == ANONYMOUS_STATUS
    assert response.json() == {"detail": "Invalid token."}
    assert table_counts() == (0, 0, 0)


@pytest.fixture
def client_with_bad_token(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    return anon_client


def test_series_without_candles_answers_an_empty_range(analyst_client):
    get_or_create_series("SOLUSDT", "1h")
    response = analyst_client.get(candles_url("SOLUSDT", "1h"))
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["downsampled"], body["bucket_seconds"]) == (0, False, 3600)
    assert body["candles"] == []


def test_sync_runs_filter_by_normalised_symbol_and_trigger(operator_client):
    from datetime import UTC, datetime

    from marketdata.models import SyncRun
    from marketdata.services import get_or_create_symbol

    start = datetime(2024, 1, 1, tzinfo=UTC)
    for name, trigger in (("SOLUSDT", "api"), ("SOLUSDT", "schedule"), ("ETHUSDT", "api")):
        SyncRun.objects.create(
            symbol=get_or_create_symbol(name), timeframe="1h", start=start, trigger=trigger
        )
    url = reverse("marketdata-sync-runs")
    by_symbol = operator_client.get(url, {"symbol": "sol/usdt"}).json()
    assert by_symbol["count"] == 2
    both = operator_client.get(url, {"symbol": "solusdt", "trigger": "api"}).json()
    assert [r["trigger"] for r in both["results"]] == ["api"]
    bad = operator_client.get(url, {"trigger": "sometimes"})
    assert bad.status_code == 400 and "trigger" in bad.json()
