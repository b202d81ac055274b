"""Backtest progress messages and their publishing to the channel layer.

Watchers of `/ws/backtests/<id>/` get JSON messages: the backtest's `id`, `status`,
`progress` (0 to 100, never going back), `error` and, once completed, `final_balance`.
The worker publishes at every engine chunk (about 2 % of the bars) and at least once a
second while loading and saving; the consumer sends a snapshot on connect.
"""

from __future__ import annotations

from backtest.models import FINAL_STATUSES, Backtest
from central import channel_publisher


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


def publish_backtest_progress(backtest: Backtest) -> None:
    """Queue the backtest's state for its watchers; a final state is waited for, so it
    is out before a CLI process exits. Progress is a courtesy: a channel-layer hiccup is
    logged by the publisher and never fails a run."""
    message = backtest_message(backtest)
    channel_publisher.publish(
        backtest_group(backtest.pk), {"type": "run.progress", "payload": message}
    )
    if is_final(message):
        channel_publisher.flush()
