"""Publishing sync-run progress to the channel layer (read by SyncRunConsumer)."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def sync_run_group(run_id: int) -> str:
    return f"market-sync-{run_id}"


def publish_sync_progress(run_id: int, payload: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(
            sync_run_group(run_id), {"type": "sync.progress", "payload": payload}
        )
