"""Celery tasks for market data: thin wrappers over marketdata.sync."""

from celery import shared_task

from marketdata import sync


@shared_task(acks_late=True, name="marketdata.tasks.run_sync")
def run_sync(run_id: int) -> dict:
    return sync.execute_sync_run(run_id)


@shared_task(name="marketdata.tasks.sync_watched_symbols")
def sync_watched_symbols() -> list[int]:
    """Queue a sync for every enabled watched symbol (the beat schedule runs this)."""
    return sync.queue_watched_symbols()
