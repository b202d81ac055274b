"""Live progress of market-data sync runs, for operators."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from marketdata.progress import sync_run_group
from marketdata.selectors import can_sync_market_data, sync_run_snapshot


class SyncRunConsumer(AsyncJsonWebsocketConsumer):
    """Sends the run's current state on connect, then every update the worker publishes."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        if user is None or not await database_sync_to_async(can_sync_market_data)(user):
            await self.close(code=4403)
            return
        snapshot = await database_sync_to_async(sync_run_snapshot)(run_id)
        if snapshot is None:
            await self.close(code=4404)
            return
        self.group_name = sync_run_group(run_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        await self.send_json(snapshot)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group_name"):
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def sync_progress(self, event: dict) -> None:
        await self.send_json(event["payload"])
