"""Live updates of a paper session for its watchers (PaperSessionConsumer).

A message is small on purpose: status, equity, position and how many trades the last
step closed. The page refetches the session's detail when one arrives, so trades and
the equity curve are read through the API's own serializer rather than pushed twice.
"""

from __future__ import annotations

from typing import Any

from backtest import paper
from backtest.models import PaperSession, PaperStatus
from central.channel_publisher import publish_progress


def paper_group(session_id: int) -> str:
    """The Channels group of one session's watchers."""
    return f"paper.{session_id}"


def paper_message(session: PaperSession, new_trades: int = 0) -> dict[str, Any]:
    """A session's state as its watchers receive it (the connect snapshot included)."""
    last = session.last_timestamp
    return {
        "id": session.pk,
        "status": session.status,
        "halted_reason": session.halted_reason,
        "error": session.error,
        "equity": str(session.equity),
        "position": paper.session_summary(session),
        "last_timestamp": last.isoformat().replace("+00:00", "Z") if last else None,
        "bars_stepped": session.bars_stepped,
        "new_trades": new_trades,
    }


def is_final(message: dict) -> bool:
    """A session that no longer runs never changes again: its watchers are closed."""
    return message.get("status") != PaperStatus.RUNNING


def publish_paper_session(session: PaperSession, new_trades: int = 0) -> None:
    """Tell the session's watchers its new state (called after the change committed);
    a final state is flushed so it is out before a worker process may exit."""
    message = paper_message(session, new_trades)
    publish_progress(paper_group(session.pk), message, final=is_final(message))
