"""Market-data reads. Candles are shared reference data: every signed-in user may read
them; writing and syncing need the permissions named on the Candle model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import psycopg
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from marketdata import pgcopy, timescale
from marketdata.models import (
    DEFAULT_SOURCE,
    CandleSeries,
    MarketStream,
    Symbol,
    SyncRun,
    WatchedSymbol,
)
from marketdata.progress import FINAL_STATUSES, sync_run_message
from marketdata.timeframes import get_timeframe

CANDLE_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "trade_count")
OHLCV = CANDLE_FIELDS[:5]
# How each field is packed: the SQL producing its 8 bytes, and the numpy kind.
_PACKED = {
    "timestamp": ("timestamptz_send(timestamp)", "i8"),
    "open": ("float8send(open)", "f8"),
    "high": ("float8send(high)", "f8"),
    "low": ("float8send(low)", "f8"),
    "close": ("float8send(close)", "f8"),
    "volume": ("float8send(volume)", "f8"),
    "quote_volume": ("float8send(COALESCE(quote_volume, 'NaN'))", "f8"),
    "trade_count": ("int8send(COALESCE(trade_count, -1))", "i8"),
}


def _read_sql(fields: tuple[str, ...]) -> str:
    """One row, one value: every candle packed into a single bytea, 8 bytes per field, so
    the driver does no per-row work (COPY TO STDOUT costs a Python round per row)."""
    packed = " || ".join(_PACKED[name][0] for name in ("timestamp", *fields))
    return f"""
        SELECT string_agg({packed}, ''::bytea) FROM marketdata_candle
        WHERE series_id = %s AND timestamp >= %s AND timestamp < %s
    """


_FAR_PAST = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
_FAR_FUTURE = datetime.fromisoformat("9999-01-01T00:00:00+00:00")


def can_import_candles(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.has_perm("marketdata.import_candles")


def can_sync_market_data(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.has_perm("marketdata.sync_market_data")


def symbols_with_series() -> QuerySet[Symbol]:
    """Symbols that have stored candles, each with its series (two queries in all)."""
    series = CandleSeries.objects.filter(candle_count__gt=0).order_by("timeframe", "source")
    return (
        Symbol.objects.filter(series__candle_count__gt=0)
        .distinct()
        .prefetch_related(Prefetch("series", queryset=series, to_attr="stored_series"))
    )


def stored_series() -> QuerySet[CandleSeries]:
    return CandleSeries.objects.filter(candle_count__gt=0).select_related("symbol")


def find_series(symbol: str, timeframe: str, source: str = DEFAULT_SOURCE) -> CandleSeries | None:
    return (
        CandleSeries.objects.select_related("symbol")
        .filter(symbol__name=symbol, timeframe=timeframe, source=source)
        .first()
    )


def candle_count(
    series: CandleSeries, start: datetime | None = None, end: datetime | None = None
) -> int:
    """How many candles open in start <= time < end (an index-only count)."""
    return series.candles.filter(
        timestamp__gte=start or _FAR_PAST, timestamp__lt=end or _FAR_FUTURE
    ).count()


def candle_arrays(
    series: CandleSeries,
    start: datetime | None = None,
    end: datetime | None = None,
    fields: tuple[str, ...] = CANDLE_FIELDS,
) -> dict[str, np.ndarray]:
    """Candles with start <= open time < end as numpy arrays, in one round trip.

    `timestamp` (always present) is int64 microseconds since the Unix epoch, ascending;
    `fields` picks the others (OHLCV alone reads faster). quote_volume is NaN and
    trade_count -1 where the source had none.
    """
    unknown = set(fields) - set(CANDLE_FIELDS)
    if unknown:
        raise ValueError(f"unknown candle fields: {', '.join(sorted(unknown))}")
    connection.ensure_connection()
    # A server-side-binding cursor: Django's client-side cursors cannot return binary.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            _read_sql(fields), (series.pk, start or _FAR_PAST, end or _FAR_FUTURE), binary=True
        )
        (blob,) = cursor.fetchone()
    columns = [(name, _PACKED[name][1]) for name in ("timestamp", *fields)]
    records = pgcopy.decode_packed(columns, blob)
    timestamps = pgcopy.pg_to_unix_us(records["timestamp"])
    arrays = {name: records[name].astype(_PACKED[name][1]) for name in fields}
    arrays["timestamp"] = timestamps
    if len(timestamps) > 1 and not np.all(timestamps[1:] > timestamps[:-1]):
        order = np.argsort(timestamps, kind="stable")  # rows come in storage order
        arrays = {name: values[order] for name, values in arrays.items()}
    return arrays


def candle_frame(
    series: CandleSeries, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """The same range as a DataFrame indexed by UTC open time."""
    arrays = candle_arrays(series, start, end)
    index = pd.DatetimeIndex(
        arrays.pop("timestamp").astype("datetime64[us]"), tz="UTC", name="timestamp"
    )
    frame = pd.DataFrame(arrays, index=index)
    frame["quote_volume"] = frame["quote_volume"].where(~np.isnan(frame["quote_volume"]))
    return frame


@dataclass(frozen=True)
class CandleRange:
    bucket_seconds: int  # width of each returned candle; the series' own width if raw
    downsampled: bool
    arrays: dict[str, np.ndarray]  # timestamp (µs), open, high, low, close, volume


# Buckets are aligned to Monday 2000-01-03 00:00 UTC (TimescaleDB's time_bucket origin):
# minute, hour, day and 3-day buckets fall where Binance's candles open, and weeks open on
# Monday as Binance's do. Aligned buckets stay put while a chart pans or zooms.
_BUCKET_ORIGIN = datetime.fromisoformat("2000-01-03T00:00:00+00:00")


def _bucket_count(start: datetime, end: datetime, width: int) -> int:
    first = (start - _BUCKET_ORIGIN).total_seconds() // width
    last = ((end - _BUCKET_ORIGIN).total_seconds() - 1e-6) // width
    return int(last - first + 1)


def _bucket_width(step: int, start: datetime, end: datetime, max_points: int) -> int:
    """The narrowest multiple of the timeframe whose aligned buckets over [start, end)
    number at most max_points."""
    width = max(1, math.ceil((end - start).total_seconds() / max_points / step)) * step
    while _bucket_count(start, end, width) > max_points:
        width += step
    return width


def _downsample_sql(width: int) -> str:
    if timescale.timescale_enabled():
        source = "marketdata_candle"
        for seconds, view in sorted(timescale.CONTINUOUS_AGGREGATES.items(), reverse=True):
            if width % seconds == 0:
                source = (
                    f"(SELECT series_id, bucket AS timestamp, open, high, low, close, "
                    f"volume FROM {view})"
                )
                break
        return f"""
            SELECT time_bucket(%s * INTERVAL '1 second', timestamp, %s) AS bucket,
                   first(open, timestamp), max(high), min(low), last(close, timestamp), sum(volume)
            FROM {source} c WHERE series_id = %s AND timestamp >= %s AND timestamp < %s
            GROUP BY bucket ORDER BY bucket
        """
    return """
        SELECT date_bin(%s * INTERVAL '1 second', timestamp, %s) AS bucket,
               (array_agg(open ORDER BY timestamp))[1], max(high), min(low),
               (array_agg(close ORDER BY timestamp DESC))[1], sum(volume)
        FROM marketdata_candle WHERE series_id = %s AND timestamp >= %s AND timestamp < %s
        GROUP BY bucket ORDER BY bucket
    """


def _downsample_months(
    arrays: dict[str, np.ndarray], max_points: int
) -> tuple[int, dict[str, np.ndarray]]:
    """Calendar months grouped k at a time from the first month present (needs rows)."""
    month = arrays["timestamp"].astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    months = max(1, math.ceil((int(month[-1] - month[0]) + 1) / max_points))
    group = (month - month[0]) // months
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], len(group)] - 1
    bucket_month = month[0] + group[starts] * months
    return months, {
        "timestamp": bucket_month.astype("datetime64[M]").astype("datetime64[us]").astype(np.int64),
        "open": arrays["open"][starts],
        "high": np.maximum.reduceat(arrays["high"], starts),
        "low": np.minimum.reduceat(arrays["low"], starts),
        "close": arrays["close"][ends],
        "volume": np.add.reduceat(arrays["volume"], starts),
    }


def candle_range(
    series: CandleSeries, start: datetime | None, end: datetime | None, max_points: int
) -> CandleRange:
    """At most max_points candles covering [start, end): raw when they fit, otherwise
    OHLC-correct buckets (first open, highest high, lowest low, last close, summed
    volume) aligned to _BUCKET_ORIGIN; a bucket is labelled by its aligned open time."""
    timeframe = get_timeframe(series.timeframe)
    keys = ("timestamp", *OHLCV)
    if series.first_timestamp is None:  # nothing stored: an empty range, not a huge bucket
        empty = candle_arrays(series, _FAR_PAST, _FAR_PAST, OHLCV)
        return CandleRange(timeframe.seconds, False, empty)
    # Buckets are sized for the data that exists inside the asked range, not the range.
    start = max(start or _FAR_PAST, series.first_timestamp)
    end = min(end or _FAR_FUTURE, series.last_timestamp + timeframe.delta)
    if end <= start:
        return CandleRange(timeframe.seconds, False, candle_arrays(series, start, start, OHLCV))
    if timeframe.is_calendar_month:
        arrays = candle_arrays(series, start, end, OHLCV)
        if len(arrays["timestamp"]) <= max_points:
            return CandleRange(timeframe.seconds, False, arrays)
        months, buckets = _downsample_months(arrays, max_points)
        return CandleRange(months * timeframe.seconds, True, buckets)
    width = _bucket_width(timeframe.seconds, start, end, max_points)
    if width == timeframe.seconds:
        return CandleRange(width, False, candle_arrays(series, start, end, OHLCV))
    with connection.cursor() as cursor:
        cursor.execute(_downsample_sql(width), (width, _BUCKET_ORIGIN, series.pk, start, end))
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in keys]
    stamps = np.asarray([int(t.timestamp() * 1_000_000) for t in columns[0]], dtype=np.int64)
    arrays = {"timestamp": stamps}
    arrays.update(
        {k: np.asarray(v, dtype=np.float64) for k, v in zip(keys[1:], columns[1:], strict=True)}
    )
    return CandleRange(width, True, arrays)


def watched_symbols_due() -> QuerySet[WatchedSymbol]:
    """Enabled watches of active symbols, each annotated with `last_stored`: the open time
    of its series' last stored candle (None while the series is empty or absent), from
    which the schedule tells whether a new candle can have closed since."""
    last_stored = CandleSeries.objects.filter(
        symbol_id=OuterRef("symbol_id"), timeframe=OuterRef("timeframe"), source=DEFAULT_SOURCE
    ).values("last_timestamp")[:1]
    return (
        WatchedSymbol.objects.filter(is_enabled=True, symbol__is_active=True)
        .select_related("symbol")
        .annotate(last_stored=Subquery(last_stored))
    )


def sync_runs_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[SyncRun]:
    """Sync runs are operational records: visible to those who may run syncs."""
    if not can_sync_market_data(user):
        return SyncRun.objects.none()
    return SyncRun.objects.select_related("symbol", "requested_by")


def sync_run_snapshot(run_id: int) -> dict | None:
    """The run's current state: the first message a watcher of its progress receives,
    shaped like every later one (see marketdata.progress)."""
    run = SyncRun.objects.select_related("symbol", "requested_by").filter(pk=run_id).first()
    if run is None:
        return None
    if run.status == SyncRun.Status.PENDING:
        phase, progress = "pending", 0.0
    elif run.status in FINAL_STATUSES:
        phase, progress = "finished", 1.0
    else:
        phase, progress = None, None
    return sync_run_message(run, phase=phase, progress=progress)


def stream_states() -> QuerySet[MarketStream]:
    """Every live stream's last reported state, by name: one small query, for the admin
    and /metrics (operational data, not per user)."""
    return MarketStream.objects.order_by("name")
