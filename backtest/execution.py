"""Running one backtest: claim it, load candles, run the engine, persist the results.

The same function serves the Celery task and the CLI. Progress is saved and published
at every engine chunk; that write doubles as the cancellation check (it only succeeds
while the run is still "running") and as the heartbeat the reaper watches, so a killed
worker's run is failed instead of left "running" forever.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backtest.engine.types import Bars
from backtest.models import ACTIVE_STATUSES, Backtest, RunStatus, Sweep
from backtest.persistence import save_results
from backtest.progress import publish_backtest_progress
from backtest.runner import TooFewBars, run_strategy
from backtest.services import InvalidBacktestInput, finish_sweep
from central.locks import exclusive_job, lock_for_transaction
from central.run_progress import (
    Cancelled,
    ProgressReporter,
    TimeLimitExceeded,
    current_traceback,
    fail_where,
)
from marketdata.selectors import OHLCV, candle_arrays, find_series
from marketdata.timeframes import get_timeframe

logger = logging.getLogger(__name__)

_RUN_LOCK_NAMESPACE = 0x42545354  # "BTST"
_USER_SLOT_NAMESPACE = 0x42545553  # "BTUS"
# Where each phase ends on the progress bar (percent). The engine reports every 2 % of
# its bars, so no step between two messages exceeds 2 points.
_LOADED, _SIGNALS_READY, _SIMULATED = 2.0, 4.0, 98.0


INTERNAL_ERROR = (
    "an internal error stopped the run (logged for operators as backtest {id}); "
    "try again, or ask an operator if it keeps failing"
)


class NoFreeSlot(Exception):
    """The owner already has their maximum of backtests running; try again later."""


def execute_backtest(backtest_id: int, *, respect_user_limit: bool = True) -> dict:
    """Run a queued backtest to the end; return its progress message.

    Raises NoFreeSlot (nothing changed) when the owner is at their concurrency limit.
    Every failure marks the run failed with a message and is not raised: repeating the
    run would only repeat it. A run that is finished, missing or being worked on by
    another process is left alone.
    """
    with exclusive_job(_RUN_LOCK_NAMESPACE, backtest_id) as acquired:
        backtest = _claim(backtest_id, respect_user_limit) if acquired else None
        if backtest is None:
            return _state(backtest_id)
        reporter = ProgressReporter(
            backtest, settings.BACKTEST_TIME_LIMIT_SECONDS, publish_backtest_progress
        )
        try:
            _run(backtest, reporter)
        except Cancelled:
            logger.info("backtest %s stopped: no longer running", backtest_id)
        except (InvalidBacktestInput, TooFewBars, TimeLimitExceeded) as exc:
            _fail(backtest, str(exc))
        except Exception:
            # The user sees no internals (a database error names tables and values).
            logger.exception("backtest %s failed", backtest_id)
            _fail(backtest, INTERNAL_ERROR.format(id=backtest_id), current_traceback())
        return _state(backtest_id)


def _claim(backtest_id: int, respect_user_limit: bool) -> Backtest | None:
    with transaction.atomic():
        backtest = Backtest.objects.select_for_update().filter(pk=backtest_id).first()
        if backtest is None or backtest.status not in ACTIVE_STATUSES:
            return None
        if respect_user_limit:
            lock_for_transaction(_USER_SLOT_NAMESPACE, backtest.owner_id)
            running = (
                Backtest.objects.filter(owner_id=backtest.owner_id, status=RunStatus.RUNNING)
                .exclude(pk=backtest.pk)
                .count()
            )
            if running >= settings.BACKTEST_MAX_RUNNING_PER_USER:
                raise NoFreeSlot
        now = timezone.now()
        backtest.status = RunStatus.RUNNING
        backtest.started_at = now
        backtest.heartbeat_at = now
        backtest.progress = 0.0
        backtest.error = backtest.traceback = ""
        backtest.save(
            update_fields=("status", "started_at", "heartbeat_at", "progress", "error", "traceback")
        )
        if backtest.sweep_id:
            Sweep.objects.filter(pk=backtest.sweep_id, status=RunStatus.QUEUED).update(
                status=RunStatus.RUNNING
            )
    publish_backtest_progress(backtest)
    return backtest


def _run(backtest: Backtest, report: ProgressReporter) -> None:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    bars = load_bars(backtest)
    timings["load"] = time.perf_counter() - clock
    report(_LOADED)

    clock = time.perf_counter()
    result = run_strategy(
        bars,
        backtest.strategy_snapshot,
        backtest.parameters,
        get_timeframe(backtest.timeframe).periods_per_year,
        progress=lambda done: report(_SIGNALS_READY + (_SIMULATED - _SIGNALS_READY) * done),
        heartbeat=report.heartbeat,
    )
    timings["compute"] = time.perf_counter() - clock

    clock = time.perf_counter()
    with transaction.atomic():
        save_results(backtest, result)
        timings["persist"] = time.perf_counter() - clock
        backtest.metadata = {**backtest.metadata, "timings": _rounded(timings)}
        finished = Backtest.objects.filter(pk=backtest.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.COMPLETED,
            progress=100.0,
            final_balance=backtest.final_balance,
            metadata=backtest.metadata,
            finished_at=timezone.now(),
        )
        if not finished:
            raise Cancelled  # rolls the results back: a cancelled run keeps nothing
    backtest.refresh_from_db()
    publish_backtest_progress(backtest)


def load_bars(backtest: Backtest) -> Bars:
    series = find_series(backtest.symbol, backtest.timeframe, backtest.source)
    if series is None:
        raise InvalidBacktestInput.single(
            "symbol", f"no {backtest.symbol} {backtest.timeframe} candles are stored"
        )
    bars = Bars.from_arrays(candle_arrays(series, backtest.start_time, backtest.end_time, OHLCV))
    if len(bars) == 0:
        raise InvalidBacktestInput.single(
            "start", f"no {backtest.symbol} {backtest.timeframe} candles in the requested range"
        )
    return bars


def _fail(backtest: Backtest, message: str, traceback: str = "") -> None:
    updated = Backtest.objects.filter(pk=backtest.pk, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED,
        error=message or "failed without a message",
        traceback=traceback,
        finished_at=timezone.now(),
    )
    if updated:
        backtest.refresh_from_db()
        publish_backtest_progress(backtest)


def _state(backtest_id: int) -> dict:
    from backtest.progress import backtest_message

    backtest = Backtest.objects.filter(pk=backtest_id).first()
    return backtest_message(backtest) if backtest else {"id": backtest_id, "status": "missing"}


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {name: round(seconds, 4) for name, seconds in timings.items()}


def reap_stale_backtests(stale_after: timedelta | None = None) -> list[int]:
    """Fail runs whose worker stopped reporting (killed, or its machine lost), and runs
    created but never started for as long (a command killed before it began); then
    close sweeps whose cells have all finished (their chord may have broken)."""
    stale_after = stale_after or timedelta(seconds=settings.BACKTEST_STALE_AFTER_SECONDS)
    cutoff = timezone.now() - stale_after
    seconds = f"{stale_after.total_seconds():g} s"
    reaped = fail_where(
        Backtest,
        Q(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff),
        f"the worker running it stopped reporting for over {seconds}",
        publish_backtest_progress,
    )
    reaped += fail_where(
        Backtest,
        Q(status=RunStatus.PENDING, created_at__lt=cutoff),
        f"it was created but not started within {seconds}",
        publish_backtest_progress,
    )
    closable = Sweep.objects.filter(status__in=ACTIVE_STATUSES).exclude(
        backtests__status__in=ACTIVE_STATUSES
    )
    for sweep_id in closable.values_list("pk", flat=True):
        finish_sweep(sweep_id)
    return reaped
