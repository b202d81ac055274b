"""Backtest progress messages and their publishing to the channel layer.

Watchers of `/ws/backtests/<id>/` get JSON messages: the backtest's `id`, `status`,
`progress` (0 to 100), `error` and, once completed, `final_balance`. The worker
publishes when it starts (0), when the candles are loaded (2), when the signals are
ready (4), after every engine chunk (about 2 % of the bars, so no step exceeds 2
points) or at least once a second between indicator computations, and at the end; the
consumer sends a snapshot on connect. Progress never goes back within one attempt; a
run a broker redelivers after its worker died starts again from 0.
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
    """Progress is a courtesy: a channel-layer hiccup is logged by the publisher and
    never fails a run."""
    message = backtest_message(backtest)
    channel_publisher.publish_progress(
        backtest_group(backtest.pk), message, final=is_final(message)
    )
