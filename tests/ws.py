"""Driving the project's WebSocket routes as a given user, through the real channel layer."""

from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from central.routing import websocket_urlpatterns


def _as(user, application):
    async def app(scope, receive, send):
        return await application({**scope, "user": user}, receive, send)

    return app


async def connect(user, path: str):
    communicator = WebsocketCommunicator(_as(user, URLRouter(websocket_urlpatterns)), path)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def close_code(communicator) -> int:
    """The code of the close the server sends next (fails on anything else)."""
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close", output
    return output.get("code", 1000)
