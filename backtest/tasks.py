"""Celery tasks for backtests: thin wrappers over backtest.execution and services."""

import random

from celery import shared_task
from django.conf import settings

from backtest import execution, paper, services
from marketdata.models import DEFAULT_SOURCE


@shared_task(
    bind=True,
    acks_late=True,
    name="backtest.tasks.run_backtest",
    max_retries=None,
    # A backstop for prefork workers; the run itself stops at BACKTEST_TIME_LIMIT_SECONDS.
    time_limit=settings.BACKTEST_TIME_LIMIT_SECONDS + 60,
)
def run_backtest(self, backtest_id: int) -> dict:
    """Retried only while the owner has no free slot: nothing has run yet then."""
    try:
        return execution.execute_backtest(backtest_id)
    except execution.NoFreeSlot:
        raise self.retry(countdown=slot_retry_delay(self.request.retries)) from None


def slot_retry_delay(retries: int) -> float:
    """Doubling from BACKTEST_SLOT_RETRY_SECONDS up to 16 times it, with jitter, so the
    waiting cells of a large sweep do not all ask again at the same moment."""
    base = settings.BACKTEST_SLOT_RETRY_SECONDS * 2 ** min(retries, 4)
    return base * random.uniform(0.75, 1.25)


@shared_task(name="backtest.tasks.finish_sweep")
def finish_sweep(cell_results: list[dict], sweep_id: int) -> dict:
    sweep = services.finish_sweep(sweep_id)
    return {"id": sweep.pk, "status": sweep.status}


@shared_task(name="backtest.tasks.reap_stale_backtests")
def reap_stale_backtests() -> list[int]:
    return execution.reap_stale_backtests()


@shared_task(acks_late=True, name="backtest.tasks.advance_paper_sessions")
def advance_paper_sessions(symbol: str, timeframe: str, source: str = DEFAULT_SOURCE) -> dict:
    """Step the series' running paper sessions over their new closed candles. Safe to
    run twice or concurrently: each session is row-locked and steps only candles after
    its last one."""
    return paper.advance_sessions_for(symbol, timeframe, source)
