"""Replay progress messages and their publishing to the channel layer.

Watchers of `/ws/replays/<id>/` get JSON messages: the run's `id`, `status`,
`progress` (0 to 100), `error`, `transaction_count` and, once completed, `completed`
and `failed` (transactions replayed, and those without a candle). The worker publishes
when it starts (0), when the transactions are loaded (5), as each symbol is matched
with its candles (up to 50), when positions are rebuilt (55), while the results are
written (up to 98) and at the end; steps under one point wait for the next or for a
second to pass. The consumer sends a snapshot on connect.
"""

from __future__ import annotations

from backtest.models import FINAL_STATUSES
from central import channel_publisher
from replay.models import ReplayRun


def replay_group(run_id: int) -> str:
    return f"replay-{run_id}"


def replay_message(run: ReplayRun) -> dict:
    summary = run.summary or {}
    return {
        "id": run.pk,
        "status": run.status,
        "progress": round(float(run.progress), 2),
        "error": run.error,
        "transaction_count": run.transaction_count,
        "completed": summary.get("completed"),
        "failed": summary.get("failed"),
    }


def is_final(message: dict) -> bool:
    return message.get("status") in FINAL_STATUSES


def publish_replay_progress(run: ReplayRun) -> None:
    """A courtesy: a channel-layer hiccup is logged by the publisher, never fails a run."""
    message = replay_message(run)
    channel_publisher.publish_progress(replay_group(run.pk), message, final=is_final(message))
