"""The timeframe catalogue, and TimescaleDB detection on a server without it."""

import pytest
from django.db import connection
from django.test import override_settings

from marketdata import timescale


@pytest.mark.django_db
def test_timeframes_catalogue_lists_binance_intervals(analyst_client):
    body = analyst_client.get("/api/market-data/timeframes/").json()
    codes = [tf["code"] for tf in body]
    assert codes[0] == "1m" and codes[-1] == "1M" and len(codes) == 15
    assert {"code": "4h", "seconds": 14400} in body


@pytest.mark.django_db
def test_candle_store_matches_what_the_server_offers():
    """Plain PostgreSQL (here): an ordinary table and no aggregates. A server with the
    extension (the GitHub workflow's TimescaleDB): a hypertable and its aggregates."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
        offered = cursor.fetchone()[0] == 1
        detected = timescale.extension_available(cursor)
        cursor.execute("SELECT to_regclass('marketdata_candle_1h') IS NOT NULL")
        (has_aggregate,) = cursor.fetchone()
    assert detected is offered
    assert has_aggregate is offered
    assert timescale.timescale_enabled() is offered


@pytest.mark.django_db
def test_timescaledb_off_is_never_detected():
    with override_settings(TIMESCALEDB="off"), connection.cursor() as cursor:
        assert timescale.extension_available(cursor) is False
        assert timescale.timescale_enabled() is False
