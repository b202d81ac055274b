"""Celery tasks of replay runs (queue `replays`): thin wrappers over replay.runs."""

from celery import shared_task
from django.conf import settings

from replay import runs


@shared_task(
    acks_late=True,
    name="replay.tasks.run_replay",
    # A backstop for prefork workers; the run itself stops at the time limit.
    time_limit=settings.BACKTEST_TIME_LIMIT_SECONDS + 60,
)
def run_replay(run_id: int) -> dict:
    return runs.execute_replay(run_id)


@shared_task(name="replay.tasks.reap_stale_replays")
def reap_stale_replays() -> list[int]:
    return runs.reap_stale_replays()
