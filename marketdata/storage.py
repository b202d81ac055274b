"""Writing candles in bulk: binary COPY into a staging table, then one set-based upsert.

Every writer of a series (file imports, Binance sync) comes through `upsert_candles`,
which holds a per-series advisory lock for its transaction, so two writers of the same
series never interleave and the series' first/last/count stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from marketdata import pgcopy
from marketdata.importers.batch import CandleBatch
from marketdata.models import CandleSeries

STAGING_COLUMNS = [
    ("ts", "i8"), ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8"),
    ("volume", "f8"), ("quote_volume", "f8"), ("trade_count", "i8"),
]
_ADVISORY_NAMESPACE = 0x43414E44  # "CAND": keeps our advisory locks apart from others'
_COPY_CHUNK = 8 * 1024 * 1024
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "trade_count")


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int


def _write_staging(cursor, batch: CandleBatch) -> None:
    cursor.execute("DROP TABLE IF EXISTS pg_temp.candle_staging")
    cursor.execute(
        "CREATE TEMP TABLE candle_staging (ts timestamptz NOT NULL, open float8, high float8, "
        "low float8, close float8, volume float8, quote_volume float8, trade_count int8) "
        "ON COMMIT DROP"
    )
    order = np.argsort(batch.timestamp_us, kind="stable")
    payload = pgcopy.encode(
        STAGING_COLUMNS,
        {
            "ts": pgcopy.unix_us_to_pg(batch.timestamp_us[order]),
            "open": batch.open[order], "high": batch.high[order], "low": batch.low[order],
            "close": batch.close[order], "volume": batch.volume[order],
            "quote_volume": batch.quote_volume[order], "trade_count": batch.trade_count[order],
        },
    )
    view = memoryview(payload)
    with cursor.copy("COPY candle_staging FROM STDIN (FORMAT BINARY)") as copy:
        for start in range(0, len(view), _COPY_CHUNK):
            copy.write(view[start: start + _COPY_CHUNK])
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


def upsert_candles(series: CandleSeries, batch: CandleBatch) -> UpsertCounts:
    """Store the batch: new candles inserted, changed ones updated, equal ones left."""
    if len(batch) == 0:
        return UpsertCounts(0, 0, 0)
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_ADVISORY_NAMESPACE, series.pk))
            _write_staging(cursor, batch)
            cursor.execute("SELECT min(ts), max(ts) FROM candle_staging")
            first, last = cursor.fetchone()
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM marketdata_candle WHERE series_id = %s "
                "AND timestamp BETWEEN %s AND %s)",
                (series.pk, first, last),
            )
            (overlaps,) = cursor.fetchone()
            updated = _update_changed(cursor, series.pk, first, last) if overlaps else 0
            inserted = _insert_new(cursor, series.pk)
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
            cursor.execute("DROP TABLE candle_staging")
    series.refresh_from_db(fields=("first_timestamp", "last_timestamp", "candle_count"))
    return UpsertCounts(inserted, updated, len(batch) - inserted - updated)
