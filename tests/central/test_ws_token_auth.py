"""WebSockets through the real ASGI stack: API tokens sign programs in by header."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from backtest.models import Backtest

pytestmark = pytest.mark.django_db(transaction=True)


def backtest_of(owner) -> Backtest:
    return Backtest.objects.create(
        owner=owner,
        strategy_snapshot={"name": "s", "entry_rules": {}, "exit_rules": {}, "config": {}},
        symbol="BTCUSDT",
        timeframe="1h",
        initial_balance=1000,
        parameters={},
        reproducibility_hash="0" * 64,
    )


def first_frame(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    from central.asgi import application

    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        output = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return output

    return async_to_sync(scenario)()


def test_a_token_header_signs_the_owner_in(settings, analyst, make_user):
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    backtest = backtest_of(analyst)
    origin = [(b"origin", b"http://localhost")]
    token = Token.objects.create(user=analyst).key
    frame = first_frame(
        f"/ws/backtests/{backtest.pk}/", [*origin, (b"authorization", f"Token {token}".encode())]
    )
    assert frame["type"] == "websocket.send" and f'"id": {backtest.pk}' in frame["text"]

    stranger = Token.objects.create(user=make_user("eve", role="analyst")).key
    refused = first_frame(
        f"/ws/backtests/{backtest.pk}/", [*origin, (b"authorization", f"Token {stranger}".encode())]
    )
    assert refused == {"type": "websocket.close", "code": 4403}
    # a named API token (accounts.ApiToken) works the same way
    from accounts.tokens import create_token

    _, key = create_token(analyst, "ws")
    named = first_frame(
        f"/ws/backtests/{backtest.pk}/", [*origin, (b"authorization", f"Token {key}".encode())]
    )
    assert named["type"] == "websocket.send"
    for header in (b"Token not-a-key", b"Token ct_not-a-key", b"Bearer whatever"):
        anonymous = first_frame(
            f"/ws/backtests/{backtest.pk}/", [*origin, (b"authorization", header)]
        )
        assert anonymous == {"type": "websocket.close", "code": 4403}
