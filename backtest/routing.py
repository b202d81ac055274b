from django.urls import path

from backtest.consumers import BacktestProgressConsumer, PaperSessionConsumer

websocket_urlpatterns = [
    path("ws/backtests/<int:backtest_id>/", BacktestProgressConsumer.as_asgi()),
    path("ws/paper-sessions/<int:session_id>/", PaperSessionConsumer.as_asgi()),
]
