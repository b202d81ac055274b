"""WebSocket routes of every app, gathered in one list for the ASGI router."""

from backtest.routing import websocket_urlpatterns as backtest_ws
from marketdata.routing import websocket_urlpatterns as marketdata_ws
from replay.routing import websocket_urlpatterns as replay_ws

websocket_urlpatterns = [*marketdata_ws, *backtest_ws, *replay_ws]
