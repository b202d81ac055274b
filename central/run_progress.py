"""Progress of a long-running job row (a backtest, a replay), shared by the apps' workers.

A job row has `status`, `progress` (0 to 100) and `heartbeat_at`. The worker saves
progress with an update that only succeeds while the row is still "running": that one
write is the cancellation check (a cancelled or reaped job matches nothing and the
worker stops) and the heartbeat the reaper watches (a killed worker stops writing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Model, Q
from django.utils import timezone

RUNNING = "running"  # backtest.models.RunStatus.RUNNING, which every job row uses
FAILED = "failed"
MIN_STEP = 1.0  # smaller advances wait for the next one, or for a second to pass


class Cancelled(Exception):
    """The job left "running" while it worked (cancelled, or reaped)."""


class TimeLimitExceeded(Exception):
    pass


@dataclass
class ProgressReporter:
    """Saves and publishes progress: at every call that moves it MIN_STEP points, or
    after a second; raises Cancelled when the job is no longer running and
    TimeLimitExceeded past the time limit."""

    job: Model
    time_limit: float
    publish: Callable[[Model], None]
    started: float = field(default=0.0, init=False)
    last_sent_at: float = field(default=0.0, init=False)
    last_sent: float = field(default=-100.0, init=False)

    def __post_init__(self) -> None:
        self.started = self.last_sent_at = time.monotonic()

    def __call__(self, percent: float) -> None:
        self._report(percent, save=True)

    def while_writing(self, percent: float) -> None:
        """Progress from inside the transaction that writes the job's results: checked
        against the status by a read and published, not saved. An update there would
        lock the job's row until the commit, and a cancel would wait for the end
        instead of stopping the job."""
        self._report(percent, save=False)

    def _report(self, percent: float, save: bool) -> None:
        now = time.monotonic()
        if now - self.started > self.time_limit:
            raise TimeLimitExceeded(f"stopped after the time limit of {self.time_limit:g} s")
        percent = max(min(percent, 100.0), self.last_sent)
        if percent - self.last_sent < MIN_STEP and now - self.last_sent_at < 1.0:
            return
        running = type(self.job).objects.filter(pk=self.job.pk, status=RUNNING)
        if save:
            still_running = running.update(progress=percent, heartbeat_at=timezone.now())
        else:
            still_running = running.exists()
        if not still_running:
            raise Cancelled
        self.job.progress = percent
        self.last_sent, self.last_sent_at = percent, now
        self.publish(self.job)

    def heartbeat(self) -> None:
        """No progress to tell, but still alive: checks the time limit, and at least
        once a second the status (cancellation) and the heartbeat the reaper reads."""
        self(self.last_sent)


def fail_where(
    model: type[Model], condition: Q, error: str, publish: Callable[[Model], None]
) -> list[int]:
    """Fail the jobs matching `condition` with `error` and tell their watchers; the ids
    failed. Each update repeats the condition: a job may have moved on since it was read."""
    failed = []
    for job in model.objects.filter(condition):
        updated = model.objects.filter(condition, pk=job.pk).update(
            status=FAILED, finished_at=timezone.now(), error=error
        )
        if updated:
            job.refresh_from_db()
            publish(job)
            failed.append(job.pk)
    return failed


TRACEBACK_LIMIT = 20_000  # characters kept, from the end (where the error is)


def current_traceback() -> str:
    """The traceback of the exception being handled, secrets masked, for operators (the
    run's `traceback` field): the user-facing error never carries internals."""
    import traceback

    from central.logging_filters import mask_text

    return mask_text(traceback.format_exc())[-TRACEBACK_LIMIT:]
