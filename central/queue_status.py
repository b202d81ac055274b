"""What the job queues hold and who works them: the read side of the admin's queue page.

Three sources, each bounded so the page stays cheap however busy the platform is:

- the broker: how many messages wait in each Celery queue (Redis LLEN on the queue's
  keys, one round trip for all of them);
- the database: the runs each queue carries that have not finished (pending, queued,
  running; at most `ACTIVE_LIMIT` per kind, newest first, with a total count) and the
  latest failures of every kind (at most `FAILURE_LIMIT`), with their stored error and,
  for internal errors, the traceback;
- the workers: Celery's `stats` and `active_queues` broadcasts, asked in parallel and
  waited for at most HEALTH_CELERY_TIMEOUT seconds, plus each running job's own
  heartbeat (the progress write the reapers watch).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db.models import Count, Model, QuerySet
from django.urls import reverse
from django.utils import timezone

from backtest.models import ACTIVE_STATUSES, Backtest, RunStatus, Sweep
from marketdata.models import SyncRun
from marketdata.sync import ACTIVE_STATUSES as SYNC_ACTIVE_STATUSES
from replay.models import ImportBatch, ReplayRun

ACTIVE_LIMIT = 50  # unfinished runs listed per kind (the count covers them all)
FAILURE_LIMIT = 20  # latest failures listed, all kinds together
# kombu's Redis transport keeps a queue's messages in one list per priority step:
# the queue's name for priority 0, then name + separator + step.
_KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)


@dataclass(frozen=True)
class JobKind:
    """One kind of job row and the Celery queue its task is routed to."""

    label: str
    model: type[Model]
    queue: str
    active: tuple[str, ...]
    failed: str
    has_owner: bool = True

    def admin_url(self, pk: int) -> str:
        meta = self.model._meta
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk])


JOB_KINDS = (
    JobKind(
        "sync run",
        SyncRun,
        "marketdata",
        SYNC_ACTIVE_STATUSES,
        SyncRun.Status.FAILED,
        has_owner=False,
    ),
    JobKind("backtest", Backtest, "backtests", ACTIVE_STATUSES, RunStatus.FAILED),
    JobKind("sweep", Sweep, "backtests", ACTIVE_STATUSES, RunStatus.FAILED),
    JobKind("replay", ReplayRun, "replays", ACTIVE_STATUSES, RunStatus.FAILED),
    JobKind("import", ImportBatch, "replays", ACTIVE_STATUSES, RunStatus.FAILED),
)


def celery_queues() -> list[str]:
    """The queues tasks are routed to: the default one, then each route's, in order."""
    names = [settings.CELERY_TASK_DEFAULT_QUEUE]
    for route in settings.CELERY_TASK_ROUTES.values():
        if route.get("queue") and route["queue"] not in names:
            names.append(route["queue"])
    return names


def queue_depths(queues: list[str] | None = None) -> dict[str, int | None]:
    """Messages waiting in each queue (not those a worker has taken); None for every
    queue when the broker cannot be reached."""
    queues = queues or celery_queues()
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1
    )
    try:
        with client.pipeline(transaction=False) as pipe:
            for name in queues:
                for step in _KOMBU_PRIORITY_STEPS:
                    pipe.llen(f"{name}{_KOMBU_PRIORITY_SEPARATOR}{step}" if step else name)
            lengths = pipe.execute()
    except redis.RedisError:
        return dict.fromkeys(queues)
    finally:
        client.close()
    steps = len(_KOMBU_PRIORITY_STEPS)
    return {name: sum(lengths[i * steps : (i + 1) * steps]) for i, name in enumerate(queues)}


@dataclass
class Job:
    kind: str
    pk: int
    url: str
    status: str
    owner: str
    created_at: datetime
    progress: float | None
    heartbeat_at: datetime | None
    description: str
    error: str = ""
    traceback: str = ""
    finished_at: datetime | None = None


@dataclass
class QueueStatus:
    name: str
    waiting_messages: int | None
    jobs: list[Job] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # "<kind> <status>" -> count
    workers: list[str] = field(default_factory=list)  # workers consuming this queue


@dataclass
class Worker:
    name: str
    queues: list[str]
    pid: int | None
    concurrency: int | None
    uptime: timedelta | None
    tasks_done: int


@dataclass
class QueuePage:
    queues: list[QueueStatus]
    workers: list[Worker]
    workers_answered: bool
    failures: list[Job]
    inspect_timeout: float
    generated_at: datetime


def _job(kind: JobKind, row: Any) -> Job:
    owner = ""
    if kind.has_owner:
        owner = row.owner.get_username()
    elif getattr(row, "requested_by", None) is not None:
        owner = row.requested_by.get_username()
    return Job(
        kind=kind.label,
        pk=row.pk,
        url=kind.admin_url(row.pk),
        status=row.status,
        owner=owner,
        created_at=row.created_at,
        progress=getattr(row, "progress", None),
        heartbeat_at=getattr(row, "heartbeat_at", None),
        description=str(row),
        error=row.error,
        traceback=row.traceback,
        finished_at=row.finished_at,
    )


def _rows(kind: JobKind) -> QuerySet:
    related = "owner" if kind.has_owner else "requested_by"
    queryset = kind.model.objects.select_related(related)
    if kind.model is SyncRun:
        queryset = queryset.select_related("symbol")
    return queryset


def unfinished_jobs(kind: JobKind) -> tuple[list[Job], dict[str, int]]:
    """The kind's newest unfinished runs (at most ACTIVE_LIMIT) and the count of all of
    them per status (one grouped query, served by the status columns)."""
    active = kind.model.objects.filter(status__in=kind.active)
    counts = {
        row["status"]: row["n"]
        for row in active.order_by().values("status").annotate(n=Count("pk"))
    }
    rows = _rows(kind).filter(status__in=kind.active).order_by("-created_at")[:ACTIVE_LIMIT]
    return [_job(kind, row) for row in rows], counts


def latest_failures(limit: int = FAILURE_LIMIT) -> list[Job]:
    """The newest failed runs of every kind, newest first, with their stored errors."""
    failures: list[Job] = []
    for kind in JOB_KINDS:
        rows = (
            _rows(kind)
            .filter(status=kind.failed, finished_at__isnull=False)
            .order_by("-finished_at")[:limit]
        )
        failures += [_job(kind, row) for row in rows]
    failures.sort(key=lambda job: job.finished_at, reverse=True)
    return failures[:limit]


def _inspect(timeout: float) -> tuple[dict, dict, bool]:
    """(stats, active_queues) per worker name, and whether the broker answered at all.
    Both broadcasts go out at once, so the page waits `timeout` once, not twice."""
    from central.celery import app

    inspector = app.control.inspect(timeout=timeout)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            stats = pool.submit(inspector.stats)
            queues = pool.submit(inspector.active_queues)
            return stats.result() or {}, queues.result() or {}, True
    except Exception:  # broker down: no worker can be reached either
        return {}, {}, False


def workers(timeout: float) -> tuple[list[Worker], bool]:
    stats, active_queues, reachable = _inspect(timeout)
    found = []
    for name in sorted(set(stats) | set(active_queues)):
        info = stats.get(name, {})
        pool = info.get("pool", {}) if isinstance(info.get("pool"), dict) else {}
        uptime = info.get("uptime")
        found.append(
            Worker(
                name=name,
                queues=sorted(queue["name"] for queue in active_queues.get(name, [])),
                pid=info.get("pid"),
                concurrency=pool.get("max-concurrency"),
                uptime=timedelta(seconds=uptime) if uptime is not None else None,
                tasks_done=sum((info.get("total") or {}).values()),
            )
        )
    return found, reachable


def queue_page(inspect_timeout: float | None = None) -> QueuePage:
    """Everything the queue page shows, read now."""
    now = timezone.now()
    timeout = settings.HEALTH_CELERY_TIMEOUT if inspect_timeout is None else inspect_timeout
    found_workers, reachable = workers(timeout)
    depths = queue_depths()
    queues = {name: QueueStatus(name, depth) for name, depth in depths.items()}
    for kind in JOB_KINDS:
        status = queues.setdefault(kind.queue, QueueStatus(kind.queue, None))
        jobs, counts = unfinished_jobs(kind)
        status.jobs += jobs
        status.counts.update({f"{kind.label} {name}": n for name, n in counts.items()})
    for status in queues.values():
        status.jobs.sort(key=lambda job: job.created_at, reverse=True)
        status.workers = [w.name for w in found_workers if status.name in w.queues]
    return QueuePage(
        queues=list(queues.values()),
        workers=found_workers,
        workers_answered=reachable and bool(found_workers),
        failures=latest_failures(),
        inspect_timeout=timeout,
        generated_at=now,
    )
