"""The import's fast lane (parse, validate and COPY chunk by chunk) must give exactly the
result of the careful path whenever it has to give up part-way: nothing half-written."""

import pytest

from marketdata.importers import tabular
from marketdata.importers.errors import ImportRejected
from marketdata.models import Candle, CandleSeries, Symbol
from marketdata.sample_data import kline_rows
from marketdata.selectors import candle_arrays, find_series
from marketdata.services import import_candles

pytestmark = pytest.mark.django_db
START_MS, MINUTE_MS = 1_704_067_200_000, 60_000


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Many chunks, so that trouble can sit in a later chunk than the first."""
    monkeypatch.setattr(tabular, "FAST_CHUNK_ROWS", 50)


def _lines(count: int, first_minute: int = 0) -> list[bytes]:
    data = kline_rows(START_MS + first_minute * MINUTE_MS, MINUTE_MS, count, 100.0, seed=11)
    return data.splitlines(keepends=True)


def _write(tmp_path, lines: list[bytes]):
    path = tmp_path / "klines.csv"
    path.write_bytes(b"".join(lines))
    return path


def test_clean_file_over_many_chunks_is_stored_whole(tmp_path):
    result = import_candles(_write(tmp_path, _lines(430)), symbol="BTCUSDT", timeframe="1m")
    assert (result.inserted, result.updated, result.skipped) == (430, 0, 0)
    series = find_series("BTCUSDT", "1m")
    assert series.candle_count == 430 == Candle.objects.count()
    stamps = candle_arrays(series)["timestamp"]
    assert stamps[0] == START_MS * 1000 and stamps[-1] == (START_MS + 429 * MINUTE_MS) * 1000


def test_bad_row_in_a_late_chunk_rejects_the_file_and_stores_nothing(tmp_path):
    lines = _lines(300)
    fields = lines[287].split(b",")
    fields[2] = b"0.5"  # high far below open and close
    lines[287] = b",".join(fields)
    with pytest.raises(ImportRejected) as rejected:
        import_candles(_write(tmp_path, lines), symbol="BTCUSDT", timeframe="1m")
    assert [(e.line, e.field) for e in rejected.value.errors] == [(288, "high")]
    assert (Symbol.objects.count(), CandleSeries.objects.count(), Candle.objects.count()) == (
        0,
        0,
        0,
    )


def test_duplicate_across_chunks_is_reported_by_line(tmp_path):
    lines = _lines(200)
    lines[170] = lines[10]
    with pytest.raises(ImportRejected) as rejected:
        import_candles(_write(tmp_path, lines), symbol="BTCUSDT", timeframe="1m")
    assert [(e.line, e.reason) for e in rejected.value.errors] == [
        (171, "duplicate timestamp, first seen on line 11")
    ]
    assert Candle.objects.count() == 0


def test_stored_candle_inside_an_unsorted_file_falls_back_to_the_merge(tmp_path):
    import_candles(_write(tmp_path, _lines(1, first_minute=500)), symbol="BTCUSDT", timeframe="1m")
    # First and last rows (minutes 0 and 1) suggest an empty range; minute 500 is inside.
    lines = _lines(1, 0) + _lines(1, 400) + _lines(1, 500) + _lines(1, 1)
    result = import_candles(_write(tmp_path, lines), symbol="BTCUSDT", timeframe="1m")
    assert (result.inserted, result.updated, result.skipped) == (3, 0, 1)
    assert find_series("BTCUSDT", "1m").candle_count == 4 == Candle.objects.count()
