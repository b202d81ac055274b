"""WebSockets of market data: sync-run progress for operators, live candles for everyone."""

import time

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from central.progress_consumer import NOT_ALLOWED, RunProgressConsumer
from marketdata.live import candle_group
from marketdata.progress import is_final, sync_run_group
from marketdata.selectors import can_sync_market_data, sync_run_snapshot
from marketdata.services import InvalidParameter, check_timeframe, normalise_symbol

BAD_SERIES = 4400
# channels-redis forgets a group member after a day (group_expiry); a chart left open
# longer renews its membership with the candles it receives.
REJOIN_AFTER_SECONDS = 3600


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


class MarketCandleConsumer(AsyncJsonWebsocketConsumer):
    """Live candles of one series (`marketdata.live.publish_candle`), for any signed-in
    user: candles are reference data, readable by all (marketdata.selectors).

    On connect the socket is accepted, then closed with 4403 when nobody is signed in or
    4400 when the symbol or timeframe is not valid (refusing after the handshake lets a
    browser read the code, as RunProgressConsumer does). Otherwise it joins the series'
    group, then sends `{"type": "market.subscribed", "symbol", "timeframe"}` so a client
    knows from when on no candle is missed, then every `market.candle` message as it is.
    The series need not be stored yet: a stream may start before the first closed candle.
    """

    group_name: str | None = None
    joined_at = 0.0

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_ALLOWED)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            symbol = normalise_symbol(kwargs["symbol"])
            timeframe = check_timeframe(kwargs["timeframe"])
        except InvalidParameter:
            await self.close(code=BAD_SERIES)
            return
        self.group_name = candle_group(symbol, timeframe)
        await self._join()
        await self.send_json(
            {"type": "market.subscribed", "symbol": symbol, "timeframe": timeframe}
        )

    async def disconnect(self, code: int) -> None:
        if self.group_name is not None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def market_candle(self, event: dict) -> None:
        await self.send_json(event)
        if time.monotonic() - self.joined_at > REJOIN_AFTER_SECONDS:
            await self._join()

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Nothing is expected from the client; whatever it sends is ignored."""

    async def _join(self) -> None:
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        self.joined_at = time.monotonic()
