"""The live market stream: Binance kline WebSocket streams into the store and the browsers.

One `stream_market` process holds one combined-stream connection
(`<BINANCE_WS_URL>stream?streams=btcusdt@kline_1m/...`). Every kline it receives, forming
or closed, is published to the series' browsers (`marketdata.live.publish_candle`);
closed ones are also upserted into the candle store through the writer every sync and
import uses, so a candle stored twice is stored once.

The connection is presumed dead when it stays silent for STREAM_SILENCE_SECONDS
(Binance sends each stream's kline every second or two; the library answers Binance's
pings and sends its own). Then, and whenever it drops, the process reconnects after a
random wait up to base * 2^attempt (capped: full jitter, so many processes do not all
come back at once). After every connect, before reading the first frame, it backfills
each series over REST from its last stored candle, as a sync run with the trigger
"stream" (the existing download, validation, gap search and storage): the socket is
subscribed first, so nothing closes between the end of the backfill and the stream.
A series with nothing stored yet is not backfilled: its history is the sync's job
(watched symbols, `sync_market_data`); the stream keeps it current from its first
closed candle on.

Database work (backfills, upserts, the state row) runs on one thread of the service's
own, so the event loop never waits on PostgreSQL or a REST download while frames are
due; frames queue in the socket meanwhile.

The process reports itself in one MarketStream row (state, counters, last error) on
every change of state and about once a second while candles flow, for the admin and
/metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, NoReturn, TypeVar

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidURI, WebSocketException
from websockets.uri import parse_uri

from backtest.paper import schedule_advance
from marketdata.binance_client import BinanceError, Kline, MalformedPayload, parse_kline
from marketdata.importers.validation import validate
from marketdata.live import publish_candle
from marketdata.models import CandleSeries, MarketStream, SyncRun
from marketdata.selectors import find_series
from marketdata.services import (
    InvalidParameter,
    check_timeframe,
    create_sync_run,
    get_or_create_series,
    normalise_symbol,
)
from marketdata.storage import upsert_candles
from marketdata.sync import (
    execute_sync_run,
    floor_open,
    klines_to_batch,
    new_candle_may_have_closed,
)
from marketdata.timeframes import get_timeframe

logger = logging.getLogger(__name__)

MAX_STREAMS_PER_CONNECTION = 1024  # Binance's limit for one combined-stream connection
MAX_NAME_LENGTH = 200  # MarketStream.name
STATE_FLUSH_SECONDS = 1.0
_T = TypeVar("_T")


# --- What to subscribe to -----------------------------------------------------------


class StreamTarget(NamedTuple):
    """One series of the stream: a normalised symbol and a checked timeframe."""

    symbol: str
    timeframe: str

    @property
    def stream(self) -> str:
        """Binance's stream name, e.g. btcusdt@kline_1m."""
        return f"{self.symbol.lower()}@kline_{self.timeframe}"


def _split(raw: str | Iterable[str]) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [item.strip() for item in items if item and item.strip()]


def parse_targets(
    symbols: str | Iterable[str], timeframes: str | Iterable[str]
) -> list[StreamTarget]:
    """Every (symbol, timeframe) pair of comma-separated lists, checked with the
    normalisers imports and syncs use; InvalidParameter names the bad parameter."""
    names = list(dict.fromkeys(normalise_symbol(s) for s in _split(symbols)))
    codes = list(dict.fromkeys(check_timeframe(t) for t in _split(timeframes)))
    if not names:
        raise InvalidParameter("symbols", "give at least one symbol, e.g. BTCUSDT,ETHUSDT")
    if not codes:
        raise InvalidParameter("timeframes", "give at least one timeframe, e.g. 1m,5m")
    targets = [StreamTarget(name, code) for name in names for code in codes]
    if len(targets) > MAX_STREAMS_PER_CONNECTION:
        raise InvalidParameter(
            "symbols",
            f"{len(targets)} streams asked for; one connection carries at most "
            f"{MAX_STREAMS_PER_CONNECTION} (symbols x timeframes): run several processes",
        )
    return targets


def default_name(targets: list[StreamTarget]) -> str:
    """A name that tells two processes with different series apart, e.g.
    "BTCUSDT,ETHUSDT 1m,5m"."""
    symbols = ",".join(dict.fromkeys(t.symbol for t in targets))
    timeframes = ",".join(dict.fromkeys(t.timeframe for t in targets))
    return f"{symbols} {timeframes}"[:MAX_NAME_LENGTH]


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidParameter("name", f"must be 1-{MAX_NAME_LENGTH} characters, got {name!r}")
    return name


def combined_stream_url(base: str, targets: Iterable[StreamTarget]) -> str:
    """Binance's combined-stream URL for the targets; InvalidParameter for a base URL
    that is not a ws:// or wss:// one (BINANCE_WS_URL)."""
    url = f"{base.rstrip('/')}/stream?streams={'/'.join(t.stream for t in targets)}"
    try:
        parse_uri(url)
    except InvalidURI as exc:
        raise InvalidParameter(
            "BINANCE_WS_URL", f"{base!r} is not a WebSocket URL: {exc}"
        ) from None
    return url


# --- Frames ---------------------------------------------------------------------------


class MalformedFrame(ValueError):
    """A frame that is not a kline of a stream we asked for; counted and skipped."""


@dataclass(frozen=True)
class KlineUpdate:
    target: StreamTarget
    kline: Kline
    closed: bool

    def candle(self) -> dict[str, Any]:
        """The candle as `publish_candle` takes it."""
        k = self.kline
        return {
            "time": k.open_time,
            "open": k.open,
            "high": k.high,
            "low": k.low,
            "close": k.close,
            "volume": k.volume,
        }


def parse_frame(raw: str | bytes, targets: dict[str, StreamTarget]) -> KlineUpdate:
    """One combined-stream frame, `{"stream": ..., "data": {"e": "kline", "k": {...}}}`,
    checked against the streams asked for (`targets` by stream name)."""
    try:
        frame = json.loads(raw)
    except (TypeError, ValueError):
        raise MalformedFrame(f"not JSON: {str(raw)[:80]!r}") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("data"), dict):
        raise MalformedFrame(f"not a combined-stream frame: {str(raw)[:80]!r}")
    stream = frame.get("stream")
    target = targets.get(stream) if isinstance(stream, str) else None
    if target is None:
        raise MalformedFrame(f"a frame of stream {frame.get('stream')!r}, not one asked for")
    data, k = frame["data"], frame["data"].get("k")
    if data.get("e") != "kline" or not isinstance(k, dict):
        raise MalformedFrame(f"{target.stream}: not a kline event: {str(raw)[:80]!r}")
    if k.get("s") != target.symbol or k.get("i") != target.timeframe:
        raise MalformedFrame(f"{target.stream}: a kline of {k.get('s')!r} {k.get('i')!r}")
    if not isinstance(k.get("x"), bool):
        raise MalformedFrame(f"{target.stream}: kline without its closed flag 'x'")
    try:
        # The REST row's field order, so one parser checks both paths.
        kline = parse_kline(
            [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], "", "", ""]
        )
    except (KeyError, MalformedPayload) as exc:
        raise MalformedFrame(f"{target.stream}: bad kline: {exc}") from None
    if floor_open(kline.open_time, get_timeframe(target.timeframe)) != kline.open_time:
        raise MalformedFrame(f"{target.stream}: open time {kline.open_time} is not a candle open")
    return KlineUpdate(target, kline, k["x"])


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full jitter: a uniform wait in [0, min(cap, base * 2^attempt)]."""
    return (rng or random).uniform(0, min(cap, base * 2.0 ** min(attempt, 32)))


# --- The service ----------------------------------------------------------------------


class StreamSilent(Exception):
    """No frame for the silence limit: the connection is taken for dead."""


class BackfillFailed(Exception):
    """A backfill's sync run failed (Binance refused or kept failing): reconnect later."""


# Reasons to drop the connection and come back: network, protocol, Binance, database.
_RECOVERABLE = (
    OSError,
    TimeoutError,
    WebSocketException,
    StreamSilent,
    BackfillFailed,
    BinanceError,
    DatabaseError,
)


@dataclass
class _Counters:
    reconnects: int = 0
    messages: int = 0
    malformed: int = 0
    last_message_at: Any = None


class MarketStreamService:
    """Streams the targets until `stop()`; `run()` is the whole life of the process.

    Settings give the defaults (BINANCE_WS_URL, STREAM_SILENCE_SECONDS,
    STREAM_BACKOFF_BASE_SECONDS, STREAM_BACKOFF_MAX_SECONDS); tests pass their own.
    """

    def __init__(
        self,
        name: str,
        targets: list[StreamTarget],
        *,
        ws_url: str | None = None,
        silence_seconds: float | None = None,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        rng: random.Random | None = None,
    ):
        if not targets:
            raise InvalidParameter("symbols", "a stream needs at least one series")
        self.name = check_name(name)
        self.targets = list(targets)
        self.url = combined_stream_url(ws_url or settings.BINANCE_WS_URL, self.targets)
        self.silence = float(silence_seconds or settings.STREAM_SILENCE_SECONDS)
        self.backoff_base = float(backoff_base or settings.STREAM_BACKOFF_BASE_SECONDS)
        self.backoff_max = float(backoff_max or settings.STREAM_BACKOFF_MAX_SECONDS)
        self.rng = rng or random.Random()
        self.counters = _Counters()
        self._by_stream = {t.stream: t for t in self.targets}
        self._series: dict[StreamTarget, CandleSeries] = {}
        self._stop_requested = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db_thread: ThreadPoolExecutor | None = None
        self._last_flush = 0.0
        self._healthy = False
        self._unsaved = False

    # --- control ----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the stream to stop; callable from any thread or a signal handler."""
        self._stop_requested.set()
        loop, event = self._loop, self._stop
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Stream until stopped; the state row ends "stopped", or "failed" with the error
        when something unexpected ends the stream (then raised)."""
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix=f"stream-db-{self.name}")
        if self._stop_requested.is_set():
            self._stop.set()
        worker = asyncio.create_task(self._connect_forever(), name="market-stream")
        stopper = asyncio.create_task(self._stop.wait())
        try:
            # Submitted to the database thread before the worker's first write can be.
            await self._db(self._record_start)
            await asyncio.wait({worker, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            worker.cancel()
            stopper.cancel()
            outcome, _ = await asyncio.gather(worker, stopper, return_exceptions=True)
            failure = outcome if isinstance(outcome, Exception) else None
            if failure is not None:
                logger.error("stream %s failed", self.name, exc_info=failure)
                await self._save(MarketStream.State.FAILED, f"{type(failure).__name__}: {failure}")
            else:
                logger.info("stream %s stopped", self.name)
                await self._save(MarketStream.State.STOPPED)
            await self._db(connections.close_all)
            self._db_thread.shutdown(wait=True)
        if failure is not None:
            raise failure

    # --- the connection loop ------------------------------------------------------------

    async def _connect_forever(self) -> None:
        attempt = 0
        while True:
            self._healthy = False
            try:
                async with connect(self.url, open_timeout=max(self.silence, 1.0)) as socket:
                    await self._on_connected()
                    await self._consume(socket)
            except _RECOVERABLE as exc:
                # Binance's daily close too (ConnectionClosedOK): it is just reconnected.
                error = f"{type(exc).__name__}: {exc}"
            if self._healthy:
                attempt = 0  # that connection worked: start the backoff afresh
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, self.rng)
            attempt += 1
            self.counters.reconnects += 1
            logger.warning("stream %s: %s; reconnecting in %.2f s", self.name, error, delay)
            await self._save(MarketStream.State.RECONNECTING, error)
            await asyncio.sleep(delay)

    async def _on_connected(self) -> None:
        logger.info("stream %s connected to %s", self.name, self.url)
        await self._save(MarketStream.State.BACKFILLING, connected=True)
        await self._db(self._backfill)
        await self._save(MarketStream.State.CONNECTED)

    async def _consume(self, socket: ClientConnection) -> NoReturn:
        """Handle frames until the connection fails or falls silent (raises either way).

        Counters not yet written (the row is written at most once a second) are written
        when the stream pauses, so the row never lags by more than that second.
        """
        silent_at = time.monotonic() + self.silence
        while True:
            now = time.monotonic()
            wait = silent_at - now
            if self._unsaved:
                wait = min(wait, self._last_flush + STATE_FLUSH_SECONDS - now)
            try:
                # Cancelling recv() loses nothing: the frame stays queued for the next.
                raw = await asyncio.wait_for(socket.recv(), max(wait, 0.0))
            except TimeoutError:
                if time.monotonic() >= silent_at:
                    raise StreamSilent(f"no message for {self.silence:g} s") from None
                await self._save()
                continue
            silent_at = time.monotonic() + self.silence
            await self._handle(raw)

    async def _handle(self, raw: str | bytes) -> None:
        try:
            update = parse_frame(raw, self._by_stream)
        except MalformedFrame as exc:
            self.counters.malformed += 1
            logger.warning("stream %s: frame ignored: %s", self.name, exc)
        else:
            self._healthy = True
            self.counters.messages += 1
            self.counters.last_message_at = timezone.now()
            if update.closed:
                # Stored before it is announced: a browser that refetches on a closed
                # candle finds it.
                await self._db(self._store, update)
            try:
                publish_candle(
                    update.target.symbol, update.target.timeframe, update.candle(), update.closed
                )
            except Exception:
                logger.warning("stream %s: could not publish a candle", self.name, exc_info=True)
        self._unsaved = True
        if time.monotonic() - self._last_flush >= STATE_FLUSH_SECONDS:
            await self._save()

    # --- database work, on the service's own thread -----------------------------------

    async def _db(self, work: Callable[..., _T], *args: Any) -> _T:
        def call() -> _T:
            close_old_connections()  # a connection broken meanwhile is replaced
            return work(*args)

        return await asyncio.get_running_loop().run_in_executor(self._db_thread, call)

    def _backfill(self) -> None:
        """Bring each stored series up to now over REST (one sync run each)."""
        for target in self.targets:
            series = find_series(target.symbol, target.timeframe)
            if series is None or series.last_timestamp is None:
                continue  # nothing stored: the sync brings history, the stream what follows
            if not new_candle_may_have_closed(series.last_timestamp, target.timeframe):
                continue
            run = create_sync_run(
                target.symbol,
                target.timeframe,
                series.last_timestamp,
                trigger=SyncRun.Trigger.STREAM,
            )
            summary = execute_sync_run(run.pk)
            if summary["status"] != SyncRun.Status.SUCCEEDED:
                raise BackfillFailed(
                    f"backfill of {target.symbol} {target.timeframe} (sync run #{run.pk}) "
                    f"{summary['status']}: {summary['error']}"
                )
            logger.info(
                "stream %s: backfilled %s %s, %s candles (sync run #%s)",
                self.name,
                target.symbol,
                target.timeframe,
                summary["rows_inserted"],
                run.pk,
            )

    def _store(self, update: KlineUpdate) -> None:
        target = update.target
        batch = validate(klines_to_batch([update.kline]), get_timeframe(target.timeframe))
        if batch.rejects:
            logger.warning(
                "stream %s: invalid closed kline not stored: %s", self.name, batch.rejects[0]
            )
            return
        series = self._series.get(target)
        if series is None:
            series = self._series[target] = get_or_create_series(target.symbol, target.timeframe)
        upsert_candles(series, batch)
        schedule_advance(target.symbol, target.timeframe)  # paper sessions of the series

    def _record_start(self) -> None:
        MarketStream.objects.update_or_create(
            name=self.name,
            defaults={
                "symbols": list(dict.fromkeys(t.symbol for t in self.targets)),
                "timeframes": list(dict.fromkeys(t.timeframe for t in self.targets)),
                "state": MarketStream.State.CONNECTING,
                "started_at": timezone.now(),
                "connected_at": None,
                "last_message_at": None,
                "reconnects": 0,
                "messages": 0,
                "malformed": 0,
                "last_error": "",
            },
        )

    async def _save(
        self, state: str | None = None, error: str | None = None, *, connected: bool = False
    ) -> None:
        """Write the counters (and a new state, error, connection time) to the row.
        The row is for watchers: a database that fails here fails the next real write
        too, which reconnects; this one is only logged."""
        self._last_flush = time.monotonic()
        self._unsaved = False
        fields: dict[str, Any] = {
            "reconnects": self.counters.reconnects,
            "messages": self.counters.messages,
            "malformed": self.counters.malformed,
            "last_message_at": self.counters.last_message_at,
            "updated_at": timezone.now(),
        }
        if state is not None:
            fields["state"] = state
        if error is not None:
            fields["last_error"] = error
        if connected:
            fields["connected_at"] = timezone.now()
        try:
            await self._db(partial(MarketStream.objects.filter(name=self.name).update, **fields))
        except DatabaseError:
            logger.warning("stream %s: could not record its state", self.name, exc_info=True)


async def serve(service: MarketStreamService) -> None:
    """Run the service until SIGTERM or SIGINT (a clean stop: the state row says so)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stop)
    try:
        await service.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
