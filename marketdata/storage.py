"""Writing candles in bulk with binary COPY.

When no stored candle of the series lies inside the batch's time range (a first import,
a sync that appends), the batch is copied straight into the candle table: nothing can
conflict, and this is the fastest load PostgreSQL offers. Otherwise it is copied into a
staging table and merged by one set-based upsert (changed rows updated, new rows
inserted, equal rows left alone). Every writer of a series (file imports, Binance sync)
comes through `upsert_candles`, which holds a per-series advisory lock for its
transaction, so two writers of the same series never interleave and the series'
first/last/count stay exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db import connection, transaction
from psycopg.copy import QueuedLibpqWriter
from psycopg.errors import UniqueViolation

from marketdata import pgcopy
from marketdata.importers.batch import CandleBatch
from marketdata.models import CandleSeries

STAGING_COLUMNS = [
    ("ts", "i8"),
    ("open", "f8"),
    ("high", "f8"),
    ("low", "f8"),
    ("close", "f8"),
    ("volume", "f8"),
    ("quote_volume", "f8"),
    ("trade_count", "i8"),
]
_ADVISORY_NAMESPACE = 0x43414E44  # "CAND": keeps our advisory locks apart from others'
_COPY_ROWS = 65_536
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "trade_count")


def _as_datetime(pg_timestamp: int | np.int64) -> datetime:
    """A PostgreSQL binary timestamp (µs since 2000-01-01 UTC) as an aware datetime."""
    return datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(pg_timestamp))


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int


def _slices(arrays: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    for start in range(0, len(arrays["ts"]), _COPY_ROWS):
        yield {name: values[start : start + _COPY_ROWS] for name, values in arrays.items()}


def _copy_in(
    cursor,
    statement: str,
    columns: list[tuple[str, str]],
    parts: Iterable[dict[str, np.ndarray]],
    nullable: bool,
) -> None:
    """Encode and send part by part; a writer thread sends one part while the next is built."""
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(pgcopy.HEADER)
        for part in parts:
            nulls = None
            if nullable:  # NaN / -1 mark "not given by the source": stored as NULL
                nulls = {
                    "quote_volume": np.isnan(part["quote_volume"]),
                    "trade_count": part["trade_count"] == -1,
                }
            copy.write(pgcopy.encode_rows(columns, part, nulls))
        copy.write(pgcopy.TRAILER)


def _sorted_arrays(batch: CandleBatch) -> dict[str, np.ndarray]:
    order = np.argsort(batch.timestamp_us, kind="stable")
    arrays = {name: getattr(batch, name)[order] for name in _VALUE_COLUMNS}
    arrays["ts"] = pgcopy.unix_us_to_pg(batch.timestamp_us[order])
    return arrays


def _copy_into_candles(cursor, series_id: int, parts: Iterable[dict[str, np.ndarray]]) -> None:
    """Straight into the table; a candle already stored raises UniqueViolation."""
    with_series = (
        {**part, "series_id": np.full(len(part["ts"]), series_id, dtype=np.int64)} for part in parts
    )
    _copy_in(
        cursor,
        f"COPY marketdata_candle (series_id, timestamp, {', '.join(_VALUE_COLUMNS)}) "
        "FROM STDIN (FORMAT BINARY)",
        [("series_id", "i8"), *STAGING_COLUMNS],
        with_series,
        nullable=True,
    )


def _write_staging(cursor, arrays: dict[str, np.ndarray]) -> None:
    cursor.execute("DROP TABLE IF EXISTS pg_temp.candle_staging")
    cursor.execute(
        "CREATE TEMP TABLE candle_staging (ts timestamptz NOT NULL, open float8, high float8, "
        "low float8, close float8, volume float8, quote_volume float8, trade_count int8) "
        "ON COMMIT DROP"
    )
    _copy_in(
        cursor,
        "COPY candle_staging FROM STDIN (FORMAT BINARY)",
        STAGING_COLUMNS,
        _slices(arrays),
        nullable=False,
    )
    cursor.execute("ANALYZE candle_staging")


_STAGED_VALUES = (
    "s.open, s.high, s.low, s.close, s.volume, NULLIF(s.quote_volume, 'NaN'), "
    "NULLIF(s.trade_count, -1)"
)


def _update_changed(cursor, series_id: int, first, last) -> int:
    assignments = ", ".join(f"{c} = v.{c}" for c in _VALUE_COLUMNS)
    cursor.execute(
        f"""
        UPDATE marketdata_candle AS c SET {assignments}
        FROM (SELECT s.ts, {_STAGED_VALUES} FROM candle_staging s)
             AS v (ts, {", ".join(_VALUE_COLUMNS)})
        WHERE c.series_id = %s AND c.timestamp BETWEEN %s AND %s AND c.timestamp = v.ts
          AND ({", ".join("c." + col for col in _VALUE_COLUMNS)})
              IS DISTINCT FROM ({", ".join("v." + col for col in _VALUE_COLUMNS)})
        """,
        (series_id, first, last),
    )
    return cursor.rowcount


def _insert_new(cursor, series_id: int) -> int:
    cursor.execute(
        f"""
        INSERT INTO marketdata_candle
            (series_id, timestamp, {", ".join(_VALUE_COLUMNS)})
        SELECT %s, s.ts, {_STAGED_VALUES} FROM candle_staging s
        ON CONFLICT (series_id, timestamp) DO NOTHING
        """,
        (series_id,),
    )
    return cursor.rowcount


def _lock_series(cursor, series: CandleSeries) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_ADVISORY_NAMESPACE, series.pk))


def _record_stats(
    cursor, series: CandleSeries, first: datetime, last: datetime, inserted: int
) -> None:
    cursor.execute(
        """
        UPDATE marketdata_candleseries SET
            first_timestamp = LEAST(first_timestamp, %s),
            last_timestamp = GREATEST(last_timestamp, %s),
            candle_count = candle_count + %s, updated_at = now()
        WHERE id = %s
        """,
        (first, last, inserted, series.pk),
    )


def has_candles_between(series: CandleSeries, first: datetime, last: datetime) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM marketdata_candle WHERE series_id = %s "
            "AND timestamp BETWEEN %s AND %s)",
            (series.pk, first, last),
        )
        return cursor.fetchone()[0]


def upsert_candles(series: CandleSeries, batch: CandleBatch) -> UpsertCounts:
    """Store the batch: new candles inserted, changed ones updated, equal ones left."""
    if len(batch) == 0:
        return UpsertCounts(0, 0, 0)
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            _lock_series(cursor, series)
            arrays = _sorted_arrays(batch)
            first, last = (_as_datetime(arrays["ts"][i]) for i in (0, -1))
            if has_candles_between(series, first, last):
                _write_staging(cursor, arrays)
                updated = _update_changed(cursor, series.pk, first, last)
                inserted = _insert_new(cursor, series.pk)
                cursor.execute("DROP TABLE candle_staging")
            else:
                updated, inserted = 0, len(batch)
                _copy_into_candles(cursor, series.pk, _slices(arrays))
            _record_stats(cursor, series, first, last, inserted)
    series.refresh_from_db(fields=("first_timestamp", "last_timestamp", "candle_count"))
    return UpsertCounts(inserted, updated, len(batch) - inserted - updated)


@dataclass
class _Extent:
    """What a stream of sorted batches covered: row count and first/last PostgreSQL time."""

    rows: int = 0
    first: int | None = None
    last: int | None = None

    def add(self, arrays: dict[str, np.ndarray]) -> None:
        if not len(arrays["ts"]):
            return
        first, last = int(arrays["ts"][0]), int(arrays["ts"][-1])
        self.rows += len(arrays["ts"])
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)


def append_candles(series: CandleSeries, batches: Iterable[CandleBatch]) -> int | None:
    """Stream batches straight into the table while the caller is still reading them.

    An import's fast lane: parsing the next batch overlaps with PostgreSQL storing the
    last one. Returns the number of candles stored, or None, with nothing written, when
    one of them is already stored (the caller then merges with `upsert_candles`). An
    exception from `batches` also leaves nothing written.
    """
    extent = _Extent()

    def parts() -> Iterator[dict[str, np.ndarray]]:
        for batch in batches:
            arrays = _sorted_arrays(batch)
            extent.add(arrays)
            yield from _slices(arrays)

    connection.ensure_connection()
    try:
        with transaction.atomic(), connection.connection.cursor() as cursor:
            _lock_series(cursor, series)
            _copy_into_candles(cursor, series.pk, parts())
            if extent.rows:
                first, last = _as_datetime(extent.first), _as_datetime(extent.last)
                _record_stats(cursor, series, first, last, extent.rows)
    except UniqueViolation:
        return None
    series.refresh_from_db(fields=("first_timestamp", "last_timestamp", "candle_count"))
    return extent.rows
