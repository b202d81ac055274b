"""Paper trading: a strategy run forward on closed live candles.

A session is checked and snapshotted exactly as a backtest request is
(`services.prepare_run`), minus the data range: it starts from the stored history's
last `window_length` candles (the warm-up, which only feeds the indicators) and then
trades each candle closed after them through `engine.stepper.BarStepper`, which shares
the simulator's per-bar loop: decisions on closed bars, fills at the next open, fees,
slippage, stops, sizing and the risk limits are the backtest's own.

Between two candles the stepper's state lives in `PaperSession.state`; the candles stay
in the candle store. Every closed candle the stream stores queues
`advance_sessions_for(symbol, timeframe)` (through `schedule_advance`); advancing a
session locks its row, reads the stored candles after its `last_timestamp` in bounded
batches and steps each, so a task that runs twice, late or concurrently with another
steps every candle exactly once, and candles missed while no task ran (a backfill after
a reconnect) are caught up by the next one.

Risk: the kill-switch drawdown (or an operator's kill switch) closes the position and
halts the session at once; the max-drawdown breaker blocks new entries for good, so the
session is halted as soon as it is flat (an open position still runs its exits, as in a
backtest). The daily loss limit only pauses entries for the rest of the UTC day.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import User, accessible
from audit.events import record_event
from audit.models import SecurityAction
from backtest import paper_progress, validators
from backtest.engine.metrics import compute_metrics
from backtest.engine.rules import InvalidStrategy
from backtest.engine.stepper import (
    Bar,
    BarMarked,
    BarStepper,
    Event,
    NotIncremental,
    TradeClosed,
    TradingHalted,
)
from backtest.engine.types import ENTRY_REASONS, EXIT_REASONS, Bars, TradeLog
from backtest.models import PaperSession, PaperStatus, PaperTrade
from backtest.services import BacktestRequest, InvalidBacktestInput, NotAllowed, prepare_run
from marketdata.models import DEFAULT_SOURCE, CandleSeries
from marketdata.selectors import OHLCV, candle_arrays, find_series
from marketdata.timeframes import get_timeframe

logger = logging.getLogger(__name__)

# Candles stepped per transaction: a session far behind (a worker down for a day of 1m
# candles) catches up in several short transactions rather than one long lock.
ADVANCE_BATCH = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HALTING = ("kill_switch", "max_drawdown")


class PaperSessionError(RuntimeError):
    """A session could not be advanced (its candles or state are inconsistent)."""


# --- Permissions and reads ------------------------------------------------------------


def can_start_sessions(user: User) -> bool:
    return user.is_authenticated and user.has_perm("backtest.add_papersession")


def can_kill_sessions(user: User) -> bool:
    return user.is_authenticated and user.has_perm("backtest.kill_papersession")


def visible_sessions(user: User) -> QuerySet[PaperSession]:
    """The user's own sessions; every session for holders of view_papersession."""
    return accessible(user, PaperSession, "view").select_related("owner", "killed_by")


def manageable_sessions(user: User) -> QuerySet[PaperSession]:
    """Sessions the user may stop: their own; all for holders of change_papersession."""
    return accessible(user, PaperSession, "change")


# --- Time and bars --------------------------------------------------------------------


def _to_datetime(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(microseconds))


def _to_microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _series(session: PaperSession) -> CandleSeries:
    series = find_series(session.symbol, session.timeframe, session.source)
    if series is None:
        raise PaperSessionError(f"no {session.symbol} {session.timeframe} candles are stored")
    return series


def _bars_ending_at(series: CandleSeries, last: datetime | None, count: int) -> Bars:
    """The `count` stored candles up to and including `last` (all stored when None)."""
    candles = series.candles.order_by("-timestamp")
    if last is not None:
        candles = candles.filter(timestamp__lte=last)
    first = candles.values_list("timestamp", flat=True)[count - 1 : count].first()
    end = last + timedelta(microseconds=1) if last is not None else None
    return Bars.from_arrays(candle_arrays(series, first, end, OHLCV))


def _bars_after(series: CandleSeries, last: datetime, limit: int) -> Bars:
    """At most `limit` stored candles after `last`, oldest first."""
    later = series.candles.filter(timestamp__gt=last).order_by("timestamp")
    end = later.values_list("timestamp", flat=True)[limit : limit + 1].first()
    return Bars.from_arrays(candle_arrays(series, last + timedelta(microseconds=1), end, OHLCV))


def _config(session: PaperSession):
    return validators.build_engine_config(
        session.parameters, get_timeframe(session.timeframe).periods_per_year
    )


def _stepper(session: PaperSession, series: CandleSeries) -> BarStepper:
    snapshot = session.strategy_snapshot
    config = _config(session)
    probe = BarStepper(
        snapshot["entry_rules"],
        snapshot["exit_rules"],
        session.parameters.get("parameters", {}),
        config,
        Bars.from_arrays({name: np.empty(0) for name in ("timestamp", *OHLCV)}),
    )
    history = _bars_ending_at(series, session.last_timestamp, probe.window_length)
    return BarStepper.from_state(
        session.state,
        snapshot["entry_rules"],
        snapshot["exit_rules"],
        session.parameters.get("parameters", {}),
        config,
        history,
    )


# --- Starting -------------------------------------------------------------------------


def start_session(owner: AbstractBaseUser, request: BacktestRequest) -> PaperSession:
    """A running session, checked like a backtest request (every problem at once) and
    warmed up on the last stored candles; nothing is written if anything is wrong."""
    if not can_start_sessions(owner):
        raise NotAllowed("You need the 'add paper session' permission to start paper sessions.")
    if request.start is not None or request.end is not None:
        raise InvalidBacktestInput.single(
            "start", "a paper session has no data range: it trades candles as they close"
        )
    prepared = prepare_run(request)
    snapshot, run_parameters = prepared.snapshot, prepared.run_parameters
    config = validators.build_engine_config(
        run_parameters, get_timeframe(prepared.timeframe).periods_per_year
    )
    empty = Bars.from_arrays({name: np.empty(0) for name in ("timestamp", *OHLCV)})
    try:
        probe = BarStepper(
            snapshot["entry_rules"],
            snapshot["exit_rules"],
            run_parameters.get("parameters", {}),
            config,
            empty,
        )
    except (NotIncremental, InvalidStrategy) as exc:
        raise InvalidBacktestInput.single("strategy", str(exc)) from None
    series = find_series(prepared.symbol, prepared.timeframe, prepared.source)
    warm_up = _bars_ending_at(series, None, probe.window_length)
    stepper = BarStepper(
        snapshot["entry_rules"],
        snapshot["exit_rules"],
        run_parameters.get("parameters", {}),
        config,
        warm_up,
    )
    now = timezone.now()
    with transaction.atomic():
        session = PaperSession.objects.create(
            owner=owner,
            strategy=request.strategy,
            strategy_snapshot=snapshot,
            symbol=prepared.symbol,
            timeframe=prepared.timeframe,
            source=prepared.source,
            parameters=run_parameters,
            initial_balance=run_parameters["cash"],
            equity=Decimal(repr(float(run_parameters["cash"]))),
            status=PaperStatus.RUNNING,
            state=stepper.to_state(),
            warm_up_bars=len(warm_up),
            last_timestamp=_to_datetime(int(warm_up.timestamp[-1])),
            started_at=now,
        )
        record_event(
            SecurityAction.PAPER_SESSION_STARTED,
            actor=owner,
            target=session,
            detail={"symbol": session.symbol, "timeframe": session.timeframe},
        )
    return session


# --- Advancing ------------------------------------------------------------------------


def advance_session(session: PaperSession | int, batch: int = ADVANCE_BATCH) -> int:
    """Step a running session over at most `batch` stored candles after its last one;
    returns how many were stepped (0: caught up, or not running). Row-locked: two
    callers never step the same candle."""
    session_id = session if isinstance(session, int) else session.pk
    with transaction.atomic():
        locked = PaperSession.objects.select_for_update().filter(pk=session_id).first()
        if locked is None or locked.status != PaperStatus.RUNNING:
            return 0
        series = _series(locked)
        bars = _bars_after(series, locked.last_timestamp, batch)
        if len(bars) == 0:
            return 0
        stepper = _stepper(locked, series)
        events: list[Event] = []
        stepped = 0
        for index in range(len(bars)):
            bar = Bar(*(getattr(bars, name)[index] for name in Bar._fields))
            events += stepper.step(bar)
            stepped += 1
            if _halt_reason(stepper):
                break
        _save(locked, stepper, events)
    paper_progress.publish_paper_session(locked, sum(isinstance(e, TradeClosed) for e in events))
    if not isinstance(session, int):
        session.refresh_from_db()
    return stepped


def _halt_reason(stepper: BarStepper) -> str:
    """Why the session must stop trading for good ("" if it must not)."""
    state = stepper.to_state()
    if state["breakers"]["kill_switch"]:
        return "kill_switch"
    if state["breakers"]["max_drawdown"] and stepper.position == 0.0:
        return "max_drawdown"
    return ""


def _save(session: PaperSession, stepper: BarStepper, events: list[Event]) -> None:
    """Store a step's events, state and status (inside the caller's transaction)."""
    trades = [_trade(session, event) for event in events if isinstance(event, TradeClosed)]
    PaperTrade.objects.bulk_create(trades)
    marks = [event for event in events if isinstance(event, BarMarked)]
    session.equity_points = [
        *session.equity_points,
        *([m.time, m.equity, m.drawdown, m.exposure] for m in marks),
    ]
    session.bars_stepped += len(marks)
    session.state = stepper.to_state()
    session.last_timestamp = _to_datetime(stepper.last_timestamp)
    session.equity = Decimal(repr(stepper.equity))
    session.metrics = session_metrics(session)
    halts = [event.limit for event in events if isinstance(event, TradingHalted)]
    reason = _halt_reason(stepper)
    if reason:
        session.status = PaperStatus.HALTED
        session.halted_reason = reason
        session.stopped_at = session.stopped_at or timezone.now()
    elif halts:
        session.halted_reason = halts[-1]  # daily loss limit, or drawdown with a position
    session.save()


def session_metrics(session: PaperSession) -> dict[str, float | int | None]:
    """A backtest's summary metrics (`engine.metrics.compute_metrics`, the same code)
    over the bars the session has traded (its equity points; the warm-up only fed the
    indicators) and its closed trades; an open position counts only through the equity.
    Called inside `_save`'s transaction, so the trades just created are included."""
    points = session.equity_points
    times = np.array([point[0] for point in points], dtype=np.int64)
    equity = np.array([point[1] for point in points], dtype=np.float64)
    closes = np.empty(0)
    if len(times):
        stored = candle_arrays(
            _series(session),
            _to_datetime(int(times[0])),
            _to_datetime(int(times[-1])) + timedelta(microseconds=1),
            ("close",),
        )
        index = np.searchsorted(stored["timestamp"], times)
        if index.max() >= len(stored["timestamp"]) or (stored["timestamp"][index] != times).any():
            raise PaperSessionError(
                f"a candle of {session.symbol} {session.timeframe} the session traded is "
                "no longer stored"
            )
        closes = stored["close"][index]
    bars = Bars.from_arrays(
        {"timestamp": times, "close": closes, **{n: closes for n in ("open", "high", "low")}}
        | {"volume": np.zeros(len(times))}
    )
    rows = list(
        session.trades.order_by("exit_time", "pk").values_list(
            "entry_time", "exit_time", "side", "quantity", "entry_price", "exit_price",
            "pnl", "pnl_percentage", "fees", "entry_reason", "exit_reason",
        )
    )  # fmt: skip

    def column(position: int, dtype: type = np.float64) -> np.ndarray:
        return np.array([float(row[position]) for row in rows], dtype=dtype)

    def bar_index(position: int) -> np.ndarray:
        moments = np.array([_to_microseconds(row[position]) for row in rows], dtype=np.int64)
        return np.clip(np.searchsorted(times, moments), 0, max(len(times) - 1, 0))

    def reason(position: int, names: tuple[str, ...]) -> np.ndarray:
        return np.array(
            [names.index(row[position]) if row[position] in names else 0 for row in rows],
            dtype=np.int8,
        )

    trades = TradeLog(
        entry_index=bar_index(0),
        exit_index=bar_index(1),
        side=np.array([1 if row[2] == "long" else -1 for row in rows], dtype=np.int8),
        quantity=column(3),
        entry_price=column(4),
        exit_price=column(5),
        pnl=column(6),
        pnl_percentage=column(7),
        fees=column(8),
        entry_reason=reason(9, ENTRY_REASONS),
        exit_reason=reason(10, EXIT_REASONS),
    )
    return compute_metrics(bars, trades, equity, _config(session))


def _trade(session: PaperSession, event: TradeClosed) -> PaperTrade:
    return PaperTrade(
        session=session,
        entry_time=_to_datetime(event.entry_time),
        entry_price=Decimal(repr(event.entry_price)),
        exit_time=_to_datetime(event.exit_time),
        exit_price=Decimal(repr(event.exit_price)),
        quantity=Decimal(repr(event.quantity)),
        side=event.side,
        pnl=Decimal(repr(event.pnl)),
        pnl_percentage=Decimal(repr(event.pnl_percentage)),
        fees=Decimal(repr(event.fees)),
        entry_reason=event.entry_reason,
        exit_reason=event.exit_reason,
    )


def advance_sessions_for(symbol: str, timeframe: str, source: str = DEFAULT_SOURCE) -> dict:
    """Catch every running session of a series up with the stored candles; a session
    whose stepping fails is marked failed (logged) without stopping the others."""
    stepped: dict[int, int] = {}
    ids = PaperSession.objects.filter(
        symbol=symbol, timeframe=timeframe, source=source, status=PaperStatus.RUNNING
    ).values_list("pk", flat=True)
    for session_id in ids:
        total = 0
        try:
            while (count := advance_session(session_id)) > 0:
                total += count
        except Exception as exc:
            logger.exception("paper session %s failed", session_id)
            _fail(session_id, exc)
        stepped[session_id] = total
    return {"symbol": symbol, "timeframe": timeframe, "stepped": stepped}


def _fail(session_id: int, exc: Exception) -> None:
    message = str(exc) if isinstance(exc, PaperSessionError | ValueError) else ""
    PaperSession.objects.filter(pk=session_id, status=PaperStatus.RUNNING).update(
        status=PaperStatus.FAILED,
        error=message or f"an internal error stopped the session (logged as session {session_id})",
        stopped_at=timezone.now(),
    )
    paper_progress.publish_paper_session(PaperSession.objects.get(pk=session_id))


def schedule_advance(symbol: str, timeframe: str, source: str = DEFAULT_SOURCE) -> None:
    """After the current transaction commits, queue the advance of the series' running
    sessions (none running: nothing is sent). Called by the stream for each closed
    candle it stores; a broker that cannot be reached is logged, not raised, so the
    stream keeps storing (the next candle's task catches up)."""
    running = PaperSession.objects.filter(
        symbol=symbol, timeframe=timeframe, source=source, status=PaperStatus.RUNNING
    )
    if not running.exists():
        return

    def send() -> None:
        from backtest.tasks import advance_paper_sessions

        try:
            advance_paper_sessions.delay(symbol, timeframe, source)
        except Exception:
            logger.exception("could not queue paper sessions of %s %s", symbol, timeframe)

    transaction.on_commit(send)


# --- Stopping and the kill switch ------------------------------------------------------


def stop_session(session: PaperSession, actor: AbstractBaseUser | None = None) -> bool:
    """Stop stepping a running session (its open position, if any, stays as it was);
    False if it was not running."""
    with transaction.atomic():
        updated = PaperSession.objects.filter(pk=session.pk, status=PaperStatus.RUNNING).update(
            status=PaperStatus.STOPPED, stopped_at=timezone.now()
        )
        if updated:
            record_event(SecurityAction.PAPER_SESSION_STOPPED, actor=actor, target=session)
    session.refresh_from_db()
    if updated:
        paper_progress.publish_paper_session(session)
    return bool(updated)


def kill_session(
    session: PaperSession,
    actor: AbstractBaseUser,
    request: HttpRequest | None = None,
    *,
    kill_all: bool = False,
) -> bool:
    """The kill switch: close the position at the last close and halt for good
    (operators); audited. False if the session was not running."""
    if not can_kill_sessions(actor):
        raise NotAllowed("Only operators (kill_papersession) may use the kill switch.")
    with transaction.atomic():
        locked = PaperSession.objects.select_for_update().filter(pk=session.pk).first()
        if locked is None or locked.status != PaperStatus.RUNNING:
            return False
        stepper = _stepper(locked, _series(locked))
        events = stepper.kill()
        closed = [event for event in events if isinstance(event, TradeClosed)]
        locked.killed_by = actor
        _save(locked, stepper, events)
        record_event(
            SecurityAction.PAPER_SESSION_KILLED,
            actor=actor,
            target=locked,
            request=request,
            detail={
                "symbol": locked.symbol,
                "timeframe": locked.timeframe,
                "owner": locked.owner.get_username(),
                "closed_position": bool(closed),
                "kill_all": kill_all,
            },
        )
    session.refresh_from_db()
    paper_progress.publish_paper_session(session, len(closed))
    return True


def kill_all(actor: AbstractBaseUser, request: HttpRequest | None = None) -> list[int]:
    """The kill switch on every running session; the ids killed."""
    if not can_kill_sessions(actor):
        raise NotAllowed("Only operators (kill_papersession) may use the kill switch.")
    killed = []
    running = PaperSession.objects.filter(status=PaperStatus.RUNNING).order_by("pk")
    for session in running:
        if kill_session(session, actor, request, kill_all=True):
            killed.append(session.pk)
    return killed


def session_summary(session: PaperSession) -> dict[str, Any]:
    """What the state says about the session now: position, pending order, breakers."""
    state = session.state or {}
    return {
        "open_trade": state.get("open_trade"),
        "pending_order": state.get("pending_order"),
        "breakers": state.get("breakers", {}),
        "cash": state.get("cash"),
    }
