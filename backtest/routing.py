from django.urls import path

from backtest.consumers import BacktestProgressConsumer

websocket_urlpatterns = [
    path("ws/backtests/<int:backtest_id>/", BacktestProgressConsumer.as_asgi()),
]
