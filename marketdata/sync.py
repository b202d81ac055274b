"""Binance sync (placeholder module replaced by the sync implementation)."""


def execute_sync_run(run_id: int) -> dict:
    raise NotImplementedError


def queue_watched_symbols() -> list[int]:
    raise NotImplementedError
