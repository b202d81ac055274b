"""Candle file imports through services.import_candles, on the real PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from marketdata import selectors
from marketdata.importers.errors import ImportFileError, ImportRejected
from marketdata.models import CandleSeries, Symbol
from marketdata.services import InvalidParameter, import_candles
from tests.marketdata.fixtures.candle_files import (
    BAD_FILE_GOOD_LINES,
    BAD_FILE_REJECTS,
    BINANCE_VISION_HEADER,
    CENTRAL_BINANCE_HEADER,
    HOUR_MS,
    MINUTE_MS,
    T0,
    T0_MS,
    bad_kline_file,
    field,
    gzipped,
    join_lines,
    kline_values,
    klines,
    lines_of,
    set_field,
    table_counts,
    zipped,
)

pytestmark = pytest.mark.django_db


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def stored(symbol: str = "BTCUSDT", timeframe: str = "1m") -> dict[str, np.ndarray]:
    series = selectors.find_series(symbol, timeframe)
    assert series is not None, f"no {symbol} {timeframe} series stored"
    return selectors.candle_arrays(series)


def assert_stored_equals(arrays: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    for name, values in expected.items():
        np.testing.assert_array_equal(arrays[name], values, err_msg=name)


def us(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000


def ohlcv(header: str, rows: list[str]) -> bytes:
    return join_lines([header, *rows])


# --- Binance kline files -------------------------------------------------------------


def test_binance_millisecond_file_is_stored_exactly(tmp_path):
    data = klines(50)
    result = import_candles(write(tmp_path, "k.csv", data), symbol="BTCUSDT", timeframe="1m")

    assert (result.inserted, result.updated, result.skipped, result.rejected) == (50, 0, 0, 0)
    assert result.rejects == []
    assert_stored_equals(stored(), kline_values(data))
    assert stored()["timestamp"][0] == us(T0)


def test_binance_microsecond_file_stores_the_same_times_as_the_millisecond_one(tmp_path):
    ms_data = klines(30, seed=3)
    us_data = klines(30, seed=3, microseconds=True)
    assert field(lines_of(us_data)[0], 0) == str(T0_MS * 1000)  # 2025-style open time

    import_candles(write(tmp_path, "ms.csv", ms_data), symbol="BTCUSDT", timeframe="1m")
    import_candles(write(tmp_path, "us.csv", us_data), symbol="ETHUSDT", timeframe="1m")

    from_ms, from_us = stored("BTCUSDT"), stored("ETHUSDT")
    assert_stored_equals(from_us, from_ms)
    assert from_us["timestamp"][0] == us(T0)
    np.testing.assert_array_equal(np.diff(from_us["timestamp"]), MINUTE_MS * 1000)


@pytest.mark.parametrize(
    "header",
    [BINANCE_VISION_HEADER, CENTRAL_BINANCE_HEADER],
    ids=["data.binance.vision", "central"],
)
@pytest.mark.parametrize("fmt", ["auto", "binance"])
def test_binance_file_with_header_row(tmp_path, header, fmt):
    data = klines(20, step_ms=HOUR_MS)
    path = write(tmp_path, "k.csv", header.encode() + b"\n" + data)

    result = import_candles(path, symbol="BTCUSDT", timeframe="1h", fmt=fmt)

    assert (result.inserted, result.rejected) == (20, 0)
    # Trade counts come from the 9th column, so a header read as generic OHLCV would lose them.
    assert_stored_equals(stored(timeframe="1h"), kline_values(data))


def test_binance_header_row_rejects_are_numbered_from_line_two(tmp_path):
    lines = lines_of(klines(4))
    lines[1] = set_field(lines[1], 4, "x")
    path = write(tmp_path, "k.csv", join_lines([BINANCE_VISION_HEADER, *lines]))

    with pytest.raises(ImportRejected) as caught:
        import_candles(path, symbol="BTCUSDT", timeframe="1m")

    assert [e.as_dict() for e in caught.value.errors] == [
        {"line": 3, "field": "close", "reason": "'x' is not a number"}
    ]


def test_gzip_file(tmp_path):
    data = klines(25)
    result = import_candles(
        write(tmp_path, "k.csv.gz", gzipped(data)), symbol="BTCUSDT", timeframe="1m"
    )
    assert result.inserted == 25
    assert_stored_equals(stored(), kline_values(data))


def test_zip_file_from_a_path_and_from_an_upload(tmp_path):
    data = klines(25)
    archive = zipped({"BTCUSDT-1m-2024-01-01.csv": data})

    from_path = import_candles(write(tmp_path, "k.zip", archive), symbol="BTCUSDT", timeframe="1m")
    from_upload = import_candles(
        io.BytesIO(archive), symbol="ETHUSDT", timeframe="1m", filename="k.zip"
    )

    assert from_path.inserted == from_upload.inserted == 25
    assert_stored_equals(stored("BTCUSDT"), kline_values(data))
    assert_stored_equals(stored("ETHUSDT"), kline_values(data))


def test_zip_with_two_files_is_refused(tmp_path):
    archive = zipped({"a.csv": klines(2), "b.csv": klines(2)})
    with pytest.raises(ImportFileError, match="expected one CSV inside, found 2"):
        import_candles(write(tmp_path, "k.zip", archive), symbol="BTCUSDT", timeframe="1m")
    assert table_counts() == (0, 0, 0)


def test_damaged_gzip_is_refused(tmp_path):
    damaged = gzipped(klines(50))[:40]
    with pytest.raises(ImportFileError, match="damaged gzip data"):
        import_candles(write(tmp_path, "k.csv.gz", damaged), symbol="BTCUSDT", timeframe="1m")


def test_crlf_and_quoted_files_read_like_plain_ones(tmp_path):
    data = klines(20)
    crlf = data.replace(b"\n", b"\r\n")
    quoted = join_lines(
        [",".join(f'"{cell}"' for cell in line.split(",")) for line in lines_of(data)]
    )

    import_candles(write(tmp_path, "crlf.csv", crlf), symbol="BTCUSDT", timeframe="1m")
    import_candles(write(tmp_path, "quoted.csv", quoted), symbol="ETHUSDT", timeframe="1m")

    assert_stored_equals(stored("BTCUSDT"), kline_values(data))
    assert_stored_equals(stored("ETHUSDT"), kline_values(data))


# --- generic OHLCV files -------------------------------------------------------------


def test_ohlcv_iso_dates_with_and_without_zone_are_stored_in_utc(tmp_path):
    data = ohlcv(
        "Date,Open,High,Low,Close,Volume",
        [
            "2024-01-01T00:00:00,10,12,9,11,100",  # no zone: UTC
            "2024-01-01T01:00:00Z,11,13,10,12,200",
            "2024-01-01T04:00:00+02:00,12,14,11,13,300",  # 02:00 UTC
            "2024-01-01 03:00:00,13,15,12,14,400",
            "2024-01-01T00:00:00-04:00,14,16,13,15,500",  # 04:00 UTC
        ],
    )

    result = import_candles(write(tmp_path, "d.csv", data), symbol="BTCUSDT", timeframe="1h")

    assert (result.inserted, result.rejected) == (5, 0)
    arrays = stored(timeframe="1h")
    assert arrays["timestamp"].tolist() == [us(T0 + timedelta(hours=h)) for h in range(5)]
    assert arrays["open"].tolist() == [10, 11, 12, 13, 14]
    assert arrays["volume"].tolist() == [100, 200, 300, 400, 500]
    assert np.isnan(arrays["quote_volume"]).all()
    assert (arrays["trade_count"] == -1).all()


@pytest.mark.parametrize("scale", [1, 1000], ids=["seconds", "milliseconds"])
def test_ohlcv_epoch_dates(tmp_path, scale):
    seconds = T0_MS // 1000
    data = ohlcv(
        "date,open,high,low,close,volume",
        [
            f"{(seconds + 60 * i) * scale},{10 + i},{12 + i},{9 + i},{11 + i},{i + 0.5}"
            for i in range(4)
        ],
    )

    result = import_candles(write(tmp_path, "d.csv", data), symbol="BTCUSDT", timeframe="1m")

    assert result.inserted == 4
    arrays = stored()
    assert arrays["timestamp"].tolist() == [us(T0) + 60_000_000 * i for i in range(4)]
    assert arrays["close"].tolist() == [11, 12, 13, 14]
    assert arrays["volume"].tolist() == [0.5, 1.5, 2.5, 3.5]


def test_ohlcv_headers_are_case_insensitive_and_optional_columns_are_read(tmp_path):
    data = ohlcv(
        " DATE ,oPeN,HIGH,low,CLOSE,Vol,Quote Volume,TRADES",
        [
            "2024-01-01T00:00:00Z,10,12,9,11,100,1100.5,7",
            "2024-01-01T00:01:00Z,11,13,10,12,200,2400.25,9",
        ],
    )

    result = import_candles(write(tmp_path, "d.csv", data), symbol="BTCUSDT", timeframe="1m")

    assert result.inserted == 2
    arrays = stored()
    assert arrays["high"].tolist() == [12, 13]
    assert arrays["quote_volume"].tolist() == [1100.5, 2400.25]
    assert arrays["trade_count"].tolist() == [7, 9]


def test_ohlcv_fractional_epoch_is_not_truncated_into_a_valid_time(tmp_path):
    data = ohlcv(
        "Date,Open,High,Low,Close,Volume",
        [
            f"{T0_MS // 1000},10,12,9,11,100",
            f"{T0_MS // 1000 + 60}.5,10,12,9,11,100",
        ],
    )
    with pytest.raises(ImportRejected) as caught:
        import_candles(write(tmp_path, "d.csv", data), symbol="BTCUSDT", timeframe="1m")
    assert [e.as_dict() for e in caught.value.errors] == [
        {"line": 3, "field": "Date", "reason": "not the open time of a 1m candle"}
    ]


# --- bad files -----------------------------------------------------------------------


def test_bad_file_is_rejected_with_every_line_and_nothing_changes(tmp_path):
    import_candles(write(tmp_path, "other.csv", klines(5)), symbol="ETHUSDT", timeframe="1m")
    before = table_counts()

    with pytest.raises(ImportRejected) as caught:
        import_candles(
            write(tmp_path, "bad.csv", bad_kline_file()), symbol="BTCUSDT", timeframe="1m"
        )

    assert [e.as_dict() for e in caught.value.errors] == BAD_FILE_REJECTS
    assert caught.value.total_rows == 11
    message = str(caught.value)
    assert message.startswith("7 of 11 rows are invalid, nothing was imported: ")
    assert "line 3, field high: high is below max(open, close)" in message
    assert "(and 2 more)" in message
    assert table_counts() == before
    assert not Symbol.objects.filter(name="BTCUSDT").exists()


def test_bad_file_into_an_existing_series_changes_nothing(tmp_path):
    data = bad_kline_file()
    good = join_lines([lines_of(data)[i - 1] for i in BAD_FILE_GOOD_LINES])
    import_candles(write(tmp_path, "good.csv", good), symbol="BTCUSDT", timeframe="1m")
    counts, candles = table_counts(), stored()
    series = CandleSeries.objects.values().get()

    with pytest.raises(ImportRejected):
        import_candles(write(tmp_path, "bad.csv", data), symbol="BTCUSDT", timeframe="1m")

    assert table_counts() == counts
    assert_stored_equals(stored(), candles)
    assert CandleSeries.objects.values().get() == series


def test_skip_invalid_stores_the_good_rows_and_lists_the_rejects(tmp_path):
    data = bad_kline_file()

    result = import_candles(
        write(tmp_path, "bad.csv", data), symbol="BTCUSDT", timeframe="1m", skip_invalid=True
    )

    assert (result.inserted, result.updated, result.skipped) == (4, 0, 0)
    assert result.rejected == 7
    assert [e.as_dict() for e in result.rejects] == BAD_FILE_REJECTS
    assert result.as_dict()["rejects"] == BAD_FILE_REJECTS
    good = join_lines([lines_of(data)[i - 1] for i in BAD_FILE_GOOD_LINES])
    assert_stored_equals(stored(), kline_values(good))


def test_rows_with_two_faults_count_once(tmp_path):
    lines = lines_of(klines(3))
    lines[1] = set_field(set_field(lines[1], 1, "x"), 4, "y")
    result = import_candles(
        write(tmp_path, "k.csv", join_lines(lines)),
        symbol="BTCUSDT",
        timeframe="1m",
        skip_invalid=True,
    )
    assert [e.as_dict() for e in result.rejects] == [
        {"line": 2, "field": "close", "reason": "'y' is not a number"},
        {"line": 2, "field": "open", "reason": "'x' is not a number"},
    ]
    assert (result.inserted, result.rejected) == (2, 1)


def test_a_row_in_another_time_unit_is_rejected(tmp_path):
    lines = lines_of(klines(4))
    lines[2] = set_field(lines[2], 0, str((T0_MS + 2 * MINUTE_MS) * 1000))
    path = write(tmp_path, "k.csv", join_lines(lines))

    with pytest.raises(ImportRejected) as caught:
        import_candles(path, symbol="BTCUSDT", timeframe="1m")
    assert [e.as_dict() for e in caught.value.errors] == [
        {
            "line": 3,
            "field": "open_time",
            "reason": f"{(T0_MS + 2 * MINUTE_MS) * 1000} is not in milliseconds like the first row "
            "of this file",
        }
    ]

    result = import_candles(path, symbol="BTCUSDT", timeframe="1m", skip_invalid=True)
    assert result.inserted == 3
    assert stored()["timestamp"].tolist() == [us(T0) + 60_000_000 * i for i in (0, 1, 3)]


def test_unreadable_open_time_rejects_that_row_only(tmp_path):
    lines = lines_of(klines(4))
    lines[2] = set_field(lines[2], 0, "soon")
    path = write(tmp_path, "k.csv", join_lines(lines))

    with pytest.raises(ImportRejected) as caught:
        import_candles(path, symbol="BTCUSDT", timeframe="1m")
    assert [e.as_dict() for e in caught.value.errors] == [
        {"line": 3, "field": "open_time", "reason": "'soon' is not an epoch time"}
    ]

    result = import_candles(path, symbol="BTCUSDT", timeframe="1m", skip_invalid=True)
    assert result.inserted == 3
    assert stored()["timestamp"].tolist() == [us(T0) + 60_000_000 * i for i in (0, 1, 3)]


def test_seconds_are_not_a_binance_time_unit(tmp_path):
    lines = [
        set_field(line, 0, str(T0_MS // 1000 + 60 * i))
        for i, line in enumerate(lines_of(klines(2)))
    ]
    with pytest.raises(ImportRejected) as caught:
        import_candles(
            write(tmp_path, "k.csv", join_lines(lines)), symbol="BTCUSDT", timeframe="1m"
        )
    assert [(e.line, e.field) for e in caught.value.errors] == [(1, "open_time"), (2, "open_time")]
    assert "is not an epoch time in milliseconds or microseconds" in caught.value.errors[0].reason


@pytest.mark.parametrize(
    ("timeframe", "good", "bad"),
    [
        ("1w", datetime(2024, 1, 8, tzinfo=UTC), datetime(2024, 1, 11, tzinfo=UTC)),  # Thursday
        ("1M", datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
        ("4h", datetime(2024, 1, 1, 4, tzinfo=UTC), datetime(2024, 1, 1, 2, tzinfo=UTC)),
    ],
)
def test_timestamps_must_open_a_candle_of_the_timeframe(tmp_path, timeframe, good, bad):
    data = ohlcv(
        "Date,Open,High,Low,Close,Volume",
        [
            f"{good.isoformat()},10,12,9,11,1",
            f"{bad.isoformat()},10,12,9,11,1",
        ],
    )
    result = import_candles(
        write(tmp_path, "d.csv", data), symbol="BTCUSDT", timeframe=timeframe, skip_invalid=True
    )
    assert [e.as_dict() for e in result.rejects] == [
        {"line": 3, "field": "Date", "reason": f"not the open time of a {timeframe} candle"}
    ]
    assert stored(timeframe=timeframe)["timestamp"].tolist() == [us(good)]


@pytest.mark.parametrize(
    ("cells", "field_name", "reason"),
    [
        ("10,12,9,11,-1", "Volume", "negative volume"),
        ("0,12,9,11,1", "Open", "price must be greater than 0"),
        ("nan,12,9,11,1", "Open", "not a finite number"),
        ("10,inf,9,11,1", "High", "not a finite number"),
        ("10,12,11,10.5,1", "Low", "low is above min(open, close)"),
        ("10,10.5,9,11,1", "High", "high is below max(open, close)"),
    ],
)
def test_each_price_rule_names_its_column_as_the_header_does(tmp_path, cells, field_name, reason):
    data = ohlcv("Date,Open,High,Low,Close,Volume", [f"2024-01-01T00:00:00Z,{cells}"])
    with pytest.raises(ImportRejected) as caught:
        import_candles(write(tmp_path, "d.csv", data), symbol="BTCUSDT", timeframe="1m")
    assert {"line": 2, "field": field_name, "reason": reason} in [
        e.as_dict() for e in caught.value.errors
    ]
    assert table_counts() == (0, 0, 0)


def test_nothing_to_store_creates_no_symbol_or_series(tmp_path):
    header_only = write(tmp_path, "h.csv", b"Date,Open,High,Low,Close,Volume\n")
    all_bad = write(
        tmp_path, "b.csv", b"Date,Open,High,Low,Close,Volume\n2024-01-01T00:00:30Z,1,2,0.5,1.5,3\n"
    )

    empty = import_candles(header_only, symbol="BTCUSDT", timeframe="1m")
    skipped = import_candles(all_bad, symbol="BTCUSDT", timeframe="1m", skip_invalid=True)

    assert empty.as_dict() == {
        "inserted": 0,
        "updated": 0,
        "skipped": 0,
        "rejected": 0,
        "rejects": [],
    }
    assert (skipped.inserted, skipped.rejected) == (0, 1)
    assert table_counts() == (0, 0, 0)


# --- re-imports ----------------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(tmp_path):
    path = write(tmp_path, "k.csv", klines(40))
    import_candles(path, symbol="BTCUSDT", timeframe="1m")

    again = import_candles(path, symbol="BTCUSDT", timeframe="1m")

    assert (again.inserted, again.updated, again.skipped, again.rejected) == (0, 0, 40, 0)
    assert CandleSeries.objects.get().candle_count == 40


def test_reimport_with_one_changed_close_updates_one_row(tmp_path):
    data = klines(40)
    import_candles(write(tmp_path, "k.csv", data), symbol="BTCUSDT", timeframe="1m")
    lines = lines_of(data)
    lines[17] = set_field(lines[17], 4, field(lines[17], 1))  # close = open: still valid
    changed = join_lines(lines)

    result = import_candles(write(tmp_path, "k2.csv", changed), symbol="BTCUSDT", timeframe="1m")

    assert (result.inserted, result.updated, result.skipped) == (0, 1, 39)
    assert_stored_equals(stored(), kline_values(changed))
    assert CandleSeries.objects.get().candle_count == 40


def test_partly_overlapping_import_inserts_only_the_new_rows(tmp_path):
    data = klines(30)
    lines = lines_of(data)
    import_candles(
        write(tmp_path, "a.csv", join_lines(lines[:20])), symbol="BTCUSDT", timeframe="1m"
    )

    result = import_candles(
        write(tmp_path, "b.csv", join_lines(lines[12:])), symbol="BTCUSDT", timeframe="1m"
    )

    assert (result.inserted, result.updated, result.skipped) == (10, 0, 8)
    assert_stored_equals(stored(), kline_values(data))
    series = CandleSeries.objects.get()
    assert series.candle_count == 30
    assert series.first_timestamp == T0
    assert series.last_timestamp == T0 + timedelta(minutes=29)


# --- whole-file errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"", "auto", "the file is empty or starts with an empty line"),
        (b"\n" + klines(2), "auto", "the file is empty or starts with an empty line"),
        (b"foo,bar,baz\n1,2,3\n", "auto", "unrecognised format: expected Binance's 12-column"),
        (
            b"Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1.5\n",
            "auto",
            "header: no volume column (accepted names: volume, vol)",
        ),
        (
            b"Date,Open,High,Low,Close,Volume,Vol\n",
            "ohlcv",
            "header: columns Volume, Vol all name the volume field",
        ),
        (
            b"Date,Open,High,Low,Close,Volume\n2024-01-01,1,2,0.5,1.5,3\n",
            "binance",
            "line 1: 'Date' is not a kline open time and the header is not Binance's",
        ),
        (klines(2), "xml", "unknown format 'xml'; use one of auto, binance, ohlcv"),
    ],
)
def test_file_that_cannot_be_read_raises_a_clear_error(tmp_path, data, fmt, message):
    with pytest.raises(ImportFileError) as caught:
        import_candles(write(tmp_path, "f.csv", data), symbol="BTCUSDT", timeframe="1m", fmt=fmt)
    assert message in str(caught.value)
    assert table_counts() == (0, 0, 0)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ImportFileError, match=r"nope\.csv: no such file"):
        import_candles(tmp_path / "nope.csv", symbol="BTCUSDT", timeframe="1m")


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_non_utf8_file_is_refused_as_a_whole(tmp_path, skip_invalid):
    data = b"Date,Open,High,Low,Close,Volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,\xff\n"
    with pytest.raises(ImportFileError, match=r"^line 2: not UTF-8 text \(invalid start byte\)$"):
        import_candles(
            write(tmp_path, "d.csv", data),
            symbol="BTCUSDT",
            timeframe="1m",
            skip_invalid=skip_invalid,
        )
    assert table_counts() == (0, 0, 0)


# --- parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"symbol": "x"}, "symbol"),
        ({"symbol": "BTC USDT!"}, "symbol"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"timeframe": "1H"}, "timeframe"),
        ({"source_name": "Binance Spot"}, "source"),
        ({"source_name": ""}, "source"),
    ],
)
def test_invalid_parameter_is_named_and_nothing_is_written(tmp_path, options, parameter):
    arguments = {"symbol": "BTCUSDT", "timeframe": "1m", **options}
    with pytest.raises(InvalidParameter) as caught:
        import_candles(write(tmp_path, "k.csv", klines(3)), **arguments)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(f"{parameter}: ")
    assert table_counts() == (0, 0, 0)


@pytest.mark.parametrize(
    ("raw", "name", "base", "quote"),
    [
        ("btc/usdt", "BTCUSDT", "BTC", "USDT"),
        (" eth-btc ", "ETHBTC", "ETH", "BTC"),
        ("sol_fdusd", "SOLFDUSD", "SOL", "FDUSD"),
    ],
)
def test_symbol_is_normalised(tmp_path, raw, name, base, quote):
    import_candles(
        write(tmp_path, "k.csv", klines(3)), symbol=raw, timeframe="1m", source_name="vision"
    )
    symbol = Symbol.objects.get()
    assert (symbol.name, symbol.base_asset, symbol.quote_asset) == (name, base, quote)
    series = CandleSeries.objects.get()
    assert (series.symbol_id, series.timeframe, series.source) == (symbol.pk, "1m", "vision")


def test_epoch_row_in_an_iso_file_is_rejected_saying_why(tmp_path):
    data = ohlcv(
        "Date,Open,High,Low,Close,Volume",
        ["2024-01-01T00:00:00Z,10,12,9,11,1", f"{T0_MS + 60_000},10,12,9,11,1"],
    )
    result = import_candles(
        write(tmp_path, "d.csv", data), symbol="BTCUSDT", timeframe="1m", skip_invalid=True
    )
    assert [e.as_dict() for e in result.rejects] == [
        {
            "line": 3,
            "field": "Date",
            "reason": f"'{T0_MS + 60_000}' is an epoch number, but the first row of this file is "
            "an ISO 8601 date",
        }
    ]
    assert result.inserted == 1


def test_iso_row_in_an_epoch_file_is_rejected_and_the_epoch_rows_kept(tmp_path):
    data = ohlcv(
        "Date,Open,High,Low,Close,Volume",
        [
            f"{T0_MS},10,12,9,11,1",
            "2024-01-01T00:01:00Z,10,12,9,11,1",
            f"{T0_MS + 120_000},10,12,9,11,1",
        ],
    )
    result = import_candles(
        write(tmp_path, "d.csv", data), symbol="BTCUSDT", timeframe="1m", skip_invalid=True
    )
    assert [(e.line, e.field) for e in result.rejects] == [(3, "Date")]
    assert "is not an epoch number like the first row" in result.rejects[0].reason
    assert result.inserted == 2


def test_trailing_blank_lines_are_not_rows(tmp_path):
    rows = klines(3, seed=4)
    result = import_candles(
        write(tmp_path, "k.csv", rows + b"\n\n  \n"), symbol="BTCUSDT", timeframe="1m"
    )
    assert (result.inserted, result.rejected) == (3, 0)
