"""A WebSocket that follows one long-running job (a sync run, a backtest) to its end."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

NOT_ALLOWED = 4403
UNKNOWN_RUN = 4404
NORMAL_CLOSURE = 1000


class RunProgressConsumer(AsyncJsonWebsocketConsumer):
    """Sends the job's current state on connect, then every update published to its
    group (events of type "run.progress"), and closes once the job has finished.

    A refusal is a close after the handshake has been accepted: a browser never sees
    the code of a close that refuses the handshake, only a failed connection.
    Subclasses say who may watch, what the snapshot is, and which group to join.
    """

    finished = False  # the final state has been sent and the socket closed
    url_kwarg = "run_id"

    def may_watch(self, user, run_id: int) -> bool:
        raise NotImplementedError

    def snapshot(self, run_id: int) -> dict | None:
        raise NotImplementedError

    def group_for(self, run_id: int) -> str:
        raise NotImplementedError

    def is_final(self, message: dict) -> bool:
        raise NotImplementedError

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        run_id = self.scope["url_route"]["kwargs"][self.url_kwarg]
        if user is None or not await database_sync_to_async(self.may_watch)(user, run_id):
            await self.close(code=NOT_ALLOWED)
            return
        # Listen before reading the state: an update published in between is then
        # received after the snapshot instead of lost (the final one included).
        self.group_name = self.group_for(run_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        snapshot = await database_sync_to_async(self.snapshot)(run_id)
        if snapshot is None:
            await self.close(code=UNKNOWN_RUN)
            return
        await self._send(snapshot)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group_name"):
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def run_progress(self, event: dict) -> None:
        await self._send(event["payload"])

    async def _send(self, message: dict) -> None:
        # An update queued behind the final state (or a final snapshot) is not sent
        # on a socket this side has closed.
        if self.finished:
            return
        await self.send_json(message)
        if self.is_final(message):
            self.finished = True
            await self.close(code=NORMAL_CLOSURE)
