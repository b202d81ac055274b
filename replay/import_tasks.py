"""Celery task of transaction imports: fetching the account's trades from the exchange.
Thin: replay.imports does the work. Routed to the `replays` queue by its name."""

from celery import shared_task

from replay import imports


@shared_task(acks_late=True, name="replay.tasks.fetch_exchange_trades")
def fetch_exchange_trades(batch_id: int) -> dict:
    return imports.run_fetch(batch_id)
