"""Binance sync against a local fake Binance, on the real PostgreSQL (and Redis, Celery)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import SecurityAction, SecurityEvent
from marketdata import selectors
from marketdata.models import CandleSeries, Symbol, SyncRun, WatchedSymbol
from marketdata.progress import sync_run_group
from marketdata.services import get_or_create_series, get_or_create_symbol, request_sync
from marketdata.sync import (
    ceil_open,
    create_manual_run,
    execute_sync_run,
    floor_open,
    next_open,
    queue_watched_symbols,
    to_ms,
)
from marketdata.timeframes import get_timeframe
from tests.fakes.fake_binance import make_klines

START = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
COUNT = 2500  # three requests: 1000 + 1000 + 500
END = START + COUNT * MINUTE


def at(minutes: int) -> datetime:
    return START + minutes * MINUTE


def ms(minutes: int) -> int:
    return to_ms(at(minutes))


def sync(binance_client, start=START, end=END, symbol="BTCUSDT", **client_options) -> SyncRun:
    run = create_manual_run(symbol, "1m", start, end)
    execute_sync_run(run.pk, client=binance_client(**client_options))
    run.refresh_from_db()
    return run


def stored(symbol: str = "BTCUSDT") -> np.ndarray:
    """Open times (ms) of the stored 1m candles."""
    series = selectors.find_series(symbol, "1m")
    if series is None:
        return np.empty(0, dtype=np.int64)
    return selectors.candle_arrays(series)["timestamp"] // 1000


def delete_candles(first: int, stop: int) -> None:
    series = selectors.find_series("BTCUSDT", "1m")
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM marketdata_candle WHERE series_id = %s AND timestamp >= %s "
            "AND timestamp < %s",
            (series.pk, at(first), at(stop)),
        )


@pytest.fixture
def btc(fake_binance):
    """2500 one-minute candles of BTCUSDT on the fake exchange, no holes."""
    fake_binance.load_klines("BTCUSDT", "1m", make_klines("1m", START, END))
    return fake_binance


# --- downloading -------------------------------------------------------------------


@pytest.mark.django_db
def test_full_download_in_chunks_stores_what_binance_has(btc, binance_client):
    run = sync(binance_client)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    requests = btc.kline_requests()
    assert [r.int_param("startTime") for r in requests] == [ms(0), ms(1000), ms(2000)]
    assert {r.int_param("limit") for r in requests} == {1000}
    assert {r.int_param("endTime") for r in requests} == {ms(COUNT) - 1}
    assert run.requests_made == 3 and run.retries == 0
    assert run.rows_inserted == COUNT and run.rows_updated == 0
    assert (run.gaps_found, run.gaps_filled, run.unfilled_gaps) == (0, 0, [])
    assert run.max_weight_used == 6  # three klines requests of weight 2
    assert run.started_at and run.finished_at and run.error == ""
    series = selectors.find_series("BTCUSDT", "1m")
    arrays = selectors.candle_arrays(series)
    rows = btc.klines("BTCUSDT", "1m")
    assert np.array_equal(arrays["timestamp"] // 1000, [row[0] for row in rows])
    assert np.allclose(arrays["close"], [float(row[4]) for row in rows])
    assert np.array_equal(arrays["trade_count"], [row[8] for row in rows])
    assert series.candle_count == COUNT and series.last_timestamp == at(COUNT - 1)


@pytest.mark.django_db
def test_second_sync_resumes_after_the_last_stored_candle(btc, binance_client):
    first = sync(binance_client, end=at(1500))
    assert first.rows_inserted == 1500 and len(btc.kline_requests()) == 2

    second = sync(binance_client)

    requests = btc.kline_requests()[2:]
    assert [r.int_param("startTime") for r in requests] == [ms(1500)]
    assert second.status == SyncRun.Status.SUCCEEDED
    assert (second.rows_inserted, second.rows_updated, second.requests_made) == (1000, 0, 1)
    assert len(stored()) == COUNT

    third = sync(binance_client)
    assert (third.rows_inserted, third.rows_updated, third.requests_made) == (0, 0, 0)
    assert len(btc.kline_requests()) == 3


@pytest.mark.django_db
def test_holes_in_the_stored_series_are_found_and_filled(btc, binance_client):
    sync(binance_client)
    delete_candles(100, 150)
    delete_candles(2000, 2010)
    assert len(stored()) == COUNT - 60
    before = len(btc.kline_requests())

    run = sync(binance_client)

    requests = btc.kline_requests()[before:]
    assert [(r.int_param("startTime"), r.int_param("endTime")) for r in requests] == [
        (ms(100), ms(150) - 1),
        (ms(2000), ms(2010) - 1),
    ]
    assert (run.gaps_found, run.gaps_filled, run.unfilled_gaps) == (2, 2, [])
    assert run.rows_inserted == 60
    assert np.array_equal(stored(), [row[0] for row in btc.klines("BTCUSDT", "1m")])


@pytest.mark.django_db
def test_a_hole_at_the_start_of_the_range_is_a_gap_too(btc, binance_client):
    sync(binance_client)
    delete_candles(0, 5)

    run = sync(binance_client)

    assert (run.gaps_found, run.gaps_filled, run.rows_inserted) == (1, 1, 5)
    assert stored()[0] == ms(0)


@pytest.mark.django_db
def test_an_exchange_gap_is_recorded_unfilled_not_retried_forever(fake_binance, binance_client):
    fake_binance.load_klines(
        "BTCUSDT", "1m", make_klines("1m", START, END, holes=[(at(500), at(530))])
    )

    run = sync(binance_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.rows_inserted == COUNT - 30
    assert (run.gaps_found, run.gaps_filled) == (1, 0)
    assert run.unfilled_gaps == [{"start": at(500).isoformat(), "end": at(530).isoformat()}]
    gap_requests = [r for r in fake_binance.kline_requests() if r.int_param("startTime") == ms(500)]
    assert len(gap_requests) == 1  # asked once for the hole, then recorded it
    assert run.requests_made == 4

    again = sync(binance_client)
    assert again.requests_made == 1 and again.unfilled_gaps == run.unfilled_gaps


@pytest.mark.django_db
def test_candles_that_have_not_closed_are_not_stored(fake_binance, binance_client):
    now = timezone.now()
    start = now.replace(second=0, microsecond=0) - 30 * MINUTE
    fake_binance.load_klines("BTCUSDT", "1m", make_klines("1m", start, start + 40 * MINUTE))

    run = sync(binance_client, start=start, end=None)
    after = timezone.now()

    opens = stored()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert opens[0] == to_ms(start)
    assert np.all(np.diff(opens) == 60_000)
    last_closed = [
        to_ms(moment.replace(second=0, microsecond=0)) - 60_000 for moment in (now, after)
    ]
    assert last_closed[0] <= opens[-1] <= last_closed[1]
    assert run.unfilled_gaps == []


# --- Binance misbehaving -------------------------------------------------------------


@pytest.mark.django_db
def test_429_waits_as_long_as_retry_after_says(btc, binance_client, sleeps):
    btc.fail_next("rate_limited", retry_after=7)

    run = sync(binance_client)

    assert sleeps == [7.0]  # the header's value, not the 1 s a first backoff would be
    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.retries, run.requests_made, run.rows_inserted) == (1, 4, COUNT)


@pytest.mark.django_db
def test_418_ban_waits_retry_after_then_continues(btc, binance_client, sleeps):
    btc.fail_next("banned", after=1, retry_after=3)

    run = sync(binance_client)

    assert sleeps == [3.0]
    assert run.status == SyncRun.Status.SUCCEEDED and run.rows_inserted == COUNT
    assert [r.int_param("startTime") for r in btc.kline_requests()] == [
        ms(0),
        ms(1000),
        ms(1000),
        ms(2000),
    ]


@pytest.mark.django_db
def test_malformed_payloads_are_retried_with_exponential_backoff(btc, binance_client, sleeps):
    btc.fail_next("malformed")
    btc.fail_next("bad_shape")
    btc.fail_next("truncated")

    run = sync(binance_client)

    assert sleeps == [1.0, 2.0, 4.0]
    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.retries, run.rows_inserted) == (3, COUNT)


@pytest.mark.django_db
def test_permanent_failure_fails_the_run_with_the_error(btc, binance_client, sleeps, settings):
    settings.BINANCE_MAX_RETRIES = 2
    btc.fail_next("server_error", times=10, status=503)

    run = sync(binance_client)

    assert run.status == SyncRun.Status.FAILED
    assert "after 2 retries" in run.error and "HTTP 503" in run.error
    assert "Internal error" in run.error
    assert (run.requests_made, run.retries) == (3, 2)
    assert sleeps == [1.0, 2.0]
    assert run.finished_at is not None
    assert not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists()


@pytest.mark.django_db
def test_a_failed_run_keeps_its_chunks_and_the_next_run_resumes(btc, binance_client, settings):
    settings.BINANCE_MAX_RETRIES = 1
    btc.fail_next("disconnect", times=2, after=1)

    failed = sync(binance_client)

    assert failed.status == SyncRun.Status.FAILED and "network error" in failed.error
    assert failed.rows_inserted == 1000 and len(stored()) == 1000

    resumed = sync(binance_client)
    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert btc.kline_requests()[-2].int_param("startTime") == ms(1000)
    assert resumed.rows_inserted == COUNT - 1000 and len(stored()) == COUNT


@pytest.mark.django_db
def test_weight_over_the_limit_pauses_until_the_next_minute(btc, binance_client, sleeps, settings):
    settings.BINANCE_WEIGHT_LIMIT = 100
    btc.add_used_weight(150)

    run = sync(binance_client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.max_weight_used >= 150
    assert len(sleeps) == 2  # before the second and the third request, not after the last
    assert all(0 < pause <= 60.5 for pause in sleeps)


@pytest.mark.django_db
def test_invalid_symbol_fails_with_binances_message(btc, binance_client, sleeps):
    run = sync(binance_client, symbol="NOPEUSDT")

    assert run.status == SyncRun.Status.FAILED
    assert "Invalid symbol." in run.error and "-1121" in run.error
    assert (run.requests_made, run.retries, sleeps) == (1, 0, [])


@pytest.mark.django_db
def test_scheduled_sync_of_an_unlisted_symbol_pauses_its_watch(binance_client, clock):
    history_start = clock.now.replace(second=0, microsecond=0) - 90 * MINUTE
    watched = WatchedSymbol.objects.create(
        symbol=get_or_create_symbol("NOPEUSDT"), timeframe="1m", history_start=history_start
    )
    (run_id,) = queue_watched_symbols()
    execute_sync_run(run_id, client=binance_client())
    run = SyncRun.objects.get(pk=run_id)
    watched.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert "-1121" in run.error and "the watch of this symbol was disabled" in run.error
    assert watched.is_enabled is False
    assert queue_watched_symbols() == []  # no failing run every beat tick


@pytest.mark.django_db
def test_manual_sync_of_an_unlisted_symbol_leaves_watches_alone(btc, binance_client, clock):
    history_start = clock.now.replace(second=0, microsecond=0) - 90 * MINUTE
    watched = WatchedSymbol.objects.create(
        symbol=get_or_create_symbol("NOPEUSDT"), timeframe="1m", history_start=history_start
    )
    run = sync(binance_client, symbol="NOPEUSDT")
    watched.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and watched.is_enabled is True


@pytest.mark.django_db
def test_a_run_that_stores_nothing_leaves_no_empty_series(btc, binance_client):
    unknown = sync(binance_client, symbol="NOPEUSDT")
    before_listing = sync(binance_client, start=START - 100 * MINUTE, end=START)

    assert unknown.status == SyncRun.Status.FAILED
    assert before_listing.status == SyncRun.Status.SUCCEEDED
    assert before_listing.unfilled_gaps == [
        {"start": (START - 100 * MINUTE).isoformat(), "end": START.isoformat()}
    ]
    assert not CandleSeries.objects.exists()  # the runs keep their symbols, nothing else
    assert sorted(Symbol.objects.values_list("name", flat=True)) == ["BTCUSDT", "NOPEUSDT"]

    stored_run = sync(binance_client, end=at(10))
    assert stored_run.rows_inserted == 10
    assert CandleSeries.objects.get().candle_count == 10


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_run_and_propagates(btc, binance_client):
    client = binance_client()

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    client.fetch_klines = explode
    run = create_manual_run("BTCUSDT", "1m", START, END)

    with pytest.raises(RuntimeError):
        execute_sync_run(run.pk, client=client)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.error == "RuntimeError: disk on fire"


@pytest.mark.django_db
def test_a_finished_run_is_not_executed_again(btc, binance_client):
    run = sync(binance_client)
    requests = len(btc.kline_requests())

    summary = execute_sync_run(run.pk, client=binance_client())

    assert summary["status"] == "succeeded" and summary["id"] == run.pk
    assert len(btc.kline_requests()) == requests


def subscribe(run_id: int) -> str:
    """A channel in the run's progress group, as a watching consumer has."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(sync_run_group(run_id), channel)
    return channel


def published(channel: str) -> list[dict]:
    """Every progress payload the channel has received, in order."""
    layer = get_channel_layer()

    async def receive() -> dict:
        return await asyncio.wait_for(layer.receive(channel), timeout=1)

    payloads = []
    while True:
        try:
            payloads.append(async_to_sync(receive)()["payload"])
        except TimeoutError:
            return payloads


@pytest.mark.django_db
def test_progress_is_published_to_the_runs_group(btc, binance_client):
    run = create_manual_run("BTCUSDT", "1m", START, END)
    channel = subscribe(run.pk)

    execute_sync_run(run.pk, client=binance_client())

    payloads = published(channel)
    downloads = [p for p in payloads if p["phase"] == "download"]
    assert [p["progress"] for p in downloads] == [0.32, 0.64, 0.8]  # downloading: 0 to 0.8
    assert [p["rows_inserted"] for p in downloads] == [1000, 2000, 2500]
    assert payloads[-1]["phase"] == "finished" and payloads[-1]["status"] == "succeeded"
    assert payloads[-1]["progress"] == 1.0
    snapshot = selectors.sync_run_snapshot(run.pk)
    assert all(set(payload) == set(snapshot) for payload in payloads)
    assert payloads[-1] == snapshot  # a watcher connecting now sees the same final state


@pytest.mark.django_db
def test_progress_never_goes_back_when_the_gap_pass_starts(fake_binance, binance_client):
    fake_binance.load_klines(
        "BTCUSDT", "1m", make_klines("1m", START, END, holes=[(at(500), at(530))])
    )
    run = create_manual_run("BTCUSDT", "1m", START, END)
    channel = subscribe(run.pk)

    execute_sync_run(run.pk, client=binance_client())

    payloads = published(channel)
    progress = [p["progress"] for p in payloads]
    assert progress == sorted(progress), progress
    gaps = [p["progress"] for p in payloads if p["phase"] == "gaps"]
    assert gaps and all(0.8 <= value <= 1.0 for value in gaps)
    assert progress[-1] == 1.0


# --- timeframe arithmetic -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "moment", "floor", "following"),
    [
        ("1m", "2024-01-01T10:00:30", "2024-01-01T10:00:00", "2024-01-01T10:01:00"),
        ("4h", "2024-01-01T10:00:00", "2024-01-01T08:00:00", "2024-01-01T12:00:00"),
        ("1w", "2024-01-04T10:00:00", "2024-01-01T00:00:00", "2024-01-08T00:00:00"),  # Mon
        ("1M", "2024-12-15T10:00:00", "2024-12-01T00:00:00", "2025-01-01T00:00:00"),
    ],
)
def test_candle_open_times(code, moment, floor, following):
    tf = get_timeframe(code)

    def parse(text: str) -> int:
        return to_ms(datetime.fromisoformat(text).replace(tzinfo=UTC))

    assert floor_open(parse(moment), tf) == parse(floor)
    assert next_open(parse(floor), tf) == parse(following)
    assert ceil_open(parse(moment), tf) == parse(following)
    assert ceil_open(parse(floor), tf) == parse(floor)


# --- command, API, worker, schedule, admin --------------------------------------------


@pytest.mark.django_db
def test_command_json_prints_the_run_summary(btc):
    out = StringIO()

    call_command(
        "sync_market_data",
        "--symbol",
        "btc/usdt",
        "--timeframe",
        "1m",
        "--start",
        START.isoformat(),
        "--end",
        "2024-01-02T17:40:00",
        "--json",
        stdout=out,
    )

    summary = json.loads(out.getvalue())
    for key in (
        "id",
        "status",
        "rows_inserted",
        "rows_updated",
        "gaps_found",
        "gaps_filled",
        "unfilled_gaps",
        "requests_made",
        "retries",
        "error",
    ):
        assert key in summary
    assert summary["status"] == "succeeded" and summary["rows_inserted"] == COUNT
    assert summary["requests_made"] == 3 and summary["error"] == ""
    assert SyncRun.objects.get(pk=summary["id"]).trigger == SyncRun.Trigger.MANUAL


@pytest.mark.django_db
def test_command_fails_with_binances_message(btc):
    out = StringIO()

    with pytest.raises(CommandError, match=r"failed: .*Invalid symbol\."):
        call_command(
            "sync_market_data",
            "--symbol",
            "NOPEUSDT",
            "--timeframe",
            "1m",
            "--start",
            "2024-01-01",
            "--json",
            stdout=out,
        )

    assert json.loads(out.getvalue())["status"] == "failed"


@pytest.mark.django_db
def test_command_rejects_a_bad_date_and_creates_no_run(btc):
    with pytest.raises(CommandError, match="start: 'yesterday' is not an ISO 8601"):
        call_command(
            "sync_market_data",
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1m",
            "--start",
            "yesterday",
            stdout=StringIO(),
        )
    assert not SyncRun.objects.exists()


SYNC_URL = "/api/market-data/sync/"
SYNC_BODY = {
    "symbol": "BTCUSDT",
    "timeframe": "1m",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-01-02T00:00:00Z",
}


@pytest.mark.django_db
def test_api_sync_request_queues_a_run_for_operators(
    operator_client, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator_client.post(SYNC_URL, SYNC_BODY, format="json")

    assert response.status_code == 202, response.content
    assert response.data["status"] == "pending" and response.data["trigger"] == "api"
    run = SyncRun.objects.get(pk=response.data["id"])
    assert run.requested_by == operator and run.end == datetime(2024, 1, 2, tzinfo=UTC)
    assert len(callbacks) == 1  # the task is enqueued once the transaction commits
    launched = SecurityEvent.objects.get(action=SecurityAction.SYNC_LAUNCHED)
    assert (launched.actor, launched.target_id) == (operator, str(run.pk))
    assert launched.detail == {"symbol": "BTCUSDT", "timeframe": "1m", "trigger": "api"}


@pytest.mark.django_db
def test_api_sync_request_is_for_operators_only(analyst_client, anon_client):
    assert analyst_client.post(SYNC_URL, SYNC_BODY, format="json").status_code == 403
    assert anon_client.post(SYNC_URL, SYNC_BODY, format="json").status_code == 401
    assert not SyncRun.objects.exists()


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_worker_takes_a_run_from_pending_to_succeeded(celery_worker, btc):
    run = request_sync("BTCUSDT", "1m", START, at(1200), trigger=SyncRun.Trigger.API)
    assert run.status == SyncRun.Status.PENDING

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED):
            break
        time.sleep(0.2)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.rows_inserted == 1200 and run.requests_made == 2
    assert len(stored()) == 1200
    assert len(btc.kline_requests()) == 2


class Clock:
    """timezone.now() held at one moment, moved on by advance()."""

    def __init__(self, now: datetime):
        self.now = now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(timezone.now())
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.mark.django_db
def test_schedule_queues_each_enabled_watched_symbol_once(fake_binance, binance_client, clock):
    history_start = clock.now.replace(second=0, microsecond=0) - 90 * MINUTE
    btc = WatchedSymbol.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"), timeframe="1m", history_start=history_start
    )
    WatchedSymbol.objects.create(
        symbol=get_or_create_symbol("ETHUSDT"),
        timeframe="1m",
        history_start=history_start,
        is_enabled=False,
    )
    fake_binance.load_klines(
        "BTCUSDT", "1m", make_klines("1m", history_start, history_start + 100 * MINUTE)
    )

    queued = queue_watched_symbols()

    assert len(queued) == 1
    run = SyncRun.objects.get(pk=queued[0])
    assert (run.symbol.name, run.trigger, run.start, run.end) == (
        "BTCUSDT",
        "schedule",
        history_start,
        None,
    )
    assert queue_watched_symbols() == []  # still pending: not queued twice

    execute_sync_run(run.pk, client=binance_client())
    run.refresh_from_db()
    btc.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert btc.last_synced_at == run.finished_at

    clock.advance(MINUTE)  # the next candle has closed
    next_ids = queue_watched_symbols()
    assert len(next_ids) == 1
    series = CandleSeries.objects.get(symbol__name="BTCUSDT", timeframe="1m")
    assert SyncRun.objects.get(pk=next_ids[0]).start == series.last_timestamp


@pytest.mark.django_db
def test_schedule_skips_a_series_with_no_new_candle_closed_yet(fake_binance, binance_client, clock):
    hour = timedelta(hours=1)
    current_open = clock.now.replace(minute=0, second=0, microsecond=0)
    clock.now = current_open + 30 * MINUTE
    fake_binance.load_klines(
        "BTCUSDT", "1h", make_klines("1h", current_open - 10 * hour, current_open + 5 * hour)
    )
    WatchedSymbol.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"),
        timeframe="1h",
        history_start=current_open - 10 * hour,
    )
    [first] = queue_watched_symbols()
    execute_sync_run(first, client=binance_client())
    series = CandleSeries.objects.get()
    assert series.last_timestamp == current_open - hour  # the last closed candle

    # The current candle closes at current_open + 1h: until then, nothing to fetch.
    assert queue_watched_symbols() == []
    clock.now = current_open + hour - timedelta(seconds=1)
    assert queue_watched_symbols() == []
    assert SyncRun.objects.count() == 1

    clock.now = current_open + hour
    [queued] = queue_watched_symbols()
    assert SyncRun.objects.get(pk=queued).start == current_open - hour


@pytest.mark.django_db
def test_schedule_skips_watched_symbols_that_are_not_active(clock):
    for name, active in (("BTCUSDT", True), ("LUNAUSDT", False)):
        symbol = get_or_create_symbol(name)
        symbol.is_active = active
        symbol.save(update_fields=["is_active"])
        WatchedSymbol.objects.create(symbol=symbol, timeframe="1m", history_start=START)

    queued = queue_watched_symbols()

    assert [SyncRun.objects.get(pk=pk).symbol.name for pk in queued] == ["BTCUSDT"]
    assert [w.symbol.name for w in selectors.watched_symbols_due()] == ["BTCUSDT"]


@pytest.mark.django_db
def test_scheduled_runs_do_not_recheck_holes_before_the_last_stored_candle(
    fake_binance, binance_client, clock
):
    history_start = clock.now.replace(second=0, microsecond=0) - 90 * MINUTE
    hole = (history_start + 10 * MINUTE, history_start + 20 * MINUTE)
    fake_binance.load_klines(
        "BTCUSDT",
        "1m",
        make_klines("1m", history_start, history_start + 200 * MINUTE, holes=[hole]),
    )
    WatchedSymbol.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"), timeframe="1m", history_start=history_start
    )
    [first_id] = queue_watched_symbols()
    execute_sync_run(first_id, client=binance_client())
    first = SyncRun.objects.get(pk=first_id)
    assert first.unfilled_gaps == [{"start": hole[0].isoformat(), "end": hole[1].isoformat()}]
    requests_so_far = len(fake_binance.kline_requests())

    for _ in range(3):
        clock.advance(5 * MINUTE)
        [run_id] = queue_watched_symbols()
        execute_sync_run(run_id, client=binance_client())
        run = SyncRun.objects.get(pk=run_id)
        assert run.status == SyncRun.Status.SUCCEEDED and run.rows_inserted == 5
        assert (run.gaps_found, run.unfilled_gaps) == (0, [])

    later = fake_binance.kline_requests()[requests_so_far:]
    assert all(r.int_param("startTime") > to_ms(hole[1]) for r in later)


@pytest.mark.usefixtures("admin_pages")
@pytest.mark.django_db
def test_admin_sync_now_on_watched_symbols_queues_through_the_service(admin_client, admin_user):
    get_or_create_series("BTCUSDT", "1m")
    watched = WatchedSymbol.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"), timeframe="1m", history_start=START
    )

    response = admin_client.post(
        reverse("admin:marketdata_watchedsymbol_changelist"),
        {"action": "sync_now", "_selected_action": [watched.pk]},
        follow=True,
    )

    assert response.status_code == 200
    run = SyncRun.objects.get()
    assert (run.trigger, run.requested_by, run.start, run.end) == ("admin", admin_user, START, None)
    assert f"Queued 1 sync run(s): #{run.pk}." in response.content.decode()


@pytest.mark.usefixtures("admin_pages")
@pytest.mark.django_db
def test_admin_sync_now_skips_series_with_a_run_pending_or_running(admin_client):
    watched = [
        WatchedSymbol.objects.create(
            symbol=get_or_create_symbol(name), timeframe="1m", history_start=START
        )
        for name in ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    ]
    busy = [
        SyncRun.objects.create(
            symbol=watched[i].symbol, timeframe="1m", start=START, status=status
        ).pk
        for i, status in ((0, SyncRun.Status.RUNNING), (1, SyncRun.Status.PENDING))
    ]

    response = admin_client.post(
        reverse("admin:marketdata_watchedsymbol_changelist"),
        {"action": "sync_now", "_selected_action": [w.pk for w in watched]},
        follow=True,
    )

    new = SyncRun.objects.exclude(pk__in=busy).get()
    assert new.symbol.name == "SOLUSDT"
    page = response.content.decode()
    assert f"Queued 1 sync run(s): #{new.pk}." in page
    assert "a sync is already pending or running for: BTCUSDT 1m, ETHUSDT 1m." in page


@pytest.mark.usefixtures("admin_pages")
@pytest.mark.django_db
def test_admin_rerun_queues_a_new_run_with_the_same_range(admin_client, admin_user):
    old = SyncRun.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"),
        timeframe="1h",
        start=START,
        end=END,
        status=SyncRun.Status.FAILED,
        error="boom",
    )

    admin_client.post(
        reverse("admin:marketdata_syncrun_changelist"),
        {"action": "rerun", "_selected_action": [old.pk]},
    )

    new = SyncRun.objects.exclude(pk=old.pk).get()
    assert (new.timeframe, new.start, new.end, new.trigger, new.status) == (
        "1h",
        START,
        END,
        "admin",
        "pending",
    )
    assert new.requested_by == admin_user


@pytest.mark.usefixtures("admin_pages")
@pytest.mark.django_db
def test_operators_see_sync_runs_and_watched_symbols_in_the_admin(client, operator):
    SyncRun.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"),
        timeframe="1h",
        start=START,
        status=SyncRun.Status.FAILED,
        error="boom",
    )
    client.force_login(operator)

    runs = client.get(reverse("admin:marketdata_syncrun_changelist"), {"status": "failed"})
    watched = client.get(reverse("admin:marketdata_watchedsymbol_changelist"), {"q": "BTC"})

    assert runs.status_code == 200 and "BTCUSDT" in runs.content.decode()
    assert watched.status_code == 200
    assert client.get(reverse("admin:marketdata_syncrun_add")).status_code == 403
