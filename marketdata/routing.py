from django.urls import path

from marketdata.consumers import MarketCandleConsumer, SyncRunConsumer

websocket_urlpatterns = [
    path("ws/market-data/sync-runs/<int:run_id>/", SyncRunConsumer.as_asgi()),
    path("ws/market/<str:symbol>/<str:timeframe>/", MarketCandleConsumer.as_asgi()),
]
