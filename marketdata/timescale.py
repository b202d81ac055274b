"""TimescaleDB, when the server has it: detected, never assumed.

Plain PostgreSQL (tests, the embedded default) keeps one ordinary table and answers the
same queries with `date_bin`. With the extension, the migration turns the candle table
into a hypertable with compression and continuous aggregates, and reads use them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

CHUNK_INTERVAL = "7 days"
COMPRESS_AFTER = "7 days"
# Continuous aggregates, by bucket width in seconds (used for downsampled reads).
CONTINUOUS_AGGREGATES = {3600: "marketdata_candle_1h", 86400: "marketdata_candle_1d"}


def extension_available(cursor) -> bool:
    if settings.TIMESCALEDB == "off":
        return False
    cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    return cursor.fetchone() is not None


def timescale_enabled() -> bool:
    """Whether the candle table is a hypertable in the connected database."""
    if settings.TIMESCALEDB == "off":
        return False
    cached = getattr(connection, "_central_timescale", None)
    if cached is None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
            )
            cached = bool(cursor.fetchone()[0])
        connection._central_timescale = cached
    return cached


def install(cursor) -> None:
    """Hypertable, compression policy and continuous aggregates (migration step)."""
    cursor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    cursor.execute(
        "SELECT create_hypertable('marketdata_candle', 'timestamp', "
        f"chunk_time_interval => INTERVAL '{CHUNK_INTERVAL}', migrate_data => true, "
        "if_not_exists => true)"
    )
    cursor.execute(
        "ALTER TABLE marketdata_candle SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'series_id', timescaledb.compress_orderby = 'timestamp')"
    )
    cursor.execute(
        f"SELECT add_compression_policy('marketdata_candle', INTERVAL '{COMPRESS_AFTER}', "
        "if_not_exists => true)"
    )
    for seconds, view in CONTINUOUS_AGGREGATES.items():
        cursor.execute(
            f"""
            CREATE MATERIALIZED VIEW IF NOT EXISTS {view} WITH (timescaledb.continuous) AS
            SELECT series_id, time_bucket(INTERVAL '{seconds} seconds', timestamp) AS bucket,
                   first(open, timestamp) AS open, max(high) AS high, min(low) AS low,
                   last(close, timestamp) AS close, sum(volume) AS volume
            FROM marketdata_candle GROUP BY series_id, bucket WITH NO DATA
            """
        )
        cursor.execute(
            f"SELECT add_continuous_aggregate_policy('{view}', start_offset => NULL, "
            "end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes', "
            "if_not_exists => true)"
        )


def uninstall(cursor) -> None:
    for view in CONTINUOUS_AGGREGATES.values():
        cursor.execute(f"DROP MATERIALIZED VIEW IF EXISTS {view}")
