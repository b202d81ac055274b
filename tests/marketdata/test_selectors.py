"""Market-data reads: numpy arrays, frames, downsampled ranges and the symbol list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from marketdata import selectors
from marketdata.importers.batch import CandleBatch
from marketdata.services import get_or_create_series, import_candles
from marketdata.storage import upsert_candles
from tests.marketdata.fixtures.candle_files import (
    HOUR_MS,
    T0,
    join_lines,
    kline_values,
    klines,
    lines_of,
)

pytestmark = pytest.mark.django_db

OHLCV = ("open", "high", "low", "close", "volume")


def minute(i: float) -> datetime:
    return T0 + timedelta(minutes=i)


def us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def load(
    tmp_path,
    data: bytes,
    symbol: str = "BTCUSDT",
    timeframe: str = "1m",
    name: str = "k.csv",
    **options,
):
    path = tmp_path / name
    path.write_bytes(data)
    import_candles(path, symbol=symbol, timeframe=timeframe, **options)
    return selectors.find_series(symbol, timeframe, options.get("source_name", "binance"))


def store(symbol: str, timeframe: str, moments: list[datetime], seed: int = 0):
    """Random but valid candles at the given open times, written through storage."""
    rng = np.random.default_rng(seed)
    n = len(moments)
    open_ = 100 + rng.random(n) * 10
    close = 100 + rng.random(n) * 10
    high = np.maximum(open_, close) + rng.random(n)
    low = np.minimum(open_, close) - rng.random(n)
    series = get_or_create_series(symbol, timeframe)
    upsert_candles(
        series,
        CandleBatch(
            timestamp_us=np.asarray([us(m) for m in moments], dtype=np.int64),
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=rng.random(n) * 50,
            quote_volume=np.full(n, np.nan),
            trade_count=np.full(n, -1, dtype=np.int64),
            line=np.arange(1, n + 1, dtype=np.int64),
        ),
    )
    return series


def frame_of(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    index = pd.DatetimeIndex(arrays["timestamp"].astype("datetime64[us]"), tz="UTC")
    return pd.DataFrame({name: arrays[name] for name in OHLCV}, index=index)


def assert_buckets_match(result: selectors.CandleRange, expected: pd.DataFrame) -> None:
    got = result.arrays
    assert got["timestamp"].tolist() == [us(t) for t in expected.index]
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(got[name], expected[name].to_numpy(), err_msg=name)
    np.testing.assert_allclose(got["volume"], expected["volume"].to_numpy(), rtol=1e-12)


AGGREGATES = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


# --- candle_arrays / candle_frame ----------------------------------------------------


def test_arrays_are_what_was_imported_sorted_even_when_stored_out_of_order(tmp_path):
    data = klines(500, seed=11)
    lines = lines_of(data)
    shuffled = [lines[i] for i in np.random.default_rng(3).permutation(range(250, 500))]
    load(tmp_path, join_lines(shuffled), name="late.csv")  # the later half first, shuffled
    series = load(tmp_path, join_lines(lines[:250]), name="early.csv")

    arrays = selectors.candle_arrays(series)

    expected = kline_values(data)
    assert set(arrays) == set(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(arrays[name], values, err_msg=name)
    assert arrays["timestamp"].dtype == np.int64
    assert arrays["trade_count"].dtype == np.int64
    assert arrays["close"].dtype == np.float64
    assert np.all(np.diff(arrays["timestamp"]) > 0)


def test_range_bounds_are_start_inclusive_end_exclusive(tmp_path):
    series = load(tmp_path, klines(60))

    def times(start, end):
        stamps = selectors.candle_arrays(series, start, end)["timestamp"]
        return [(s - us(T0)) // 60_000_000 for s in stamps.tolist()]

    assert times(minute(10), minute(20)) == list(range(10, 20))
    assert times(minute(10.5), minute(12.5)) == [11, 12]
    assert times(None, minute(3)) == [0, 1, 2]
    assert times(minute(57), None) == [57, 58, 59]
    assert times(minute(60), minute(90)) == []
    assert times(minute(5), minute(5)) == []


def test_empty_range_gives_empty_typed_arrays(tmp_path):
    series = load(tmp_path, klines(5))
    arrays = selectors.candle_arrays(series, minute(100), minute(200))
    assert {name: (len(a), a.dtype) for name, a in arrays.items()} == {
        "timestamp": (0, np.int64),
        "open": (0, np.float64),
        "high": (0, np.float64),
        "low": (0, np.float64),
        "close": (0, np.float64),
        "volume": (0, np.float64),
        "quote_volume": (0, np.float64),
        "trade_count": (0, np.int64),
    }


def test_candle_frame_is_indexed_by_utc_open_time(tmp_path):
    data = join_lines(
        [
            "Date,Open,High,Low,Close,Volume,Quote Volume",
            "2024-01-01T02:00:00+02:00,10,12,9,11,100,",
            "2024-01-01T01:00:00Z,11,13,10,12,200,2400",
        ]
    )
    series = load(tmp_path, data, timeframe="1h")

    frame = selectors.candle_frame(series)

    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert frame.index.name == "timestamp"
    assert list(frame.index) == [
        pd.Timestamp("2024-01-01T00:00Z"),
        pd.Timestamp("2024-01-01T01:00Z"),
    ]
    assert list(frame.columns) == list(selectors.CANDLE_FIELDS)
    assert frame["open"].tolist() == [10, 11]
    assert frame["quote_volume"].isna().tolist() == [True, False]
    assert frame["trade_count"].tolist() == [-1, -1]


# --- candle_range --------------------------------------------------------------------


def test_range_that_fits_is_returned_raw(tmp_path):
    data = klines(120)
    series = load(tmp_path, data)

    result = selectors.candle_range(series, None, None, max_points=120)

    assert (result.downsampled, result.bucket_seconds) == (False, 60)
    expected = kline_values(data)
    for name in ("timestamp", *OHLCV):
        np.testing.assert_array_equal(result.arrays[name], expected[name], err_msg=name)


def test_downsampled_1m_buckets_are_ohlc_correct(tmp_path):
    data = klines(1200, seed=21)
    series = load(tmp_path, data)

    result = selectors.candle_range(series, None, None, max_points=20)

    assert result.downsampled
    assert result.bucket_seconds == 3600
    assert len(result.arrays["timestamp"]) <= 20
    first_bucket = pd.Timestamp(int(result.arrays["timestamp"][0]), unit="us", tz="UTC")
    expected = (
        frame_of(kline_values(data))
        .resample(f"{result.bucket_seconds}s", origin=first_bucket, closed="left", label="left")
        .agg(AGGREGATES)
        .dropna()
    )
    assert len(expected) == 20
    assert_buckets_match(result, expected)


def test_downsampled_range_inside_the_series(tmp_path):
    data = klines(600, seed=22)
    series = load(tmp_path, data)

    result = selectors.candle_range(series, minute(120), minute(480), max_points=12)

    assert result.bucket_seconds == 1800
    frame = frame_of(kline_values(data))
    window = frame[(frame.index >= minute(120)) & (frame.index < minute(480))]
    expected = window.resample("1800s", origin="epoch").agg(AGGREGATES).dropna()
    assert_buckets_match(result, expected)
    assert len(result.arrays["timestamp"]) == 12


@pytest.mark.parametrize("max_points", [7, 12, 35])
def test_downsampled_count_never_exceeds_max_points(tmp_path, max_points):
    # 1000 one-minute candles from 00:00: bucket widths of 143, 84 and 29 minutes do not
    # divide the Unix epoch offset of the first candle.
    series = load(tmp_path, klines(1000, seed=23))

    result = selectors.candle_range(series, None, None, max_points=max_points)

    assert result.downsampled
    assert len(result.arrays["timestamp"]) <= max_points
    assert result.arrays["volume"].sum() == pytest.approx(
        selectors.candle_arrays(series)["volume"].sum(), rel=1e-12
    )


def test_calendar_month_series_downsampled_by_whole_months():
    months = [datetime(2020 + m // 12, m % 12 + 1, 1, tzinfo=UTC) for m in range(36)]
    series = store("BTCUSDT", "1M", months, seed=4)

    result = selectors.candle_range(series, None, None, max_points=6)

    assert result.downsampled
    stamps = [pd.Timestamp(int(t), unit="us", tz="UTC") for t in result.arrays["timestamp"]]
    assert stamps == [
        pd.Timestamp(f"{2020 + k // 2}-{1 + 6 * (k % 2):02d}-01", tz="UTC") for k in range(6)
    ]
    raw = selectors.candle_arrays(series)
    bucket = np.searchsorted(result.arrays["timestamp"], raw["timestamp"], "right") - 1
    expected = frame_of(raw).groupby(bucket).agg(AGGREGATES)
    expected.index = pd.DatetimeIndex(stamps)
    assert_buckets_match(result, expected)


def test_calendar_month_downsampling_keeps_within_max_points():
    months = [datetime(2021 + (m + 2) // 12, (m + 2) % 12 + 1, 1, tzinfo=UTC) for m in range(36)]
    series = store("BTCUSDT", "1M", months, seed=5)  # March 2021 to February 2024

    result = selectors.candle_range(series, None, None, max_points=5)

    assert result.downsampled
    assert len(result.arrays["timestamp"]) <= 5
    assert result.arrays["high"].max() == selectors.candle_arrays(series)["high"].max()


def test_weekly_buckets_open_on_monday_like_weekly_candles():
    weeks = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(weeks=w) for w in range(40)]
    series = store("BTCUSDT", "1w", weeks, seed=6)

    result = selectors.candle_range(series, None, None, max_points=10)

    assert result.downsampled
    days = result.arrays["timestamp"].astype("datetime64[us]").astype(datetime)
    assert [d.weekday() for d in days] == [0] * len(days)
    assert days[0] >= weeks[0].replace(tzinfo=None)


# --- catalogue -----------------------------------------------------------------------


def test_symbols_with_series_lists_stored_series_in_a_constant_number_of_queries(
    tmp_path, django_assert_num_queries
):
    def listing():
        return [
            (symbol.name, [(s.timeframe, s.source, s.candle_count) for s in symbol.stored_series])
            for symbol in selectors.symbols_with_series()
        ]

    load(tmp_path, klines(3), "BTCUSDT", "1m")
    load(tmp_path, klines(2, step_ms=HOUR_MS), "BTCUSDT", "1h", source_name="vision")
    get_or_create_series("XRPUSDT", "1m")  # no candles: not listed
    with django_assert_num_queries(2):
        small = listing()
    assert small == [("BTCUSDT", [("1h", "vision", 2), ("1m", "binance", 3)])]

    for i, name in enumerate(("ADAUSDT", "DOTUSDT", "ETHUSDT", "SOLUSDT", "TRXUSDT")):
        load(tmp_path, klines(i + 1), name, "1m")
        load(tmp_path, klines(2, step_ms=HOUR_MS), name, "1h")
    with django_assert_num_queries(2):
        large = listing()
    assert [name for name, _ in large] == [
        "ADAUSDT",
        "BTCUSDT",
        "DOTUSDT",
        "ETHUSDT",
        "SOLUSDT",
        "TRXUSDT",
    ]
    assert large[2] == ("DOTUSDT", [("1h", "binance", 2), ("1m", "binance", 2)])


def test_find_series_matches_symbol_timeframe_and_source(tmp_path):
    load(tmp_path, klines(3), "BTCUSDT", "1m", source_name="vision")
    found = selectors.find_series("BTCUSDT", "1m", "vision")
    assert (found.symbol.name, found.timeframe, found.source) == ("BTCUSDT", "1m", "vision")
    assert selectors.find_series("BTCUSDT", "1m") is None
    assert selectors.find_series("BTCUSDT", "5m", "vision") is None
    assert selectors.find_series("ETHUSDT", "1m", "vision") is None
