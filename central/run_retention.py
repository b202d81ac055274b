"""Retention of finished runs: backtests (with sweeps), replays and market-data syncs.

Runs and their results grow without bound (a watched series alone makes a sync run a
minute), so finished runs older than RUN_RETENTION_DAYS go, through this one service,
from `manage.py purge_runs` and from the admin's "purge" actions alike.

- Only finished runs go (completed, failed or cancelled; a sync that succeeded, failed
  or was cancelled), by when they finished. Unfinished ones are never touched.
- A sweep's cells go with the sweep, never alone (the ranking would silently shrink);
  a sweep goes only when none of its cells is still unfinished.
- Results go in bulk first (one DELETE per batch for trades, equity curves, summaries
  and replay executions: no Python object per trade), then the runs themselves through
  the ORM, so each deleted run leaves a "delete" entry in the change log (django-auditlog)
  naming who purged it, and its sharing grants are dropped with it (accounts.sharing).
- Work goes in batches, each in its own transaction, so no statement holds locks long.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from backtest.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    Backtest,
    EquityCurve,
    PerformanceSummary,
    Sweep,
    Trade,
)
from marketdata.models import SyncRun
from replay.models import ReplayExecution, ReplayRun

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
SYNC_FINAL_STATUSES = (
    SyncRun.Status.SUCCEEDED,
    SyncRun.Status.FAILED,
    SyncRun.Status.CANCELLED,
)
# The kinds of run, in the order they are purged (a sweep before its cells would be
# picked up as lone backtests: they are not, lone means no sweep).
KINDS = ("sweeps", "backtests", "replays", "sync runs")


@dataclass
class PurgeReport:
    cutoff: datetime
    dry_run: bool = False
    # what -> rows: runs by kind, and the results that went with them
    deleted: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        verb = "Would delete" if self.dry_run else "Deleted"
        what = ", ".join(f"{count} {name}" for name, count in self.deleted.items() if count)
        return f"{verb} {what or 'nothing'} (finished before {self.cutoff:%Y-%m-%d %H:%M %Z})."


def retention_cutoff(days: int | None = None) -> datetime:
    """Runs that finished before this moment are old. Raises ValueError below one day."""
    days = settings.RUN_RETENTION_DAYS if days is None else days
    if days < 1:
        raise ValueError(f"the retention age must be at least 1 day (got {days})")
    return timezone.now() - timedelta(days=days)


def old_runs(cutoff: datetime) -> dict[str, QuerySet]:
    """Per kind, the finished runs that finished before `cutoff` and may go."""
    return {
        "sweeps": Sweep.objects.filter(status__in=FINAL_STATUSES, finished_at__lt=cutoff).exclude(
            backtests__status__in=ACTIVE_STATUSES
        ),
        "backtests": Backtest.objects.filter(
            sweep__isnull=True, status__in=FINAL_STATUSES, finished_at__lt=cutoff
        ),
        "replays": ReplayRun.objects.filter(status__in=FINAL_STATUSES, finished_at__lt=cutoff),
        "sync runs": SyncRun.objects.filter(status__in=SYNC_FINAL_STATUSES, finished_at__lt=cutoff),
    }


def purge_old_runs(
    days: int | None = None,
    *,
    among: dict[str, QuerySet] | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> PurgeReport:
    """Delete finished runs older than `days` (default RUN_RETENTION_DAYS) with their
    results, and say how many of each went.

    `among` limits the purge to those rows per kind ("sweeps", "backtests", "replays",
    "sync runs"; kinds left out are not purged): the admin passes the selected rows.
    The acting user of the change-log entries is the current django-auditlog actor (the
    admin request's user; the command sets its own).
    """
    report = PurgeReport(retention_cutoff(days), dry_run)
    candidates = old_runs(report.cutoff)
    if among is not None:
        unknown = set(among) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds of run: {', '.join(sorted(unknown))}")
        candidates = {
            kind: queryset.filter(pk__in=among[kind].values("pk"))
            for kind, queryset in candidates.items()
            if kind in among
        }
    for kind in KINDS:
        if kind not in candidates:
            continue
        if dry_run:
            report.deleted[kind] += candidates[kind].count()
            continue
        purge = _PURGES[kind]
        while True:
            with transaction.atomic():
                ids = list(
                    candidates[kind].order_by("pk").values_list("pk", flat=True)[:batch_size]
                )
                if not ids:
                    break
                purge(ids, report.deleted)
    if not dry_run:
        logger.info("purged old runs: %s", dict(report.deleted), extra={"cutoff": report.cutoff})
    return report


def _count(deleted: Counter, name: str, result: tuple[int, dict[str, int]], label: str) -> None:
    """Add the rows of `label` (a model label) that a delete() removed."""
    deleted[name] += result[1].get(label, 0)


def _purge_backtests(ids: list[int], deleted: Counter, name: str = "backtests") -> None:
    _count(deleted, "trades", Trade.objects.filter(backtest_id__in=ids).delete(), "backtest.Trade")
    EquityCurve.objects.filter(backtest_id__in=ids).delete()
    PerformanceSummary.objects.filter(backtest_id__in=ids).delete()
    _count(deleted, name, Backtest.objects.filter(pk__in=ids).delete(), "backtest.Backtest")


def _purge_sweeps(ids: list[int], deleted: Counter) -> None:
    cells = list(Backtest.objects.filter(sweep_id__in=ids).values_list("pk", flat=True))
    if cells:
        _purge_backtests(cells, deleted, name="sweep cells")
    _count(deleted, "sweeps", Sweep.objects.filter(pk__in=ids).delete(), "backtest.Sweep")


def _purge_replays(ids: list[int], deleted: Counter) -> None:
    executions = ReplayExecution.objects.filter(replay_run_id__in=ids)
    _count(deleted, "replay executions", executions.delete(), "replay.ReplayExecution")
    _count(deleted, "replays", ReplayRun.objects.filter(pk__in=ids).delete(), "replay.ReplayRun")


def _purge_sync_runs(ids: list[int], deleted: Counter) -> None:
    _count(deleted, "sync runs", SyncRun.objects.filter(pk__in=ids).delete(), "marketdata.SyncRun")


_PURGES: dict[str, Callable[[list[int], Counter], None]] = {
    "sweeps": _purge_sweeps,
    "backtests": _purge_backtests,
    "replays": _purge_replays,
    "sync runs": _purge_sync_runs,
}
