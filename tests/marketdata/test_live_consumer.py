"""Live candles over WebSocket (`/ws/market/<symbol>/<timeframe>/`), through the real Redis
channel layer: who may watch, which series, and what `publish_candle` delivers."""

from datetime import UTC, datetime

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from marketdata.live import candle_group, candle_message, publish_candle
from marketdata.services import InvalidParameter
from tests.ws import close_code, connect

OPEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FORMING = {"time": OPEN, "open": "60000.5", "high": "60100", "low": "59950", "close": "60050.25",
           "volume": "12.5"}  # fmt: skip


def test_groups_name_the_normalised_series_and_refuse_bad_ones():
    assert candle_group("btc/usdt", "1m") == "market.BTCUSDT.1m"
    assert candle_group("ETHUSDT", "1M") == "market.ETHUSDT.1M"
    with pytest.raises(InvalidParameter, match="timeframe"):
        candle_group("BTCUSDT", "7m")
    with pytest.raises(InvalidParameter, match="symbol"):
        candle_group("BTC USDT!", "1m")


def test_a_candle_message_has_floats_and_a_utc_open_time_in_any_input_form():
    expected = {
        "type": "market.candle",
        "symbol": "BTCUSDT",
        "timeframe": "1m",
        "closed": False,
        "candle": {"time": "2024-05-01T12:00:00Z", "open": 60000.5, "high": 60100.0,
                   "low": 59950.0, "close": 60050.25, "volume": 12.5},
    }  # fmt: skip
    assert candle_message("BTCUSDT", "1m", FORMING, closed=False) == expected
    epoch_ms = {**FORMING, "time": int(OPEN.timestamp() * 1000)}
    assert candle_message("btcusdt", "1m", epoch_ms, closed=False) == expected
    iso = {**FORMING, "time": "2024-05-01T14:00:00+02:00"}
    assert candle_message("BTCUSDT", "1m", iso, closed=False) == expected
    with pytest.raises(KeyError, match="volume"):
        candle_message("BTCUSDT", "1m", {k: v for k, v in FORMING.items() if k != "volume"}, True)


def test_anonymous_visitors_are_refused_after_the_handshake(transactional_db):
    async def scenario():
        communicator, connected, _ = await connect(AnonymousUser(), "/ws/market/BTCUSDT/1m/")
        assert connected  # accepted first, so a browser's close event carries the code
        assert await close_code(communicator) == 4403

    async_to_sync(scenario)()


@pytest.mark.parametrize("path", ["/ws/market/BTCUSDT/7m/", "/ws/market/B$T/1m/"])
def test_a_bad_timeframe_or_symbol_is_refused(viewer, path):
    async def scenario():
        communicator, connected, _ = await connect(viewer, path)
        assert connected
        assert await close_code(communicator) == 4400

    async_to_sync(scenario)()


def test_a_signed_in_user_gets_the_candles_of_its_series_and_no_other(viewer):
    """A viewer (no permission at all) may watch: candles are reference data."""

    async def scenario():
        communicator, connected, _ = await connect(viewer, "/ws/market/btcusdt/1m/")
        assert connected
        # The subscription is confirmed once the group is joined: nothing after it is lost.
        hello = await communicator.receive_json_from(timeout=5)
        assert hello == {"type": "market.subscribed", "symbol": "BTCUSDT", "timeframe": "1m"}

        # Other series first: if they leaked, they would arrive before ours.
        publish_candle("ETHUSDT", "1m", FORMING, closed=False)
        publish_candle("BTCUSDT", "5m", FORMING, closed=False)
        publish_candle("BTCUSDT", "1m", FORMING, closed=False)
        publish_candle("BTCUSDT", "1m", {**FORMING, "close": "60070"}, closed=True)

        forming = await communicator.receive_json_from(timeout=5)
        assert forming == candle_message("BTCUSDT", "1m", FORMING, closed=False)
        closed = await communicator.receive_json_from(timeout=5)
        assert closed["closed"] is True and closed["candle"]["close"] == 60070.0
        assert (closed["symbol"], closed["timeframe"]) == ("BTCUSDT", "1m")
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    async_to_sync(scenario)()
    # After leaving, the socket's channel is out of the group (its Redis sorted set).
    key = get_channel_layer()._group_key(candle_group("BTCUSDT", "1m"))
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        assert client.zcard(key) == 0
