"""The live stream (marketdata.stream) against the fake Binance's kline WebSocket and
REST API, on the real PostgreSQL and Redis.

The service runs in a thread of its own with its event loop, as the command runs it;
tests wait for what it stores and reports (the database row), never for fixed times.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import CommandError, call_command

from central import channel_publisher
from marketdata.live import candle_group
from marketdata.models import Candle, MarketStream, SyncRun
from marketdata.selectors import stream_states
from marketdata.stream import (
    MalformedFrame,
    MarketStreamService,
    StreamTarget,
    parse_frame,
    parse_targets,
)
from tests.conftest import BASE_DIR, current_test_database, worker_environment
from tests.fakes.fake_binance import (
    FakeBinance,
    make_klines,
    to_ms,
    ws_drop,
    ws_gate,
    ws_kline,
    ws_raw,
    ws_silence,
)

pytestmark = pytest.mark.django_db(transaction=True)

BTC_1M = StreamTarget("BTCUSDT", "1m")
MINUTE = timedelta(minutes=1)
# Long past, so every REST candle has closed; but recent, so a backfill is one request.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
ROWS = make_klines("1m", T0, T0 + 11 * MINUTE, seed=8)


def minutes(first: int, stop: int) -> list[datetime]:
    return [T0 + i * MINUTE for i in range(first, stop)]


def stored(symbol: str = "BTCUSDT", timeframe: str = "1m") -> list[datetime]:
    return list(
        Candle.objects.filter(series__symbol__name=symbol, series__timeframe=timeframe)
        .order_by("timestamp")
        .values_list("timestamp", flat=True)
    )


def state(name: str) -> MarketStream:
    """The stream's row; a blank one until the process has written it."""
    return MarketStream.objects.filter(name=name).first() or MarketStream(name=name)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class RunningStream:
    """The service in a thread with its own event loop, stopped like the command stops."""

    def __init__(self, service: MarketStreamService):
        self.service = service
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"stream-{service.name}")

    def _run(self) -> None:
        try:
            asyncio.run(self.service.run())
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> None:
        self.service.stop()
        self.thread.join(20)
        assert not self.thread.is_alive(), "the stream did not stop within 20 s"
        if self.error is not None:
            raise self.error


@pytest.fixture
def start_stream(fake_binance: FakeBinance, settings) -> Iterator[Callable[..., RunningStream]]:
    """Starts streams on the fake (tiny backoff, a silence limit tests can lower);
    whatever a test leaves running is stopped after it."""
    settings.BINANCE_WS_URL = fake_binance.ws_url
    running: list[RunningStream] = []

    def start(name: str = "test", silence: float = 10.0, **options) -> RunningStream:
        service = MarketStreamService(
            name,
            [BTC_1M],
            silence_seconds=silence,
            backoff_base=0.05,
            backoff_max=0.2,
            **options,
        )
        stream = RunningStream(service)
        running.append(stream)
        stream.thread.start()
        return stream

    yield start
    for stream in running:
        if stream.thread.is_alive():
            stream.stop()


def subscribe(group: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def received(channel: str) -> list[dict]:
    channel_publisher.flush()
    layer = get_channel_layer()

    async def receive() -> dict:
        return await asyncio.wait_for(layer.receive(channel), timeout=1)

    messages = []
    while True:
        try:
            messages.append(async_to_sync(receive)())
        except TimeoutError:
            return messages


def test_closed_klines_are_stored_and_every_kline_is_published(fake_binance, start_stream):
    channel = subscribe(candle_group("BTCUSDT", "1m"))
    fake_binance.ws_script(
        [
            ws_kline("BTCUSDT", "1m", ROWS[0], closed=True),
            ws_kline("BTCUSDT", "1m", ROWS[1], closed=False),
            ws_kline("BTCUSDT", "1m", ROWS[1], closed=True),
            ws_kline("BTCUSDT", "1m", ROWS[2], closed=False),
        ]
    )
    stream = start_stream()

    wait_for(lambda: state("test").messages == 4, "four kline messages")
    assert stored() == minutes(0, 2)  # the forming t2 is not stored
    stream.stop()

    messages = received(channel)
    t0, t1, t2 = (f"{moment:%Y-%m-%dT%H:%M:%SZ}" for moment in minutes(0, 3))
    assert [(m["candle"]["time"], m["closed"]) for m in messages] == [
        (t0, True),
        (t1, False),
        (t1, True),
        (t2, False),
    ]
    first = messages[0]
    assert first["type"] == "market.candle"
    assert (first["symbol"], first["timeframe"]) == ("BTCUSDT", "1m")
    assert first["candle"]["close"] == pytest.approx(float(ROWS[0][4]))
    candle = Candle.objects.get(timestamp=T0)
    assert (candle.open, candle.volume, candle.trade_count) == (
        pytest.approx(float(ROWS[0][1])),
        pytest.approx(float(ROWS[0][5])),
        ROWS[0][8],
    )
    assert fake_binance.ws_connections == ["btcusdt@kline_1m"]
    assert not fake_binance.kline_requests()  # nothing stored before: no backfill


def test_a_dropped_connection_is_backfilled_without_gap_or_duplicate(fake_binance, start_stream):
    gate = threading.Event()
    fake_binance.ws_script(
        [
            *(ws_kline("BTCUSDT", "1m", row) for row in ROWS[:3]),
            ws_kline("BTCUSDT", "1m", ROWS[3], closed=False),
            ws_gate(gate),
            ws_drop(),  # mid-candle: t3 was forming
            # The next connection: t9 again (the backfill has it too), t10 forming.
            ws_kline("BTCUSDT", "1m", ROWS[9]),
            ws_kline("BTCUSDT", "1m", ROWS[10], closed=False),
        ]
    )
    stream = start_stream()
    wait_for(lambda: stored() == minutes(0, 3), "the first three closed candles")
    # While the stream is down, t3..t9 close on the exchange.
    fake_binance.load_klines("BTCUSDT", "1m", ROWS[:10])
    gate.set()

    wait_for(lambda: state("test").messages == 6, "the messages of both connections")
    assert stored() == minutes(0, 10)  # contiguous, each candle once
    row = state("test")
    assert (row.state, row.reconnects) == (MarketStream.State.CONNECTED, 1)
    assert "ConnectionClosed" in row.last_error
    assert row.connected_at is not None and row.last_message_at is not None
    assert len(fake_binance.ws_connections) == 2
    # The backfill asked from the candle after the last one stored: t3.
    assert fake_binance.kline_requests()[0].int_param("startTime") == to_ms(T0 + 3 * MINUTE)
    backfill = SyncRun.objects.get()
    assert (backfill.trigger, backfill.status) == (SyncRun.Trigger.STREAM, SyncRun.Status.SUCCEEDED)
    assert backfill.rows_inserted == 7
    stream.stop()
    assert state("test").state == MarketStream.State.STOPPED


def test_malformed_frames_are_counted_and_skipped(fake_binance, start_stream):
    bad_kline = ws_kline("BTCUSDT", "1m", ROWS[1]).text.replace('"o": ', '"open": ')
    fake_binance.ws_script(
        [
            ws_kline("BTCUSDT", "1m", ROWS[0]),
            ws_raw("this is not JSON"),
            ws_raw('{"stream": "dogeusdt@kline_1m", "data": {"e": "kline", "k": {}}}'),
            ws_raw('{"result": null, "id": 1}'),
            ws_raw(bad_kline),
            ws_kline("BTCUSDT", "1m", ROWS[1]),
        ]
    )
    stream = start_stream()

    wait_for(lambda: state("test").messages == 2, "both good klines")
    row = state("test")
    assert (row.malformed, row.reconnects, row.state) == (4, 0, MarketStream.State.CONNECTED)
    assert stored() == minutes(0, 2)
    assert len(fake_binance.ws_connections) == 1
    stream.stop()


def test_a_silent_connection_is_replaced(fake_binance, start_stream):
    fake_binance.load_klines("BTCUSDT", "1m", ROWS[:1])  # what the backfill finds
    fake_binance.ws_script(
        [
            ws_kline("BTCUSDT", "1m", ROWS[0]),
            ws_silence(30),  # alive but mute: the watchdog must give up on it
            ws_kline("BTCUSDT", "1m", ROWS[1]),
        ]
    )
    stream = start_stream(silence=0.5)

    wait_for(lambda: stored() == minutes(0, 2), "the kline of the second connection", 15)
    row = state("test")
    assert row.reconnects >= 1
    assert "no message for 0.5 s" in row.last_error
    assert len(fake_binance.ws_connections) >= 2
    stream.stop()


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"symbols": "BTC$USDT", "timeframes": "1m"}, "symbol: 'BTC$USDT' is not a symbol"),
        ({"symbols": "BTCUSDT", "timeframes": "1m,7m"}, "timeframe: unknown timeframe '7m'"),
        ({"symbols": " , ", "timeframes": "1m"}, "symbols: give at least one symbol"),
        ({"symbols": "BTCUSDT", "timeframes": ""}, "timeframes: give at least one timeframe"),
        ({"symbols": "BTCUSDT", "timeframes": "1m", "name": "x" * 201}, "name: must be 1-200"),
    ],
)
def test_the_command_names_what_is_wrong(options, message):
    with pytest.raises(CommandError, match=message.replace("$", r"\$")):
        call_command("stream_market", **options)
    assert not MarketStream.objects.exists()


def test_targets_are_normalised_and_frames_checked():
    targets = parse_targets("btc/usdt, ETHUSDT,btcusdt", "1m,5m")
    assert [t.stream for t in targets] == [
        "btcusdt@kline_1m",
        "btcusdt@kline_5m",
        "ethusdt@kline_1m",
        "ethusdt@kline_5m",
    ]
    by_stream = {t.stream: t for t in targets}
    update = parse_frame(ws_kline("ETHUSDT", "1m", ROWS[0], closed=False).text, by_stream)
    assert (update.target, update.closed, update.kline.open_time) == (
        StreamTarget("ETHUSDT", "1m"),
        False,
        ROWS[0][0],
    )
    off_grid = next(row for row in ROWS if row[0] % 300_000)
    with pytest.raises(MalformedFrame, match="is not a candle open"):
        parse_frame(ws_kline("BTCUSDT", "5m", off_grid).text, by_stream)


def test_the_command_streams_until_sigterm_and_records_the_stop(
    fake_binance, django_db_blocker, settings
):
    """The process as compose runs it: a SIGTERM is a clean stop, exit status 0."""
    fake_binance.ws_script([ws_kline("BTCUSDT", "1m", ROWS[0])])
    env = worker_environment(
        current_test_database(django_db_blocker), BINANCE_WS_URL=fake_binance.ws_url
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "stream_market",
            "--symbols",
            "btcusdt",
            "--timeframes",
            "1m",
            "--name",
            "cli",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: stored() == minutes(0, 1), "the command to store the candle", 60)
        wait_for(lambda: state("cli").state == MarketStream.State.CONNECTED, "connected")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    row = state("cli")
    assert row.state == MarketStream.State.STOPPED
    assert (row.symbols, row.timeframes, row.messages) == (["BTCUSDT"], ["1m"], 1)
    assert list(stream_states()) == [row]
    assert "stream 'cli' stopped" in output
