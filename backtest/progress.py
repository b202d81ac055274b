"""Backtest progress messages and their publishing to the channel layer.

Watchers of `/ws/backtests/<id>/` get JSON messages: the backtest's `id`, `status`,
`progress` (0 to 100, never going back), `error` and, once completed, `final_balance`.
The worker publishes at every engine chunk (about 2 % of the bars) and at least once a
second while loading and saving; the consumer sends a snapshot on connect.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from backtest.models import FINAL_STATUSES, Backtest

logger = logging.getLogger(__name__)


def backtest_group(backtest_id: int) -> str:
    return f"backtest-{backtest_id}"


def backtest_message(backtest: Backtest) -> dict:
    return {
        "id": backtest.pk,
        "status": backtest.status,
        "progress": round(float(backtest.progress), 2),
        "error": backtest.error,
        "final_balance": (
            float(backtest.final_balance) if backtest.final_balance is not None else None
        ),
    }


def is_final(message: dict) -> bool:
    return message.get("status") in FINAL_STATUSES


def publish(backtest_id: int, payload: dict) -> None:
    """Progress is a courtesy to watchers: a channel-layer hiccup never fails a run."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            backtest_group(backtest_id), {"type": "run.progress", "payload": payload}
        )
    except Exception:
        logger.warning("could not publish progress of backtest %s", backtest_id, exc_info=True)


def publish_backtest_progress(backtest: Backtest) -> None:
    publish(backtest.pk, backtest_message(backtest))
