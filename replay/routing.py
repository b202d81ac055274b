from django.urls import path

from replay.consumers import ReplayProgressConsumer

websocket_urlpatterns = [
    path("ws/replays/<int:replay_id>/", ReplayProgressConsumer.as_asgi()),
]
