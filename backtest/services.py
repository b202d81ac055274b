"""Writes for strategies, backtests and sweeps, shared by the API, the admin and the CLI.

Every input is checked before anything is written: a bad strategy or request raises
`InvalidBacktestInput` with every problem at once (each names its JSON path), and the
database is left unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.roles import Role
from accounts.services import set_role
from accounts.sharing import GranteeType, Level, copy_shares, grant_owner_permissions, share
from audit.events import record_event
from audit.models import SecurityAction
from backtest import strategy_templates, validators
from backtest.models import ACTIVE_STATUSES, Backtest, RunStatus, Strategy, Sweep
from backtest.runner import TooFewBars, check_enough_bars
from backtest.selectors import (
    can_create_strategies,
    can_run_backtests,
    can_run_sweeps,
    visible_backtests,
)
from backtest.validators import Problem
from marketdata.selectors import candle_count, find_series
from marketdata.services import InvalidParameter, check_source, check_timeframe, normalise_symbol

logger = logging.getLogger(__name__)

CLI_USERNAME = "central-cli"
CANCELLED_MESSAGE = "cancelled by the user"
UNSENT_ERROR = "could not be queued: the task broker was unreachable; run it again later"
ENGINE_VERSION = "1"  # part of the reproducibility hash: bump when results would change
STRATEGY_FIELDS = ("name", "description", "config", "entry_rules", "exit_rules")


class InvalidBacktestInput(ValueError):
    """The request or strategy is wrong; `problems` lists every (path, message)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))

    @classmethod
    def single(cls, path: str, message: str) -> InvalidBacktestInput:
        return cls([Problem(path, message)])


class NotAllowed(PermissionError):
    pass


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        raise InvalidBacktestInput(problems)


def cli_user(username: str | None = None) -> AbstractBaseUser:
    """Who owns a run made from the command line: the named user, else a service account
    that holds the analyst permissions and cannot sign in (no usable password)."""
    user_model = get_user_model()
    if username:
        user = user_model.objects.filter(username=username).first()
        if user is None:
            raise InvalidBacktestInput.single("user", f"no user named {username!r}")
        return user
    user, created = user_model.objects.get_or_create(username=CLI_USERNAME)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        set_role(user, Role.ANALYST)
    return user


# --- Strategies ----------------------------------------------------------------------


def validate_strategy_definition(data: dict[str, Any]) -> list[Problem]:
    return validators.validate_strategy(
        data.get("entry_rules"), data.get("exit_rules") or {}, data.get("config") or {}
    )


def name_taken_problems(owner: AbstractBaseUser, name: str | None, strategy=None) -> list:
    """A problem on "name" when the owner already has another strategy of that name."""
    taken = Strategy.objects.filter(owner=owner, name=name)
    if strategy is not None:
        taken = taken.exclude(pk=strategy.pk)
    if name is None or not taken.exists():
        return []
    return [Problem("name", f"you already have a strategy named {name!r}")]


def create_strategy(owner: AbstractBaseUser, **data: Any) -> Strategy:
    """Every problem at once (the name and the rules); nothing is written if any."""
    if not can_create_strategies(owner):
        raise NotAllowed("You need the 'add strategy' permission to create strategies.")
    _raise_if(name_taken_problems(owner, data.get("name")) + validate_strategy_definition(data))
    return Strategy.objects.create(owner=owner, **data)


def update_strategy(strategy: Strategy, **changes: Any) -> Strategy:
    merged = {name: getattr(strategy, name) for name in STRATEGY_FIELDS}
    merged.update(changes)
    _raise_if(
        name_taken_problems(strategy.owner, changes.get("name"), strategy)
        + validate_strategy_definition(merged)
    )
    for name, value in changes.items():
        setattr(strategy, name, value)
    strategy.save()
    return strategy


def strategy_from_template(
    owner: AbstractBaseUser, template: str, params: dict | None = None, name: str | None = None
) -> Strategy:
    """A new, editable strategy copied from a template."""
    definition = _template_definition(template, params)
    return create_strategy(
        owner,
        name=name or definition["name"],
        description=definition.get("description", ""),
        config=definition["config"],
        entry_rules=definition["entry_rules"],
        exit_rules=definition["exit_rules"],
    )


def _template_definition(template: str, params: dict | None) -> dict:
    try:
        return strategy_templates.template_strategy(template, params)
    except (KeyError, ValueError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise InvalidBacktestInput.single("template", str(message)) from None


# --- Backtest requests ---------------------------------------------------------------


@dataclass
class BacktestRequest:
    """What to run: a strategy (saved, or a template with parameters) on a data range.

    `options` overrides the strategy's config for this run (direction, cash, fee,
    slippage, fill, sizing, risk); `parameters` overrides its rule parameters.
    """

    symbol: str
    timeframe: str
    strategy: Strategy | None = None
    template: str | None = None
    parameters: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    source: str = "binance"
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class PreparedRun:
    snapshot: dict  # name, entry_rules, exit_rules, config
    run_parameters: dict  # merged engine parameters, strategy parameters included
    symbol: str
    timeframe: str
    source: str
    bar_count: int  # candles in the requested range


def prepare_run(request: BacktestRequest, bar_count: int | None = None) -> PreparedRun:
    """Check a request completely (every problem at once) and resolve what will run.

    `bar_count` is how many candles the range holds, when the caller counted them
    already (a sweep counts once for all its cells).
    """
    problems: list[Problem] = []
    symbol, timeframe, source = _checked_series_names(
        request, problems, must_be_stored=bar_count is None
    )
    if (request.strategy is None) == (request.template is None):
        problems.append(Problem("strategy", "give exactly one of a strategy or a template"))
        raise InvalidBacktestInput(problems)
    if request.strategy is not None:
        if not request.strategy.is_active:
            problems.append(
                Problem("strategy", f"#{request.strategy.pk} is inactive; activate it to run it")
            )
        snapshot = {
            "name": request.strategy.name,
            "entry_rules": request.strategy.entry_rules,
            "exit_rules": request.strategy.exit_rules,
            "config": request.strategy.config,
        }
    else:
        snapshot = _template_definition(request.template, None)
        snapshot = {key: snapshot[key] for key in ("name", "entry_rules", "exit_rules", "config")}
    if request.start and request.end and request.start >= request.end:
        problems.append(Problem("end", "must be after start"))
    entry_rules, exit_rules = snapshot["entry_rules"], snapshot["exit_rules"]
    # A run's own overrides are checked under their own names first ("options.fee"),
    # then the merged whole as the engine will see it.
    run_problems = validators.validate_engine_options(request.options, "options")
    run_problems += validators.validate_parameters(
        request.parameters, entry_rules, exit_rules, "parameters"
    )
    problems += run_problems
    run_parameters: dict = {}
    if not run_problems:
        merged = validators.merge_run_parameters(
            snapshot["config"], request.options, request.parameters
        )
        problems += validators.validate_strategy(entry_rules, exit_rules, merged)
        if not problems:
            run_parameters = complete_run_parameters(merged)
    _raise_if(problems)
    if bar_count is None:
        bar_count = _count_bars(symbol, timeframe, source, request)
    prepared = PreparedRun(snapshot, run_parameters, symbol, timeframe, source, bar_count)
    try:
        check_enough_bars(bar_count, snapshot, run_parameters)
    except TooFewBars as exc:
        where = "start" if request.start or request.end else "parameters"
        raise InvalidBacktestInput.single(where, str(exc)) from None
    return prepared


def _count_bars(symbol: str, timeframe: str, source: str, request: BacktestRequest) -> int:
    series = find_series(symbol, timeframe, source)
    return candle_count(series, request.start, request.end) if series else 0


def complete_run_parameters(merged: dict) -> dict:
    """Every engine parameter spelled out (defaults included), so a run records exactly
    what it ran with and its hash does not change when a default does."""
    engine = dataclasses.asdict(validators.build_engine_config(merged, 365.0))
    del engine["periods_per_year"]  # follows from the timeframe
    return {"parameters": dict(merged.get("parameters") or {}), **engine}


def _checked_series_names(
    request: BacktestRequest, problems: list[Problem], must_be_stored: bool = True
) -> tuple[str, str, str]:
    names = []
    for checker, value in (
        (normalise_symbol, request.symbol),
        (check_timeframe, request.timeframe),
        (check_source, request.source),
    ):
        try:
            names.append(checker(value))
        except InvalidParameter as exc:
            problems.append(Problem(exc.parameter, str(exc).split(": ", 1)[1]))
            names.append(value)
    symbol, timeframe, source = names
    if must_be_stored and not problems and find_series(symbol, timeframe, source) is None:
        problems.append(
            Problem("symbol", f"no {symbol} {timeframe} candles are stored (source {source})")
        )
    return symbol, timeframe, source


def reproducibility_hash(
    prepared: PreparedRun, start: datetime | None, end: datetime | None
) -> str:
    """Same strategy rules, data range and parameters give the same hash."""
    payload = {
        "engine": ENGINE_VERSION,
        "entry_rules": prepared.snapshot["entry_rules"],
        "exit_rules": prepared.snapshot["exit_rules"],
        "parameters": prepared.run_parameters,
        "data": {
            "source": prepared.source,
            "symbol": prepared.symbol,
            "timeframe": prepared.timeframe,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
        },
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _backtest_row(
    owner: AbstractBaseUser, request: BacktestRequest, prepared: PreparedRun, **extra: Any
) -> Backtest:
    """An unsaved backtest for a checked request."""
    return Backtest(
        owner=owner,
        strategy=request.strategy,
        strategy_snapshot=prepared.snapshot,
        symbol=prepared.symbol,
        timeframe=prepared.timeframe,
        source=prepared.source,
        start_time=request.start,
        end_time=request.end,
        initial_balance=prepared.run_parameters["cash"],
        parameters=prepared.run_parameters,
        reproducibility_hash=reproducibility_hash(prepared, request.start, request.end),
        **extra,
    )


def create_backtest(owner: AbstractBaseUser, request: BacktestRequest) -> Backtest:
    """A pending backtest, checked and snapshotted, not yet queued."""
    if not can_run_backtests(owner):
        raise NotAllowed("You need the 'add backtest' permission to run backtests.")
    backtest = _backtest_row(owner, request, prepare_run(request))
    backtest.save()
    _record_launch(owner, backtest)
    return backtest


def _record_launch(actor: AbstractBaseUser, target: Backtest | Sweep, **detail: Any) -> None:
    record_event(
        SecurityAction.BACKTEST_LAUNCHED,
        actor=actor,
        target=target,
        detail={"symbol": target.symbol, "timeframe": target.timeframe, **detail},
    )


def submit_backtest(owner: AbstractBaseUser, request: BacktestRequest) -> Backtest:
    """Create a backtest and queue it for a worker."""
    with transaction.atomic():
        backtest = create_backtest(owner, request)
        enqueue_backtest(backtest)
    return backtest


def enqueue_backtest(backtest: Backtest) -> None:
    """Mark queued and send the task once the transaction commits (so the worker finds
    the row)."""
    from backtest.tasks import run_backtest

    backtest.status = RunStatus.QUEUED
    backtest.queued_at = timezone.now()
    backtest.save(update_fields=("status", "queued_at"))
    transaction.on_commit(lambda: _send(backtest.pk, run_backtest))


def _send(backtest_id: int, task) -> None:
    """Hand the run to the broker; if it cannot be reached the run fails at once with
    a message, instead of waiting "queued" for a task that was never sent."""
    try:
        task_id = task.delay(backtest_id).id
    except Exception:
        logger.exception("could not queue backtest %s", backtest_id)
        _fail_unsent(Backtest.objects.filter(pk=backtest_id))
        return
    Backtest.objects.filter(pk=backtest_id).update(task_id=task_id)


def _fail_unsent(backtests) -> None:
    from backtest.progress import publish_backtest_progress

    backtests.filter(status__in=ACTIVE_STATUSES).update(
        status=RunStatus.FAILED, error=UNSENT_ERROR, finished_at=timezone.now()
    )
    for backtest in backtests:
        publish_backtest_progress(backtest)


def cancel_backtest(
    backtest: Backtest,
    actor: AbstractBaseUser | None = None,
    request: HttpRequest | None = None,
) -> bool:
    """Cancel a pending, queued or running backtest; False if it had already finished.

    A running one stops at its next progress report (the worker sees the status) and
    keeps no partial trades. `actor` (who asked) goes into the audit trail.
    """
    cancelled = _cancel_runs(Backtest.objects.filter(pk=backtest.pk))
    backtest.refresh_from_db()
    if cancelled:
        record_event(
            SecurityAction.BACKTEST_CANCELLED, actor=actor, target=backtest, request=request
        )
    return bool(cancelled)


def _cancel_runs(runs: QuerySet[Backtest]) -> list[Backtest]:
    """Cancel the unfinished runs among `runs` in one update, revoke their tasks in one
    broadcast and tell their watchers; the runs cancelled here."""
    from backtest.progress import publish_backtest_progress
    from central.celery import app

    now = timezone.now()
    with transaction.atomic():
        cancelled = list(runs.select_for_update(of=("self",)).filter(status__in=ACTIVE_STATUSES))
        Backtest.objects.filter(pk__in=[run.pk for run in cancelled]).update(
            status=RunStatus.CANCELLED, finished_at=now, error=CANCELLED_MESSAGE
        )
    task_ids = [run.task_id for run in cancelled if run.task_id]
    if task_ids:
        app.control.revoke(task_ids)
    for run in cancelled:
        run.status, run.finished_at, run.error = RunStatus.CANCELLED, now, CANCELLED_MESSAGE
        publish_backtest_progress(run)
    return cancelled


# What makes a run what it is (a re-run copies these, and only these).
_RUN_DEFINITION = (
    "strategy",
    "strategy_snapshot",
    "symbol",
    "timeframe",
    "source",
    "start_time",
    "end_time",
    "initial_balance",
    "parameters",
    "reproducibility_hash",
)


def rerun_backtest(backtest: Backtest, requested_by: AbstractBaseUser | None = None) -> Backtest:
    """A new queued backtest with the same snapshot, range and parameters.

    The copy belongs to the original's owner, whoever asks (the owner, a user it is
    shared with for change, or an operator): it is their research, and it counts against
    their runs. It is shared as the original is; a requester who saw the original only
    through a shared sweep gets the copy shared with them for change.
    """
    owner = backtest.owner
    if not can_run_backtests(owner):
        raise NotAllowed(f"{owner} may not run backtests (no 'add backtest' permission).")
    with transaction.atomic():
        copy = Backtest.objects.create(
            owner=owner,
            metadata={"rerun_of": backtest.pk},
            **{name: getattr(backtest, name) for name in _RUN_DEFINITION},
        )
        copy_shares(backtest, copy)
        if (
            requested_by is not None
            and not visible_backtests(requested_by).filter(pk=copy.pk).exists()
        ):
            share(
                copy,
                grantee_type=GranteeType.USER,
                grantee=requested_by.get_username(),
                permission=Level.CHANGE,
                actor=requested_by,
            )
        _record_launch(requested_by or owner, copy, rerun_of=backtest.pk)
        enqueue_backtest(copy)
    return copy


# --- Sweeps --------------------------------------------------------------------------


def grid_cells(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values, in a stable order."""
    names = sorted(grid)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]


def submit_sweep(
    owner: AbstractBaseUser,
    request: BacktestRequest,
    grid: dict[str, list],
    rank_metric: str = "sharpe_ratio",
    name: str = "",
) -> Sweep:
    """Check the grid and every cell, create one backtest per cell, and fan them out as
    a Celery chord whose callback closes the sweep."""
    if not can_run_sweeps(owner):
        raise NotAllowed("You need the 'add sweep' permission to run sweeps.")
    prepared = prepare_run(request)
    problems = validators.validate_parameter_grid(
        grid, prepared.snapshot["entry_rules"], prepared.snapshot["exit_rules"], path="grid"
    )
    if rank_metric not in validators.RANKABLE_METRICS:
        known = ", ".join(validators.RANKABLE_METRICS)
        problems.append(
            Problem("rank_metric", f"unknown metric {rank_metric!r}; use one of {known}")
        )
    _raise_if(problems)
    cells = grid_cells(grid)
    cell_runs = []
    for index, cell in enumerate(cells):
        cell_request = BacktestRequest(
            **{**request.__dict__, "parameters": {**request.parameters, **cell}}
        )
        try:
            cell_runs.append(prepare_run(cell_request, prepared.bar_count))
        except InvalidBacktestInput as exc:
            problems += [Problem(f"grid cell {index} {cell}", str(p)) for p in exc.problems]
    _raise_if(problems)
    with transaction.atomic():
        sweep = Sweep.objects.create(
            owner=owner,
            strategy=request.strategy,
            name=name,
            symbol=prepared.symbol,
            timeframe=prepared.timeframe,
            source=prepared.source,
            start_time=request.start,
            end_time=request.end,
            grid=grid,
            options=request.options,
            rank_metric=rank_metric,
            status=RunStatus.QUEUED,
            cell_count=len(cells),
        )
        queued_at = timezone.now()
        backtests = Backtest.objects.bulk_create(
            _backtest_row(
                owner,
                request,
                cell_prepared,
                sweep=sweep,
                status=RunStatus.QUEUED,
                queued_at=queued_at,
            )
            for cell_prepared in cell_runs
        )
        grant_owner_permissions(backtests)  # bulk_create sends no post_save
        _record_launch(owner, sweep, cells=len(backtests))
        transaction.on_commit(lambda: _launch_sweep(sweep.pk, [b.pk for b in backtests]))
    return sweep


def _launch_sweep(sweep_id: int, backtest_ids: list[int]) -> None:
    from celery import chord

    from backtest.tasks import finish_sweep, run_backtest

    try:
        result = chord(run_backtest.s(pk) for pk in backtest_ids)(finish_sweep.s(sweep_id))
    except Exception:
        logger.exception("could not queue sweep %s", sweep_id)
        _fail_unsent(Backtest.objects.filter(sweep_id=sweep_id))
        Sweep.objects.filter(pk=sweep_id).update(
            status=RunStatus.FAILED, error=UNSENT_ERROR, finished_at=timezone.now()
        )
        return
    Sweep.objects.filter(pk=sweep_id).update(task_id=result.id)


def cancel_sweep(
    sweep: Sweep, actor: AbstractBaseUser | None = None, request: HttpRequest | None = None
) -> bool:
    """Cancel every unfinished cell; False if the sweep had already finished."""
    updated = Sweep.objects.filter(pk=sweep.pk, status__in=ACTIVE_STATUSES).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now()
    )
    cancelled = _cancel_runs(sweep.backtests.all())
    if updated:
        record_event(
            SecurityAction.BACKTEST_CANCELLED,
            actor=actor,
            request=request,
            target=sweep,
            detail={"cells_cancelled": len(cancelled)},
        )
    return bool(updated)


def finish_sweep(sweep_id: int) -> Sweep:
    """Close a sweep once its cells are done: completed if any cell completed. Its
    chord's callback calls this; so does the reaper, for a chord that broke."""
    sweep = Sweep.objects.get(pk=sweep_id)
    if (
        sweep.status in ACTIVE_STATUSES
        and not sweep.backtests.filter(status__in=ACTIVE_STATUSES).exists()
    ):
        statuses = set(sweep.backtests.values_list("status", flat=True))
        sweep.status = RunStatus.COMPLETED if RunStatus.COMPLETED in statuses else RunStatus.FAILED
        if sweep.status == RunStatus.FAILED:
            sweep.error = "no cell completed"
        sweep.finished_at = timezone.now()
        sweep.save(update_fields=("status", "error", "finished_at"))
    return sweep
