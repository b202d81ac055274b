"""storage.upsert_candles: binary COPY into an empty range, staging merge otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import connection

from marketdata.importers.batch import CandleBatch
from marketdata.models import CandleSeries
from marketdata.services import get_or_create_series, import_candles
from marketdata.storage import upsert_candles
from tests.marketdata.fixtures.candle_files import (
    T0,
    bad_kline_file,
    join_lines,
    kline_values,
    klines,
    lines_of,
    stored_rows,
)

pytestmark = pytest.mark.django_db

OHLCV_HEADER = "Date,Open,High,Low,Close,Volume,Quote Volume,Trades"


def minute(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def ohlcv_file(tmp_path, name: str, rows: list[str], header: str = OHLCV_HEADER):
    path = tmp_path / name
    path.write_bytes(join_lines([header, *rows]))
    return path


def batch_of(values: dict[str, np.ndarray], order: np.ndarray | None = None) -> CandleBatch:
    order = np.arange(len(values["timestamp"])) if order is None else order
    return CandleBatch(
        timestamp_us=values["timestamp"][order],
        **{
            name: values[name][order]
            for name in ("open", "high", "low", "close", "volume", "quote_volume", "trade_count")
        },
        line=order.astype(np.int64) + 1,
    )


def expected_rows(values: dict[str, np.ndarray]) -> list[tuple]:
    return [
        (datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(ts)), o, h, lo, c, v, q, n)
        for ts, o, h, lo, c, v, q, n in zip(
            values["timestamp"],
            values["open"].tolist(),
            values["high"].tolist(),
            values["low"].tolist(),
            values["close"].tolist(),
            values["volume"].tolist(),
            values["quote_volume"].tolist(),
            values["trade_count"].tolist(),
            strict=True,
        )
    ]


def series_facts(series: CandleSeries) -> tuple:
    """(first, last, count) as kept on the series, and as the candle table says."""
    series.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(timestamp), max(timestamp), count(*) FROM marketdata_candle "
            "WHERE series_id = %s",
            (series.pk,),
        )
        actual = cursor.fetchone()
    return (series.first_timestamp, series.last_timestamp, series.candle_count), actual


def test_missing_quote_volume_and_trade_count_are_stored_as_null(tmp_path):
    path = ohlcv_file(
        tmp_path,
        "d.csv",
        [
            "2024-01-01T00:00:00Z,10,12,9,11,100",
            "2024-01-01T00:01:00Z,11,13,10,12,200",
        ],
        header="Date,Open,High,Low,Close,Volume",
    )

    import_candles(path, symbol="BTCUSDT", timeframe="1m")

    rows = stored_rows(CandleSeries.objects.get())
    assert [row[6:] for row in rows] == [(None, None), (None, None)]
    assert [row[1:6] for row in rows] == [(10, 12, 9, 11, 100), (11, 13, 10, 12, 200)]


def test_empty_optional_cells_are_null_and_given_ones_kept(tmp_path):
    path = ohlcv_file(
        tmp_path,
        "d.csv",
        [
            "2024-01-01T00:00:00Z,10,12,9,11,100,,",
            "2024-01-01T00:01:00Z,11,13,10,12,200,2400.5,",
            "2024-01-01T00:02:00Z,12,14,11,13,300,,0",
            "2024-01-01T00:03:00Z,13,15,12,14,400,5600.25,42",
        ],
    )

    import_candles(path, symbol="BTCUSDT", timeframe="1m")

    rows = stored_rows(CandleSeries.objects.get())
    assert [row[6:] for row in rows] == [(None, None), (2400.5, None), (None, 0), (5600.25, 42)]


def test_merge_path_writes_null_and_compares_null_as_equal(tmp_path):
    first = ohlcv_file(
        tmp_path,
        "a.csv",
        [
            "2024-01-01T00:00:00Z,10,12,9,11,100,1100,7",
            "2024-01-01T00:01:00Z,11,13,10,12,200,,",
        ],
    )
    second = ohlcv_file(
        tmp_path,
        "b.csv",
        [
            "2024-01-01T00:00:00Z,10,12,9,11,100,,",  # values removed: updated to NULL
            "2024-01-01T00:01:00Z,11,13,10,12,200,,",  # NULL stays NULL: unchanged
            "2024-01-01T00:02:00Z,12,14,11,13,300,,",  # new, through the staging table
        ],
    )
    import_candles(first, symbol="BTCUSDT", timeframe="1m")

    merged = import_candles(second, symbol="BTCUSDT", timeframe="1m")
    again = import_candles(second, symbol="BTCUSDT", timeframe="1m")

    assert (merged.inserted, merged.updated, merged.skipped) == (1, 1, 1)
    assert (again.inserted, again.updated, again.skipped) == (0, 0, 3)
    rows = stored_rows(CandleSeries.objects.get())
    assert [row[6:] for row in rows] == [(None, None)] * 3
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM marketdata_candle WHERE quote_volume = 'NaN' OR trade_count = -1"
        )
        assert cursor.fetchone() == (0,)


def test_series_first_last_and_count_stay_exact_over_several_imports(tmp_path):
    lines = lines_of(klines(60))

    def load(name: str, part: list[str], **options):
        path = tmp_path / name
        path.write_bytes(join_lines(part))
        return import_candles(path, symbol="BTCUSDT", timeframe="1m", **options)

    load("middle.csv", lines[20:40])  # empty series: COPY
    series = CandleSeries.objects.get()
    assert series_facts(series) == ((minute(20), minute(39), 20),) * 2
    load("early.csv", lines[:10])  # before, with a gap: COPY
    assert series_facts(series) == ((minute(0), minute(39), 30),) * 2
    result = load("late.csv", lines[35:60])  # overlapping: merge
    assert (result.inserted, result.skipped) == (20, 5)
    assert series_facts(series) == ((minute(0), minute(59), 50),) * 2
    load("late.csv", lines[35:60])  # the same again
    assert series_facts(series) == ((minute(0), minute(59), 50),) * 2
    result = load("gap.csv", lines[5:15])  # fills half of the gap
    assert (result.inserted, result.skipped) == (5, 5)
    assert series_facts(series) == ((minute(0), minute(59), 55),) * 2


def test_skipped_rows_do_not_count_towards_the_series(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(bad_kline_file())
    import_candles(path, symbol="BTCUSDT", timeframe="1m", skip_invalid=True)
    series = CandleSeries.objects.get()
    assert series_facts(series) == ((minute(0), minute(10), 4),) * 2


def test_out_of_order_batch_is_stored_in_time_order():
    values = kline_values(klines(200, seed=5))
    shuffled = np.random.default_rng(0).permutation(200)
    series = get_or_create_series("BTCUSDT", "1m")

    counts = upsert_candles(series, batch_of(values, shuffled))

    assert (counts.inserted, counts.updated, counts.unchanged) == (200, 0, 0)
    assert stored_rows(series) == expected_rows(values)
    assert series_facts(series) == ((minute(0), minute(199), 200),) * 2


def test_out_of_order_batch_merged_into_stored_candles():
    values = kline_values(klines(300, seed=6))
    series = get_or_create_series("BTCUSDT", "1m")
    upsert_candles(series, batch_of(values, np.arange(0, 300, 2)))  # every other minute
    changed = {name: array.copy() for name, array in values.items()}
    changed["volume"][[10, 20]] += 1.0  # two stored candles differ

    order = np.random.default_rng(1).permutation(np.arange(0, 300))
    counts = upsert_candles(series, batch_of(changed, order))

    assert (counts.inserted, counts.updated, counts.unchanged) == (150, 2, 148)
    assert stored_rows(series) == expected_rows(changed)
    assert series_facts(series) == ((minute(0), minute(299), 300),) * 2


def test_shuffled_file_import_matches_the_sorted_one(tmp_path):
    data = klines(100, seed=8)
    lines = lines_of(data)
    order = np.random.default_rng(2).permutation(100)
    path = tmp_path / "shuffled.csv"
    path.write_bytes(join_lines([lines[i] for i in order]))

    result = import_candles(path, symbol="BTCUSDT", timeframe="1m")

    assert result.inserted == 100
    assert stored_rows(CandleSeries.objects.get()) == expected_rows(kline_values(data))


def test_empty_batch_writes_nothing():
    series = get_or_create_series("BTCUSDT", "1m")
    counts = upsert_candles(series, CandleBatch.empty())
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 0)
    assert series_facts(series) == ((None, None, 0), (None, None, 0))
