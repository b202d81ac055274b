"""WebSocket routes of every app, gathered in one list for the ASGI router."""

from marketdata.routing import websocket_urlpatterns as marketdata_ws

websocket_urlpatterns = [*marketdata_ws]
