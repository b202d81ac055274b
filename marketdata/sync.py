"""Binance sync: download a series' closed candles, store them, find and fill its holes.

A run downloads [start, end or now) in 1000-candle chunks, beginning after the last
candle already stored (so a rerun or a redelivered task resumes instead of starting
over) and storing each chunk as it arrives (so a crash keeps what was fetched). It then
asks PostgreSQL, in one query, where the stored series has holes inside the range,
refetches each hole once, and records the holes Binance has no candles for instead of
asking again forever. Every outcome lands on the SyncRun: a run never stays "running".

An operator may cancel a pending or running run (cancel_sync_run). A running one stops
at its next chunk and keeps what it stored, which is whole, checked candles; nothing
the worker does afterwards turns "cancelled" back into another status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.events import record_event
from audit.models import SecurityAction
from central.locks import exclusive_job
from central.run_progress import current_traceback
from marketdata import selectors
from marketdata.api.serializers import SyncRunSerializer
from marketdata.binance_client import (
    MAX_KLINES_PER_REQUEST,
    BinanceError,
    BinanceKlineClient,
    BinanceRejected,
    Kline,
)
from marketdata.importers.batch import CandleBatch
from marketdata.importers.validation import validate
from marketdata.models import DEFAULT_SOURCE, CandleSeries, SyncRun, WatchedSymbol
from marketdata.progress import DOWNLOAD_SHARE, publish_sync_progress, sync_run_message
from marketdata.services import (
    InvalidParameter,
    create_sync_run,
    get_or_create_series,
    request_sync,
)
from marketdata.storage import upsert_candles
from marketdata.timeframes import Timeframe, get_timeframe

logger = logging.getLogger(__name__)
INVALID_SYMBOL = -1121  # Binance's error code for a symbol it does not list

ACTIVE_STATUSES = (SyncRun.Status.PENDING, SyncRun.Status.RUNNING)
# An active run older than this is presumed lost (its message gone with a dead broker)
# and no longer stops the beat schedule from queueing the series again.
STALE_ACTIVE_RUN = timedelta(hours=6)
_RUN_LOCK_NAMESPACE = 0x53594E43  # "SYNC": apart from storage's per-series locks
_MS_PER_DAY = 86_400_000
_MONDAY_OFFSET_MS = 4 * _MS_PER_DAY  # 1970-01-01 was a Thursday; Binance weeks open Monday


# --- Candle open times (ms since the epoch, UTC) -----------------------------------


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def floor_open(ms: int, tf: Timeframe) -> int:
    """Open time of the candle that contains `ms`."""
    if tf.is_calendar_month:
        moment = from_ms(ms)
        return to_ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))
    step = tf.milliseconds
    offset = _MONDAY_OFFSET_MS if tf.code == "1w" else 0
    return (ms - offset) // step * step + offset


def next_open(ms: int, tf: Timeframe) -> int:
    """Open time of the candle after the one opening at `ms`."""
    if tf.is_calendar_month:
        moment = from_ms(ms)
        year, month = divmod(moment.month, 12)
        return to_ms(datetime(moment.year + year, month + 1, 1, tzinfo=UTC))
    return ms + tf.milliseconds


def ceil_open(ms: int, tf: Timeframe) -> int:
    """The first candle open at or after `ms`."""
    floor = floor_open(ms, tf)
    return floor if floor == ms else next_open(floor, tf)


def _sql_interval(tf: Timeframe) -> str:
    return "1 month" if tf.is_calendar_month else f"{tf.seconds} seconds"


# --- Klines to storage ------------------------------------------------------------


def klines_to_batch(klines: list[Kline]) -> CandleBatch:
    """Binance rows as the CandleBatch every writer hands to storage."""
    if not klines:
        return CandleBatch.empty()
    columns = list(zip(*klines, strict=True))

    def floats(index: int) -> np.ndarray:
        return np.asarray(columns[index], dtype=np.float64)

    return CandleBatch(
        timestamp_us=np.asarray(columns[0], dtype=np.int64) * 1000,
        open=floats(1),
        high=floats(2),
        low=floats(3),
        close=floats(4),
        volume=floats(5),
        quote_volume=floats(7),
        trade_count=np.asarray(columns[8], dtype=np.int64),
        line=np.arange(1, len(klines) + 1, dtype=np.int64),
    )


@dataclass(frozen=True)
class Gap:
    """Missing candles with start <= open time < end."""

    start: datetime
    end: datetime

    def overlaps(self, other: Gap) -> bool:
        return self.start < other.end and other.start < self.end

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


# Boundary rows (first - step, stop) make a hole at either edge of the range show up
# as a gap like any hole between two stored candles.
_GAPS_SQL = """
    WITH stamps AS (
        SELECT timestamp AS ts FROM marketdata_candle
        WHERE series_id = %(series)s AND timestamp >= %(first)s AND timestamp < %(stop)s
        UNION ALL SELECT %(first)s - %(step)s::interval
        UNION ALL SELECT %(stop)s
    )
    SELECT ts + %(step)s::interval, next_ts
    FROM (SELECT ts, lead(ts) OVER (ORDER BY ts) AS next_ts FROM stamps) AS paired
    WHERE next_ts > ts + %(step)s::interval
    ORDER BY ts
"""


def find_gaps(
    series: CandleSeries | None, tf: Timeframe, first: datetime, stop: datetime
) -> list[Gap]:
    """Holes in the stored series among candle opens in [first, stop); one query.

    No series (nothing was ever stored) is one hole over the whole range.
    """
    if first >= stop:
        return []
    if series is None:
        return [Gap(first, stop)]
    with connection.cursor() as cursor:
        cursor.execute(
            _GAPS_SQL,
            {"series": series.pk, "first": first, "stop": stop, "step": _sql_interval(tf)},
        )
        return [Gap(start, end) for start, end in cursor.fetchall()]


# --- One run ----------------------------------------------------------------------


class _Cancelled(Exception):
    """The run was cancelled while this worker ran it: the job stops where it is."""


class _SyncJob:
    """The work of one run; its counters live on the run and are saved chunk by chunk.

    Progress runs from 0 to DOWNLOAD_SHARE over the download and on to 1 over the
    holes refetched after it, so it never goes back when the gap pass starts.
    """

    def __init__(self, run: SyncRun, client: BinanceKlineClient):
        self.run = run
        self.client = client
        self.tf = get_timeframe(run.timeframe)
        # Created with the first candle stored: a run that stores nothing (an unknown
        # symbol, a range Binance has no candles for) leaves no empty series behind.
        self.series = selectors.find_series(run.symbol.name, run.timeframe, run.source)
        self.now_ms = to_ms(timezone.now())
        # Candles opening at or after the current candle's open have not closed yet.
        last_closed_stop = floor_open(self.now_ms, self.tf)
        requested_stop = ceil_open(to_ms(run.end), self.tf) if run.end else last_closed_stop
        self.first_ms = ceil_open(to_ms(run.start), self.tf)
        self.stop_ms = min(requested_stop, last_closed_stop)
        # A redelivered run keeps counting from what its earlier attempt recorded.
        self._base = (run.requests_made, run.retries)

    def execute(self) -> None:
        if self.first_ms >= self.stop_ms:
            return
        span = self.stop_ms - self.first_ms
        self.download(
            self.resume_ms(),
            self.stop_ms,
            phase="download",
            progress_at=lambda cursor: DOWNLOAD_SHARE * (cursor - self.first_ms) / span,
        )
        self.fill_gaps()

    def resume_ms(self) -> int:
        """Begin after the last stored candle: what is stored before it, gap search covers."""
        last = self.series.last_timestamp if self.series else None
        if last is None:
            return self.first_ms
        return max(self.first_ms, next_open(to_ms(last), self.tf))

    def download(
        self, start_ms: int, stop_ms: int, *, phase: str, progress_at: Callable[[int], float]
    ) -> None:
        """Fetch and store closed candles opening in [start_ms, stop_ms), chunk by chunk;
        `progress_at` turns the position reached into the run's progress."""
        cursor = start_ms
        while cursor < stop_ms:
            klines = self.client.fetch_klines(
                self.run.symbol.name,
                self.tf.code,
                cursor,
                stop_ms - 1,
                limit=MAX_KLINES_PER_REQUEST,
            )
            usable = [
                k for k in klines if cursor <= k.open_time < stop_ms and k.close_time < self.now_ms
            ]
            if usable:
                self.store(usable)
                cursor = next_open(usable[-1].open_time, self.tf)
            self.report(phase, progress_at(cursor))
            if not usable or len(klines) < MAX_KLINES_PER_REQUEST:
                break  # Binance has nothing more in the range

    def store(self, klines: list[Kline]) -> None:
        batch = validate(klines_to_batch(klines), self.tf)
        if batch.rejects:
            # Dropped candles leave holes that the gap pass refetches and, if Binance
            # keeps sending them invalid, records as unfilled.
            logger.warning(
                "sync run %s: %d invalid candles from Binance dropped: %s",
                self.run.pk,
                len(batch.rejects),
                batch.rejects[0],
            )
        if len(batch) == 0:
            return
        if self.series is None:
            self.series = get_or_create_series(self.run.symbol.name, self.tf.code, self.run.source)
        counts = upsert_candles(self.series, batch)
        self.run.rows_inserted += counts.inserted
        self.run.rows_updated += counts.updated

    def fill_gaps(self) -> None:
        first, stop = from_ms(self.first_ms), from_ms(self.stop_ms)
        gaps = find_gaps(self.series, self.tf, first, stop)
        self.run.gaps_found = len(gaps)
        missing = sum(to_ms(gap.end) - to_ms(gap.start) for gap in gaps)
        refetched = 0
        for gap in gaps:
            start, end = to_ms(gap.start), to_ms(gap.end)
            self.download(
                start,
                end,
                phase="gaps",
                progress_at=lambda cursor, before=refetched, start=start: (
                    DOWNLOAD_SHARE + (1 - DOWNLOAD_SHARE) * (before + cursor - start) / missing
                ),
            )
            refetched += end - start
        # One refetch per hole: what is still missing, Binance does not have.
        remaining = find_gaps(self.series, self.tf, first, stop) if gaps else []
        self.run.unfilled_gaps = [gap.as_dict() for gap in remaining]
        self.run.gaps_filled = sum(
            1 for gap in gaps if not any(gap.overlaps(hole) for hole in remaining)
        )
        self.report("gaps", 1.0)

    def copy_client_stats(self) -> None:
        stats = self.client.stats
        self.run.requests_made = self._base[0] + stats.requests
        self.run.retries = self._base[1] + stats.retries
        self.run.max_weight_used = max(self.run.max_weight_used, stats.max_weight)

    def report(self, phase: str, progress: float) -> None:
        """Save the counters (progress survives a crash), stop if the run has been
        cancelled meanwhile, else tell whoever is watching."""
        self.copy_client_stats()
        self.run.save(update_fields=SyncRun.COUNTER_FIELDS)
        # One primary-key lookup per chunk of up to 1000 candles.
        if SyncRun.objects.filter(pk=self.run.pk, status=SyncRun.Status.CANCELLED).exists():
            raise _Cancelled
        _publish(self.run, phase=phase, progress=round(min(progress, 1.0), 4))


def run_summary(run: SyncRun) -> dict:
    """The run as the REST API shows it: the task's result, the command's --json output."""
    return dict(SyncRunSerializer(run).data)


def _publish(run: SyncRun, *, phase: str, progress: float) -> None:
    # Progress is a courtesy to watchers: a channel-layer hiccup must not fail the sync.
    try:
        publish_sync_progress(run.pk, sync_run_message(run, phase=phase, progress=progress))
    except Exception:
        logger.warning("could not publish progress of sync run %s", run.pk, exc_info=True)


def _claim(run_id: int) -> SyncRun | None:
    """Mark a pending (or crashed-while-running) run as running; None if it is neither
    (finished, cancelled: a redelivered or unrevoked task then does nothing)."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in ACTIVE_STATUSES:
            return None
        run.status = SyncRun.Status.RUNNING
        run.started_at = run.started_at or timezone.now()
        run.error = run.traceback = ""
        run.save(update_fields=("status", "started_at", "error", "traceback"))
    return SyncRun.objects.select_related("symbol", "requested_by").get(pk=run_id)


def _finish(run: SyncRun, status: str, error: str = "", traceback: str = "") -> None:
    """Record the run's end with its counters, unless it was cancelled meanwhile (the
    cancel may land after the last chunk's check): then it stays cancelled, with the
    counters of what it stored, and the cancel's own time and reason."""
    with transaction.atomic():
        # The row lock orders this against cancel_sync_run, which takes it too.
        current = (
            SyncRun.objects.select_for_update()
            .only("status", "error", "finished_at")
            .get(pk=run.pk)
        )
        if current.status == SyncRun.Status.CANCELLED:
            run.status, run.error = current.status, current.error
            run.finished_at = current.finished_at
            run.save(update_fields=SyncRun.COUNTER_FIELDS)
        else:
            run.status = status
            run.error, run.traceback = error, traceback
            run.finished_at = timezone.now()
            run.save(
                update_fields=(
                    *SyncRun.COUNTER_FIELDS,
                    "status",
                    "error",
                    "traceback",
                    "finished_at",
                )
            )
    if run.status == SyncRun.Status.SUCCEEDED and run.end is None and run.source == DEFAULT_SOURCE:
        # Synced up to now: the watched series (if it is one) is current.
        WatchedSymbol.objects.filter(symbol_id=run.symbol_id, timeframe=run.timeframe).update(
            last_synced_at=run.finished_at
        )
    # For a cancelled run this repeats the cancel's final state, with the counters the
    # run ended with (the chunk it was downloading when the cancel came is in them).
    _publish(run, phase="finished", progress=1.0)


def _current_state(run_id: int) -> dict:
    run = SyncRun.objects.select_related("symbol", "requested_by").filter(pk=run_id).first()
    return run_summary(run) if run else {"id": run_id, "status": "missing"}


def execute_sync_run(run_id: int, client: BinanceKlineClient | None = None) -> dict:
    """Run a pending sync to the end and return its summary.

    Binance failures (a refused request, or one that kept failing past the client's own
    retries) mark the run failed and are not raised: repeating the task would only
    repeat them. Anything unexpected also marks the run failed, then propagates so the
    worker logs it. A run cancelled while running stops at its next chunk and stays
    cancelled. A run that is finished, cancelled, missing or being worked on elsewhere
    is left alone.
    """
    with exclusive_job(_RUN_LOCK_NAMESPACE, run_id) as acquired:
        run = _claim(run_id) if acquired else None
        if run is None:
            return _current_state(run_id)
        job = None
        try:
            job = _SyncJob(run, client or BinanceKlineClient())
            job.execute()
        except _Cancelled:
            logger.info("sync run %s cancelled while running; stopped", run.pk)
            job.copy_client_stats()
            _finish(run, SyncRun.Status.CANCELLED)
        except BinanceRejected as exc:
            _fail(run, job, str(exc) + _pause_watch_of_unknown_symbol(run, exc))
        except BinanceError as exc:
            _fail(run, job, str(exc))
        except BaseException as exc:
            _fail(run, job, f"{type(exc).__name__}: {exc}", current_traceback())
            raise
        else:
            job.copy_client_stats()
            _finish(run, SyncRun.Status.SUCCEEDED)
        return run_summary(run)


def _pause_watch_of_unknown_symbol(run: SyncRun, exc: BinanceRejected) -> str:
    """A scheduled sync of a symbol Binance does not list would fail every beat tick:
    pause the watch (an operator re-enables it) and say so in the run's error."""
    if exc.code != INVALID_SYMBOL or run.trigger != SyncRun.Trigger.SCHEDULE:
        return ""
    paused = WatchedSymbol.objects.filter(
        symbol=run.symbol, timeframe=run.timeframe, is_enabled=True
    ).update(is_enabled=False)
    return " (the watch of this symbol was disabled)" if paused else ""


def _fail(run: SyncRun, job: _SyncJob | None, message: str, traceback: str = "") -> None:
    logger.warning("sync run %s failed: %s", run.pk, message)
    if job is not None:
        job.copy_client_stats()
    _finish(run, SyncRun.Status.FAILED, message or "failed without a message", traceback)


# --- Cancelling a run ---------------------------------------------------------------


def cancel_sync_run(
    run: SyncRun, *, actor: AbstractBaseUser | None, request: HttpRequest | None = None
) -> bool:
    """Cancel a pending or running sync; False (nothing changed, nothing recorded) if it
    had already finished. `run` is reloaded with its current state either way.

    A pending run's queued task is revoked, and a worker that gets it all the same
    finds the run cancelled and does nothing. A running one stops at its next chunk
    (one Binance request away, longer while the client waits out a rate limit) and
    keeps the candles it stored. Who cancelled, from where, goes into the audit trail.
    """
    with transaction.atomic():
        run.refresh_from_db(
            from_queryset=SyncRun.objects.select_for_update(of=("self",)).select_related(
                "symbol", "requested_by"
            )
        )
        if run.status not in ACTIVE_STATUSES:
            return False
        previous = run.status
        run.status = SyncRun.Status.CANCELLED
        run.finished_at = timezone.now()
        by = actor.get_username() if actor is not None and actor.is_authenticated else ""
        run.error = f"cancelled by {by}" if by else "cancelled"
        run.save(update_fields=("status", "error", "finished_at"))
        record_event(
            SecurityAction.SYNC_CANCELLED,
            actor=actor,
            target=run,
            request=request,
            detail={
                "symbol": run.symbol.name,
                "timeframe": run.timeframe,
                "previous_status": previous,
            },
        )
        transaction.on_commit(lambda: _after_cancel(run))
    return True


def _after_cancel(run: SyncRun) -> None:
    """Once the cancel is committed: revoke the queued task (not terminate: a running
    one stops by itself at its next chunk) and send watchers the final state."""
    from central.celery import app

    if run.task_id:
        try:
            app.control.revoke(run.task_id)
        except Exception:
            # The run is cancelled all the same: a task delivered later does nothing.
            logger.warning("could not revoke the task of sync run %s", run.pk, exc_info=True)
    _publish(run, phase="finished", progress=1.0)


# --- Creating runs -----------------------------------------------------------------


def create_manual_run(
    symbol: str, timeframe: str, start: datetime, end: datetime | None = None
) -> SyncRun:
    """A pending run for the caller to execute in-process (the CLI), not queued."""
    return create_sync_run(symbol, timeframe, start, end, trigger=SyncRun.Trigger.MANUAL)


def watched_sync_start(watched: WatchedSymbol) -> datetime:
    """Where a watched series' next sync begins: its last stored candle, else its history.

    A run searches for holes within its own range, so a watched series' run (scheduled
    or "Sync now") looks only from its last stored candle on. Holes before it, such as
    one Binance has no candles for, recorded as unfilled by the run that found it, are
    not searched, refetched and recorded again by every scheduled run. Rechecking older
    history takes a run with an explicit range (API, command, admin re-run), whose gap
    search covers the whole range it asks for.
    """
    series = selectors.find_series(watched.symbol.name, watched.timeframe)
    if series is not None and series.last_timestamp is not None:
        return series.last_timestamp
    return watched.history_start


def has_active_run(watched: WatchedSymbol) -> bool:
    return SyncRun.objects.filter(
        symbol_id=watched.symbol_id,
        timeframe=watched.timeframe,
        source=DEFAULT_SOURCE,
        status__in=ACTIVE_STATUSES,
        created_at__gte=timezone.now() - STALE_ACTIVE_RUN,
    ).exists()


def queue_watched_sync(
    watched: WatchedSymbol, *, trigger: str, user: AbstractBaseUser | None = None
) -> SyncRun | None:
    """Queue a sync of the watched series from watched_sync_start; None when one is
    already pending or running for it. Raises InvalidParameter like request_sync."""
    with transaction.atomic():
        # The row lock makes two overlapping requests (beat ticks, a tick and an
        # operator's "Sync now") queue the series once, not twice.
        locked = WatchedSymbol.objects.select_for_update().filter(pk=watched.pk).first()
        if locked is None or has_active_run(watched):
            return None
        return request_sync(
            watched.symbol.name,
            watched.timeframe,
            watched_sync_start(watched),
            trigger=trigger,
            user=user,
        )


def new_candle_may_have_closed(last_stored: datetime | None, timeframe: str) -> bool:
    """Whether a candle after the last stored one can have closed by now.

    The candle after the one opening at `last_stored` closes one timeframe after that
    one's close, and a sync stores a candle as soon as its close time has passed: until
    then a run could only find nothing new.
    """
    if last_stored is None:
        return True
    tf = get_timeframe(timeframe)
    next_close = next_open(next_open(to_ms(last_stored), tf), tf)
    return to_ms(timezone.now()) >= next_close


def queue_watched_symbols() -> list[int]:
    """Queue a sync for every enabled watched series of an active symbol that has none
    pending or running and a candle that can have closed since its last stored one."""
    queued = []
    for watched in selectors.watched_symbols_due():
        if not new_candle_may_have_closed(watched.last_stored, watched.timeframe):
            continue
        try:
            run = queue_watched_sync(watched, trigger=SyncRun.Trigger.SCHEDULE)
        except InvalidParameter as exc:
            logger.warning("watched symbol %s not queued: %s", watched, exc)
            continue
        if run is not None:
            queued.append(run.pk)
    return queued
