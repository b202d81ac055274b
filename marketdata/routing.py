from django.urls import path

from marketdata.consumers import SyncRunConsumer

websocket_urlpatterns = [
    path("ws/market-data/sync-runs/<int:run_id>/", SyncRunConsumer.as_asgi()),
]
