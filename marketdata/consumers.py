"""Live progress of market-data sync runs, for operators."""

from central.progress_consumer import RunProgressConsumer
from marketdata.progress import is_final, sync_run_group
from marketdata.selectors import can_sync_market_data, sync_run_snapshot


class SyncRunConsumer(RunProgressConsumer):
    """Operators only; messages are described in marketdata.progress."""

    def may_watch(self, user, run_id: int) -> bool:
        return can_sync_market_data(user)

    def snapshot(self, run_id: int) -> dict | None:
        return sync_run_snapshot(run_id)

    def group_for(self, run_id: int) -> str:
        return sync_run_group(run_id)

    def is_final(self, message: dict) -> bool:
        return is_final(message)
