"""Replay runs: create, queue, cancel and execute them; the one service the API, the
CLI and the worker share.

A run replays a set of the owner's transactions (filtered by symbol, time range and
optionally ids) against one timeframe's candles under one fill model. Executing it is
claim, read, match, write, complete, as for backtests (backtest.execution): progress
is saved with a write that only succeeds while the run is "running", which is also
the cancellation check and the heartbeat the reaper watches; the executions, the
`is_replayed` marks and the completion are committed together or not at all, so a
cancelled or failed run keeps nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from audit.events import record_event
from audit.models import SecurityAction
from backtest.models import ACTIVE_STATUSES, Backtest, RunStatus
from backtest.services import (
    CANCELLED_MESSAGE,
    UNSENT_ERROR,
    InvalidBacktestInput,
    NotAllowed,
)
from backtest.validators import Problem
from central.locks import exclusive_job
from central.run_progress import (
    Cancelled,
    ProgressReporter,
    TimeLimitExceeded,
    current_traceback,
    fail_where,
)
from marketdata.models import DEFAULT_SOURCE
from marketdata.services import InvalidParameter, check_source, check_timeframe, normalise_symbol
from replay.backtest_comparison import (
    backtest_period,
    compare_with_backtest,
    default_tolerance_seconds,
)
from replay.models import FillModel, ReplayRun, TransactionHistory
from replay.progress import publish_replay_progress, replay_message
from replay.replaying import (
    MarketWindow,
    candle_span_us,
    load_fills,
    replay_symbol,
    store,
    summarise,
)
from replay.selectors import can_run_replays, own_transactions

logger = logging.getLogger(__name__)

_RUN_LOCK_NAMESPACE = 0x52504C59  # "RPLY"
# Where each phase ends on the progress bar (percent).
_LOADED, _MATCHED, _POSITIONS, _WRITTEN = 5.0, 50.0, 55.0, 98.0
_LISTED_IDS = 10  # unknown transaction ids named in an error, at most
INTERNAL_ERROR = (
    "an internal error stopped the replay (logged for operators as replay {id}); "
    "try again, or ask an operator if it keeps failing"
)


class InvalidReplayInput(InvalidBacktestInput):
    """The replay request is wrong; `problems` lists every (parameter, message)."""


@dataclass
class ReplayRequest:
    """Which of the owner's transactions to replay, and against what.

    `start` is inclusive and `end` exclusive (transaction times); `transaction_ids`
    narrows the selection to those transactions, which must all be the owner's.
    """

    symbol: str | None = None
    timeframe: str = "1m"
    fill_model: str = FillModel.CLOSE
    start: datetime | None = None
    end: datetime | None = None
    transaction_ids: list[int] | None = None
    source: str = DEFAULT_SOURCE
    name: str = ""
    # Set by submit_backtest_replay: the summary then compares the fills with it.
    backtest: Backtest | None = None
    tolerance_seconds: float | None = None


# --- Creating and queueing --------------------------------------------------------------


def create_replay(
    owner: AbstractBaseUser, request: ReplayRequest, http_request: HttpRequest | None = None
) -> ReplayRun:
    """A pending run, checked (every problem at once, nothing written if any), not yet
    queued. Records a REPLAY_LAUNCHED security event (with the client's address when
    `http_request` is given)."""
    if not can_run_replays(owner):
        raise NotAllowed("You need the 'add replay run' permission to replay transactions.")
    symbol, timeframe, source = _checked(owner, request)
    selected = selected_transactions(
        owner, symbol, request.start, request.end, request.transaction_ids
    )
    count = selected.count()
    if count == 0:
        raise InvalidReplayInput.single(*_nothing_selected(request, symbol))
    parameters: dict = {"source": source}
    if request.transaction_ids is not None:
        parameters["transaction_ids"] = sorted(set(request.transaction_ids))
    if request.backtest is not None:
        parameters["tolerance_seconds"] = request.tolerance_seconds
    with transaction.atomic():
        run = ReplayRun.objects.create(
            owner=owner,
            backtest=request.backtest,
            name=request.name,
            symbol=symbol or "",
            timeframe=timeframe,
            fill_model=request.fill_model,
            start_time=request.start,
            end_time=request.end,
            parameters=parameters,
            transaction_count=count,
        )
        record_event(
            SecurityAction.REPLAY_LAUNCHED,
            actor=owner,
            target=run,
            request=http_request,
            detail={
                "symbol": run.symbol or None,
                "timeframe": timeframe,
                "fill_model": run.fill_model,
                "transactions": count,
            },
        )
    return run


def _checked(owner: AbstractBaseUser, request: ReplayRequest) -> tuple[str | None, str, str]:
    problems: list[Problem] = []
    symbol = None

    def check(checker, value):
        try:
            return checker(value)
        except InvalidParameter as exc:
            problems.append(Problem(exc.parameter, str(exc).split(": ", 1)[1]))
            return value

    if request.symbol:
        symbol = check(normalise_symbol, request.symbol)
    timeframe = check(check_timeframe, request.timeframe)
    source = check(check_source, request.source)
    if request.fill_model not in FillModel.values:
        known = ", ".join(FillModel.values)
        problems.append(Problem("fill", f"unknown fill model {request.fill_model!r}; use {known}"))
    if request.start and request.end and request.start >= request.end:
        problems.append(Problem("end", "must be after start"))
    if request.transaction_ids is not None:
        problems += _foreign_ids(owner, request.transaction_ids)
    if problems:
        raise InvalidReplayInput(problems)
    return symbol, timeframe, source


def _foreign_ids(owner: AbstractBaseUser, transaction_ids: list[int]) -> list[Problem]:
    """Ids that are not the owner's transactions (others' are named like ids that do
    not exist: whether another user's transaction exists is not revealed)."""
    if not transaction_ids:
        return [Problem("transaction_ids", "give at least one id, or leave it out")]
    wanted = set(transaction_ids)
    owned = set(own_transactions(owner).filter(pk__in=wanted).values_list("pk", flat=True))
    foreign = sorted(wanted - owned)
    if not foreign:
        return []
    listed = ", ".join(f"#{pk}" for pk in foreign[:_LISTED_IDS])
    more = f" and {len(foreign) - _LISTED_IDS} more" if len(foreign) > _LISTED_IDS else ""
    return [Problem("transaction_ids", f"not transactions of yours: {listed}{more}")]


def selected_transactions(
    owner: AbstractBaseUser,
    symbol: str | None,
    start: datetime | None,
    end: datetime | None,
    transaction_ids: list[int] | None,
) -> QuerySet[TransactionHistory]:
    """The owner's transactions a run with these filters replays."""
    selected = own_transactions(owner)
    if symbol:
        selected = selected.filter(symbol=symbol)
    if start:
        selected = selected.filter(transaction_time__gte=start)
    if end:
        selected = selected.filter(transaction_time__lt=end)
    if transaction_ids is not None:
        selected = selected.filter(pk__in=transaction_ids)
    return selected


def run_transactions(run: ReplayRun) -> QuerySet[TransactionHistory]:
    return selected_transactions(
        run.owner,
        run.symbol or None,
        run.start_time,
        run.end_time,
        run.parameters.get("transaction_ids"),
    )


def _nothing_selected(request: ReplayRequest, symbol: str | None) -> tuple[str | None, str]:
    """(parameter, message) when no transaction matches, naming the narrowest filter."""
    where = []
    if symbol:
        where.append(f"in {symbol}")
    if request.start:
        where.append(f"from {request.start.isoformat()}")
    if request.end:
        where.append(f"before {request.end.isoformat()}")
    if request.transaction_ids:
        where.append("among the given ids")
    if not where:
        return None, "you have no transactions to replay; import some first"
    parameter = next(
        name
        for name, given in (
            ("symbol", symbol),
            ("start", request.start),
            ("end", request.end),
            ("transaction_ids", True),
        )
        if given
    )
    return parameter, f"you have no transactions {' '.join(where)}"


def submit_replay(
    owner: AbstractBaseUser, request: ReplayRequest, http_request: HttpRequest | None = None
) -> ReplayRun:
    """Create a run and queue it for a worker."""
    with transaction.atomic():
        run = create_replay(owner, request, http_request)
        enqueue_replay(run)
    return run


def replay_transaction(
    owner: AbstractBaseUser,
    transaction_row: TransactionHistory,
    *,
    timeframe: str = "1m",
    fill_model: str = FillModel.CLOSE,
    source: str = DEFAULT_SOURCE,
    http_request: HttpRequest | None = None,
) -> ReplayRun:
    """Queue a run of one of the owner's own transactions."""
    if transaction_row.owner_id != owner.pk:
        raise NotAllowed("Only a transaction's owner may replay it.")
    return submit_replay(
        owner,
        ReplayRequest(
            symbol=transaction_row.symbol,
            timeframe=timeframe,
            fill_model=fill_model,
            source=source,
            transaction_ids=[transaction_row.pk],
            name=f"transaction {transaction_row.transaction_id}",
        ),
        http_request,
    )


MAX_TOLERANCE_SECONDS = 7 * 86_400


def submit_backtest_replay(
    owner: AbstractBaseUser,
    backtest: Backtest,
    *,
    fill_model: str = FillModel.CLOSE,
    timeframe: str | None = None,
    tolerance_seconds: float | None = None,
    http_request: HttpRequest | None = None,
) -> ReplayRun:
    """Queue a replay of the owner's fills of the backtest's symbol over its period, whose
    summary gains a "comparison" with the backtest's signals. The backtest must have
    completed (its period is the candles it ran on)."""
    if backtest.status != RunStatus.COMPLETED or "data_start" not in backtest.metadata:
        raise InvalidReplayInput.single(
            None, f"backtest #{backtest.pk} has not completed ({backtest.status})"
        )
    if tolerance_seconds is None:
        tolerance_seconds = default_tolerance_seconds(backtest)
    if not 0 <= tolerance_seconds <= MAX_TOLERANCE_SECONDS:
        raise InvalidReplayInput.single(
            "tolerance_seconds", f"must be between 0 and {MAX_TOLERANCE_SECONDS}"
        )
    start, end = backtest_period(backtest)
    return submit_replay(
        owner,
        ReplayRequest(
            symbol=backtest.symbol,
            timeframe=timeframe or backtest.timeframe,
            fill_model=fill_model,
            start=start,
            end=end,
            source=backtest.source,
            name=f"against backtest #{backtest.pk}",
            backtest=backtest,
            tolerance_seconds=tolerance_seconds,
        ),
        http_request,
    )


def enqueue_replay(run: ReplayRun) -> None:
    """Mark queued and send the task once the transaction commits (so the worker finds
    the row)."""
    run.status = RunStatus.QUEUED
    run.save(update_fields=("status",))
    transaction.on_commit(lambda: _send(run.pk))


def _send(run_id: int) -> None:
    """Hand the run to the broker; if it cannot be reached the run fails at once with
    a message, instead of waiting "queued" for a task that was never sent."""
    from replay.replay_tasks import run_replay

    try:
        task_id = run_replay.delay(run_id).id
    except Exception:
        logger.exception("could not queue replay %s", run_id)
        ReplayRun.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.FAILED, error=UNSENT_ERROR, finished_at=timezone.now()
        )
        run = ReplayRun.objects.filter(pk=run_id).first()
        if run is not None:
            publish_replay_progress(run)
        return
    ReplayRun.objects.filter(pk=run_id).update(task_id=task_id)


def cancel_replay(
    run: ReplayRun,
    actor: AbstractBaseUser | None = None,
    request: HttpRequest | None = None,
) -> bool:
    """Cancel a pending, queued or running replay; False if it had already finished.

    A running one stops at its next progress report and keeps nothing. `actor` (who
    asked) goes into the security trail as REPLAY_CANCELLED.
    """
    from central.celery import app

    now = timezone.now()
    with transaction.atomic():
        locked = (
            ReplayRun.objects.select_for_update()
            .filter(pk=run.pk, status__in=ACTIVE_STATUSES)
            .first()
        )
        if locked is not None:
            ReplayRun.objects.filter(pk=run.pk).update(
                status=RunStatus.CANCELLED, finished_at=now, error=CANCELLED_MESSAGE
            )
    run.refresh_from_db()
    if locked is None:
        return False
    if run.task_id:
        try:
            app.control.revoke([run.task_id])
        except Exception:
            # Cancelled all the same: a worker that gets the task finds it so.
            logger.warning("could not revoke the task of replay %s", run.pk, exc_info=True)
    publish_replay_progress(run)
    record_event(SecurityAction.REPLAY_CANCELLED, actor=actor, target=run, request=request)
    return True


# --- Executing ------------------------------------------------------------------------


def execute_replay(run_id: int) -> dict:
    """Run a pending or queued replay to the end; return its progress message.

    Every failure marks the run failed with a message and is not raised: repeating the
    run would only repeat it. A run that is finished, missing or being worked on by
    another process is left alone.
    """
    with exclusive_job(_RUN_LOCK_NAMESPACE, run_id) as acquired:
        run = _claim(run_id) if acquired else None
        if run is None:
            return _state(run_id)
        reporter = ProgressReporter(
            run, settings.BACKTEST_TIME_LIMIT_SECONDS, publish_replay_progress
        )
        try:
            _run(run, reporter)
        except Cancelled:
            logger.info("replay %s stopped: no longer running", run_id)
        except (InvalidBacktestInput, TimeLimitExceeded) as exc:
            _fail(run, str(exc))
        except Exception:
            # The user sees no internals (a database error names tables and values).
            logger.exception("replay %s failed", run_id)
            _fail(run, INTERNAL_ERROR.format(id=run_id), current_traceback())
        return _state(run_id)


def _claim(run_id: int) -> ReplayRun | None:
    with transaction.atomic():
        run = (
            ReplayRun.objects.select_for_update().select_related("owner").filter(pk=run_id).first()
        )
        if run is None or run.status not in ACTIVE_STATUSES:
            return None
        now = timezone.now()
        run.status = RunStatus.RUNNING
        run.started_at = run.heartbeat_at = now
        run.progress = 0.0
        run.error = run.traceback = ""
        run.save(
            update_fields=("status", "started_at", "heartbeat_at", "progress", "error", "traceback")
        )
    publish_replay_progress(run)
    return run


def _run(run: ReplayRun, report: ProgressReporter) -> None:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    fills = load_fills(run_transactions(run))
    count = sum(len(symbol_fills) for symbol_fills in fills.values())
    if count == 0:
        raise InvalidReplayInput.single(
            None, "none of the transactions this run selects exist any more"
        )
    timings["load_transactions"] = time.perf_counter() - clock
    report(_LOADED)

    clock = time.perf_counter()
    window = MarketWindow(
        timeframe=run.timeframe,
        source=run.parameters.get("source", DEFAULT_SOURCE),
        fill_model=run.fill_model,
        mark_us=_mark_us(run, fills),
    )
    replays, matched = [], 0
    for symbol, symbol_fills in fills.items():
        replays.append(replay_symbol(symbol, symbol_fills, window))
        matched += len(symbol_fills)
        report(_LOADED + (_MATCHED - _LOADED) * matched / count)
    summary = summarise(replays, window)
    if run.backtest is not None:
        symbol = run.backtest.symbol
        summary["comparison"] = compare_with_backtest(
            run.backtest,
            fills.get(symbol),
            run.parameters["tolerance_seconds"],
            summary["symbols"].get(symbol, {}).get("real"),
        )
    timings["match"] = time.perf_counter() - clock
    report(_POSITIONS)

    with transaction.atomic():
        timings |= store(
            run.pk,
            replays,
            run.timeframe,
            progress=lambda sent: report.while_writing(
                _POSITIONS + (_WRITTEN - _POSITIONS) * sent / count
            ),
        )
        summary["timings"] = {name: round(seconds, 4) for name, seconds in timings.items()}
        finished = ReplayRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.COMPLETED,
            progress=100.0,
            summary=summary,
            transaction_count=count,
            finished_at=timezone.now(),
        )
        if not finished:
            raise Cancelled  # rolls the results back: a cancelled run keeps nothing
    run.refresh_from_db()
    publish_replay_progress(run)


def _mark_us(run: ReplayRun, fills: dict) -> int:
    """When open positions are valued: the run's end, else one timeframe after its
    last transaction (the close of the candle containing it)."""
    if run.end_time is not None:
        return int(run.end_time.timestamp() * 1_000_000)
    last = max(int(symbol_fills.time[-1]) for symbol_fills in fills.values())
    return last + candle_span_us(run.timeframe)


def _fail(run: ReplayRun, message: str, traceback: str = "") -> None:
    updated = ReplayRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED,
        error=message or "failed without a message",
        traceback=traceback,
        finished_at=timezone.now(),
    )
    if updated:
        run.refresh_from_db()
        publish_replay_progress(run)


def _state(run_id: int) -> dict:
    run = ReplayRun.objects.filter(pk=run_id).first()
    return replay_message(run) if run else {"id": run_id, "status": "missing"}


def reap_stale_replays(stale_after: timedelta | None = None) -> list[int]:
    """Fail runs whose worker stopped reporting (killed, or its machine lost), and runs
    created but never started for as long (a command killed before it began). Replays
    share the backtests' threshold, BACKTEST_STALE_AFTER_SECONDS."""
    stale_after = stale_after or timedelta(seconds=settings.BACKTEST_STALE_AFTER_SECONDS)
    cutoff = timezone.now() - stale_after
    seconds = f"{stale_after.total_seconds():g} s"
    reaped = fail_where(
        ReplayRun,
        Q(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff),
        f"the worker running it stopped reporting for over {seconds}",
        publish_replay_progress,
    )
    reaped += fail_where(
        ReplayRun,
        Q(status=RunStatus.PENDING, created_at__lt=cutoff),
        f"it was created but not started within {seconds}",
        publish_replay_progress,
    )
    return reaped
