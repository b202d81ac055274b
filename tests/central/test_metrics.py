"""Platform metrics at /metrics after real work, and who may read them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.db import connection
from django.test import Client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from backtest import services as backtest_services
from backtest.models import Backtest, RunStatus
from central.metrics.collector import PlatformCollector, register_platform_collector
from marketdata.models import CandleSeries, MarketStream, Symbol, SyncRun, WatchedSymbol
from marketdata.services import request_sync
from replay.models import ReplayRun
from tests.backtest.conftest import store_candles
from tests.conftest import BASE_DIR
from tests.fakes.fake_binance import make_klines

TOKEN = "a-long-random-metrics-token-for-the-tests"
OUTSIDER = "203.0.113.7"  # TEST-NET-3: never in an allowed network below
QUEUES = ("backtests", "default", "marketdata", "replays")
SECTIONS = ("runs", "durations", "market", "queues", "binance", "streams")

Samples = dict[tuple[str, frozenset], float]


def parse(body: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def scrape(**extra) -> Samples:
    response = Client().get(
        "/metrics", REMOTE_ADDR=OUTSIDER, headers={"Authorization": f"Bearer {TOKEN}"}, **extra
    )
    assert response.status_code == 200, response.content
    return parse(response.content.decode())


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def hourly_sma_cross() -> backtest_services.BacktestRequest:
    return backtest_services.BacktestRequest(symbol="BTCUSDT", timeframe="1h", template="sma_cross")


@pytest.fixture
def metrics_settings(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32", "::1/128"]
    return settings


# --- the guard -------------------------------------------------------------------------


@pytest.mark.django_db
def test_loopback_may_scrape_without_a_token(metrics_settings):
    response = Client().get("/metrics")  # the test client's address is 127.0.0.1
    assert response.status_code == 200
    assert "central_backtests" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Token {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"{TOKEN}"],
)
def test_other_addresses_need_the_exact_bearer_token(metrics_settings, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = Client().get("/metrics", REMOTE_ADDR=OUTSIDER, headers=headers)
    assert response.status_code == 403
    assert b"central_" not in response.content


@pytest.mark.django_db
def test_the_token_lets_any_address_in(metrics_settings):
    response = Client().get(
        "/metrics", REMOTE_ADDR=OUTSIDER, headers={"Authorization": f"bearer {TOKEN}"}
    )
    assert response.status_code == 200
    assert "django_http_requests_total_by_view_transport_method_total" in response.content.decode()


@pytest.mark.django_db
def test_an_empty_token_setting_turns_tokens_off(metrics_settings):
    metrics_settings.METRICS_TOKEN = ""
    response = Client().get("/metrics", REMOTE_ADDR=OUTSIDER, headers={"Authorization": "Bearer "})
    assert response.status_code == 403


@pytest.mark.django_db
def test_an_allowed_network_passes_and_only_the_peer_address_counts(metrics_settings):
    metrics_settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "2001:db8::/32"]
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::5").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.1.1").status_code == 200
    # loopback is no longer listed, and a forwarded-for header is anyone's to write
    assert client.get("/metrics").status_code == 403
    forged = client.get(
        "/metrics", REMOTE_ADDR=OUTSIDER, headers={"X-Forwarded-For": "10.20.30.40"}
    )
    assert forged.status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="not-an-address").status_code == 403


@pytest.mark.django_db
def test_only_reads_are_served(metrics_settings):
    assert Client().post("/metrics").status_code == 405


def test_a_bad_network_setting_stops_the_process_at_start():
    env = {**os.environ, "DEBUG": "true", "METRICS_ALLOWED_NETWORKS": "127.0.0.1/32,intranet"}
    result = subprocess.run(
        [sys.executable, "-c", "import central.settings"],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "'intranet'" in result.stderr


# --- the collector ---------------------------------------------------------------------


def test_the_collector_is_registered_once_per_registry():
    from prometheus_client import REGISTRY

    register_platform_collector()  # AppConfig.ready did it already: no duplicate error
    assert sum(isinstance(c, PlatformCollector) for c in REGISTRY._collector_to_names) == 1
    registry = CollectorRegistry()
    register_platform_collector(registry)
    register_platform_collector(registry)
    assert len(registry._collector_to_names) == 1


@pytest.mark.django_db
def test_queue_length_counts_every_priority_list_of_each_queue(settings):
    parts = urlsplit(settings.REDIS_URL)
    settings.CELERY_BROKER_URL = urlunsplit(parts._replace(path="/15"))  # no worker reads it
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()
    try:
        broker.lpush("backtests", "a", "b", "c")
        broker.lpush("backtests\x06\x169", "d")
        broker.lpush("replays", "e")
        registry = CollectorRegistry()
        registry.register(PlatformCollector())
        samples = parse(generate_latest(registry).decode())
    finally:
        broker.flushdb()
        broker.close()
    lengths = {q: value(samples, "central_celery_queue_length", queue=q) for q in QUEUES}
    assert lengths == {"backtests": 4, "default": 0, "marketdata": 0, "replays": 1}


@pytest.mark.django_db
def test_a_section_that_cannot_be_read_is_reported_and_the_rest_still_served(settings, analyst):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing there
    registry = CollectorRegistry()
    registry.register(PlatformCollector())
    samples = parse(generate_latest(registry).decode())
    up = {
        section: value(samples, "central_metrics_section_up", section=section)
        for section in SECTIONS
    }
    assert up == {
        "runs": 1, "durations": 1, "market": 1, "queues": 0, "binance": 0, "streams": 1
    }  # fmt: skip
    assert value(samples, "central_backtests", status="completed") == 0


@pytest.mark.django_db
def test_durations_count_only_runs_finished_within_the_window(settings, analyst):
    settings.METRICS_DURATION_WINDOW_SECONDS = 3600
    now = datetime.now(UTC)
    store_candles()
    for started, seconds in ((now - timedelta(minutes=10), 40), (now - timedelta(hours=3), 20)):
        backtest = backtest_services.create_backtest(analyst, hourly_sma_cross())
        Backtest.objects.filter(pk=backtest.pk).update(
            status=RunStatus.COMPLETED,
            started_at=started,
            finished_at=started + timedelta(seconds=seconds),
        )
    ReplayRun.objects.create(
        owner=analyst,
        status=RunStatus.FAILED,
        started_at=now - timedelta(seconds=500),
        finished_at=now - timedelta(seconds=200),
    )
    SyncRun.objects.create(
        symbol=Symbol.objects.get(name="BTCUSDT"),
        timeframe="1m",
        start=now - timedelta(days=1),
        status=SyncRun.Status.SUCCEEDED,
        started_at=now - timedelta(seconds=9),
        finished_at=now - timedelta(seconds=7),
    )
    registry = CollectorRegistry()
    registry.register(PlatformCollector())
    samples = parse(generate_latest(registry).decode())

    replay = "central_replay_duration_seconds"
    assert value(samples, f"{replay}_gcount", status="failed") == 1
    assert value(samples, f"{replay}_gsum", status="failed") == pytest.approx(300)
    assert value(samples, f"{replay}_bucket", status="failed", le="120.0") == 0
    assert value(samples, f"{replay}_bucket", status="failed", le="300.0") == 1
    sync = "central_sync_duration_seconds"
    assert value(samples, f"{sync}_bucket", status="succeeded", le="1.0") == 0
    assert value(samples, f"{sync}_bucket", status="succeeded", le="5.0") == 1
    assert value(samples, "central_replays", status="failed") == 1
    assert value(samples, "central_sync_runs", status="succeeded") == 1
    name = "central_backtest_duration_seconds"
    assert value(samples, f"{name}_gcount", status="completed") == 1  # the older one left
    assert value(samples, f"{name}_gsum", status="completed") == pytest.approx(40)
    assert value(samples, f"{name}_bucket", status="completed", le="30.0") == 0
    assert value(samples, f"{name}_bucket", status="completed", le="60.0") == 1
    assert value(samples, "central_backtests", status="completed") == 2
    assert value(samples, "central_run_duration_window_seconds") == 3600


# --- market streams ------------------------------------------------------------------------

STREAM_STATES = {"connecting", "backfilling", "connected", "reconnecting", "stopped", "failed"}


@pytest.mark.django_db
def test_each_market_streams_state_is_scraped_from_loopback(metrics_settings):
    now = datetime.now(UTC)
    MarketStream.objects.create(
        name="live",
        symbols=["BTCUSDT"],
        timeframes=["1m"],
        state=MarketStream.State.CONNECTED,
        started_at=now - timedelta(hours=1),
        connected_at=now - timedelta(minutes=50),
        last_message_at=now - timedelta(seconds=3),
        reconnects=2,
        messages=9000,
        malformed=1,
    )
    MarketStream.objects.create(
        name="flaky",
        symbols=["ETHUSDT"],
        timeframes=["1m", "5m"],
        state=MarketStream.State.RECONNECTING,
        started_at=now - timedelta(days=1),
        last_message_at=now - timedelta(hours=2),
        reconnects=17,
        malformed=5,
        last_error="ConnectionClosedError: no close frame received or sent",
    )
    MarketStream.objects.create(name="retired", state=MarketStream.State.STOPPED)

    response = Client().get("/metrics")  # the test client's address is 127.0.0.1
    assert response.status_code == 200
    samples = parse(response.content.decode())

    assert value(samples, "central_metrics_section_up", section="streams") == 1
    connected = {
        name: value(samples, "central_market_stream_connected", stream=name)
        for name in ("live", "flaky", "retired")
    }
    assert connected == {"live": 1, "flaky": 0, "retired": 0}
    for name, current in (("live", "connected"), ("flaky", "reconnecting"), ("retired", "stopped")):
        states = {
            state: value(samples, "central_market_stream_state", stream=name, state=state)
            for state in STREAM_STATES
        }
        assert states == {state: int(state == current) for state in STREAM_STATES}, name
    age = "central_market_stream_last_message_age_seconds"
    assert 3 <= value(samples, age, stream="live") < 3 + 30
    assert 7200 <= value(samples, age, stream="flaky") < 7200 + 30
    # no message ever recorded: no age rather than a made-up one
    assert (age, frozenset({"stream": "retired"}.items())) not in samples
    reconnects = "central_market_stream_reconnects"
    malformed = "central_market_stream_malformed_frames"
    assert value(samples, reconnects, stream="live") == 2
    assert value(samples, reconnects, stream="flaky") == 17
    assert value(samples, reconnects, stream="retired") == 0
    assert value(samples, malformed, stream="live") == 1
    assert value(samples, malformed, stream="flaky") == 5
    assert value(samples, malformed, stream="retired") == 0
    # exactly these streams, one sample each
    assert sum(name == "central_market_stream_connected" for name, _ in samples) == 3


@pytest.mark.django_db
def test_the_streams_section_reports_down_when_its_query_fails(metrics_settings):
    MarketStream.objects.create(name="live", state=MarketStream.State.CONNECTED)
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute("ALTER TABLE marketdata_marketstream RENAME TO marketstream_gone")
    registry = CollectorRegistry()
    registry.register(PlatformCollector())
    samples = parse(generate_latest(registry).decode())
    assert value(samples, "central_metrics_section_up", section="streams") == 0
    assert not [name for name, _ in samples if name.startswith("central_market_stream_")]
    # the sections read before it are still served
    assert value(samples, "central_metrics_section_up", section="runs") == 1
    assert value(samples, "central_backtests", status="completed") == 0


# --- after real work in the worker ---------------------------------------------------------

SYNC_START = datetime(2024, 1, 1, tzinfo=UTC)
SYNC_COUNT = 1200  # two kline requests


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_metrics_after_a_backtest_and_a_rate_limited_sync_in_the_worker(
    celery_worker, metrics_settings, fake_binance, analyst
):
    before = scrape()
    # A backtest, run to completion by the worker.
    store_candles()  # 600 hourly BTCUSDT candles
    backtest = backtest_services.create_backtest(
        analyst,
        hourly_sma_cross(),
    )
    backtest_services.enqueue_backtest(backtest)
    # A sync of a watched series that Binance first refuses twice (429, then 418).
    end = SYNC_START + SYNC_COUNT * timedelta(minutes=1)
    fake_binance.load_klines("BTCUSDT", "1m", make_klines("1m", SYNC_START, end))
    fake_binance.add_used_weight(4000)
    fake_binance.fail_next("rate_limited", retry_after=0)
    fake_binance.fail_next("banned", retry_after=0)
    WatchedSymbol.objects.create(
        symbol=Symbol.objects.get(name="BTCUSDT"), timeframe="1m", history_start=SYNC_START
    )
    run = request_sync("BTCUSDT", "1m", SYNC_START, end)

    finished = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
    wait_for(lambda: Backtest.objects.get(pk=backtest.pk).status in finished)
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).finished_at is not None)
    backtest.refresh_from_db()
    run.refresh_from_db()
    assert backtest.status == RunStatus.COMPLETED, backtest.error
    assert run.status == SyncRun.Status.SUCCEEDED and run.rows_inserted == SYNC_COUNT, run.error

    after = scrape()

    for section in SECTIONS:
        assert value(after, "central_metrics_section_up", section=section) == 1, section
    # runs by status, from the database
    assert value(after, "central_backtests", status="completed") == 1
    assert value(after, "central_backtests", status="running") == 0
    assert value(after, "central_sync_runs", status="succeeded") == 1
    assert value(after, "central_replays", status="completed") == 0
    assert value(after, "central_sweeps", status="pending") == 0
    # durations of the runs the worker finished
    for name, status, run_row in (
        ("central_backtest_duration_seconds", "completed", backtest),
        ("central_sync_duration_seconds", "succeeded", run),
    ):
        seconds = (run_row.finished_at - run_row.started_at).total_seconds()
        assert value(after, f"{name}_gcount", status=status) == 1
        assert value(after, f"{name}_bucket", status=status, le="+Inf") == 1
        assert value(after, f"{name}_gsum", status=status) == pytest.approx(seconds, abs=1e-3)
    # candles stored, per series, from the catalogue
    synced = CandleSeries.objects.get(symbol__name="BTCUSDT", timeframe="1m")
    hourly = CandleSeries.objects.get(symbol__name="BTCUSDT", timeframe="1h")
    assert (
        value(after, "central_candles_stored", source="binance", symbol="BTCUSDT", timeframe="1m")
        == SYNC_COUNT
    )
    assert (
        value(
            after, "central_candles_stored", source=hourly.source, symbol="BTCUSDT", timeframe="1h"
        )
        == 600
    )
    # sync lag: now minus the close of the last stored candle (open + one minute)
    lag = value(
        after,
        "central_market_sync_lag_seconds",
        source="binance",
        symbol="BTCUSDT",
        timeframe="1m",
        watched="true",
    )
    expected = (datetime.now(UTC) - synced.last_timestamp - timedelta(minutes=1)).total_seconds()
    assert expected - 30 < lag <= expected
    hourly_lag = value(
        after,
        "central_market_sync_lag_seconds",
        source=hourly.source,
        symbol="BTCUSDT",
        timeframe="1h",
        watched="false",
    )
    assert hourly_lag > 86400  # imported 2024 history nobody keeps in sync
    # every Celery queue, measured (the worker has drained them)
    for queue in QUEUES:
        assert value(after, "central_celery_queue_length", queue=queue) == 0

    # Binance, as the worker's client saw it: 4 answers, one 429, one 418
    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - before.get((name, frozenset(labels.items())), 0)

    assert grew("central_binance_responses_total") == 4
    assert grew("central_binance_rate_limited_total", code="429") == 1
    assert grew("central_binance_rate_limited_total", code="418") == 1
    assert 4000 < value(after, "central_binance_used_weight_1m") <= 4010
    seen = value(after, "central_binance_weight_seen_timestamp_seconds")
    assert time.time() - 120 < seen <= time.time()
    assert value(after, "central_binance_weight_limit") == metrics_settings.BINANCE_WEIGHT_LIMIT
    # django-prometheus's own metrics are still there
    assert "django_http_requests_total_by_view_transport_method_total" in {n for n, _ in after}
