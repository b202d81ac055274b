"""Live progress of market-data sync runs, for operators."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from marketdata.progress import is_final, sync_run_group
from marketdata.selectors import can_sync_market_data, sync_run_snapshot

NOT_ALLOWED = 4403
UNKNOWN_RUN = 4404
NORMAL_CLOSURE = 1000


class SyncRunConsumer(AsyncJsonWebsocketConsumer):
    """Sends the run's current state on connect, then every update the worker publishes,
    and closes once the run has finished (see marketdata.progress for the messages).

    A refusal is a close after the handshake has been accepted: a browser never sees
    the code of a close that refuses the handshake, only a failed connection.
    """

    finished = False  # the final state has been sent and the socket closed

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not await database_sync_to_async(can_sync_market_data)(user):
            await self.close(code=NOT_ALLOWED)
            return
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        # Listen before reading the state: an update published in between is then
        # received after the snapshot instead of lost (the final one included).
        self.group_name = sync_run_group(run_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        snapshot = await database_sync_to_async(sync_run_snapshot)(run_id)
        if snapshot is None:
            await self.close(code=UNKNOWN_RUN)
            return
        await self._send(snapshot)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group_name"):
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def sync_progress(self, event: dict) -> None:
        await self._send(event["payload"])

    async def _send(self, message: dict) -> None:
        # An update queued behind the final state (or a final snapshot) is not sent
        # on a socket this side has closed.
        if self.finished:
            return
        await self.send_json(message)
        if is_final(message):
            self.finished = True
            await self.close(code=NORMAL_CLOSURE)
