"""Sync-run progress messages and their publishing to the channel layer.

Every message a watcher of a run receives, the snapshot on connect
(selectors.sync_run_snapshot) as much as the worker's updates and a cancel's final
state (marketdata.sync), is built by sync_run_message: the run as the REST API shows
it (same fields, ISO 8601 times in UTC with a `Z`), plus

- `phase`: "pending", "download", "gaps" or "finished"; None when a snapshot catches
  a running run, whose phase only the worker knows;
- `progress`: 0 to 1 over the whole run, never going back: downloading covers
  0 to DOWNLOAD_SHARE, filling the holes found afterwards the rest; a finished run
  (succeeded, failed or cancelled) is at 1. None when a snapshot catches a running
  run: the worker's next update, one chunk away, tells.
"""

from central import channel_publisher
from marketdata.api.serializers import SyncRunSerializer
from marketdata.models import SyncRun

DOWNLOAD_SHARE = 0.8
FINAL_STATUSES = (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED, SyncRun.Status.CANCELLED)


def sync_run_message(run: SyncRun, *, phase: str | None, progress: float | None) -> dict:
    return {**SyncRunSerializer(run).data, "phase": phase, "progress": progress}


def is_final(message: dict) -> bool:
    return message.get("status") in FINAL_STATUSES


def sync_run_group(run_id: int) -> str:
    return f"market-sync-{run_id}"


def publish_sync_progress(run_id: int, payload: dict) -> None:
    channel_publisher.publish_progress(sync_run_group(run_id), payload, final=is_final(payload))
