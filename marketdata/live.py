"""Live candles for browsers: the channel-layer group of each series and how to publish to it.

The stream process (`stream_market`) calls `publish_candle` for every kline Binance
sends, forming or closed; `marketdata.consumers.MarketCandleConsumer` forwards what
reaches the group to each browser watching `/ws/market/<symbol>/<timeframe>/`.

Publishing goes through `central.channel_publisher` rather than a bare
`async_to_sync(layer.group_send)`: that would open a Redis connection per call (about
12 ms) and raise when called from a thread running an event loop, as a WebSocket
client's is. The publisher keeps one connection on its own thread, sends in order and
never makes the caller wait, so a slow or absent Redis cannot stall the stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from central.channel_publisher import publish
from marketdata.services import check_timeframe, normalise_symbol

MESSAGE_TYPE = "market.candle"
_PRICE_FIELDS = ("open", "high", "low", "close", "volume")


def candle_group(symbol: str, timeframe: str) -> str:
    """The group of one series' live candles, e.g. "market.BTCUSDT.1m".

    The symbol is normalised ('btc/usdt' names BTCUSDT) and the timeframe checked, so a
    publisher and a watcher spelling the series differently still meet; a bad one raises
    `marketdata.services.InvalidParameter` naming it. Live candles are Binance's, so the
    group has no source: they belong to the series of the default source.
    """
    return f"market.{normalise_symbol(symbol)}.{check_timeframe(timeframe)}"


def _iso_utc(moment: datetime | str | int) -> str:
    """An open time as ISO 8601 UTC with "Z", to the second (as the REST API gives it).
    Accepts a datetime (naive means UTC), an ISO string or Binance's epoch milliseconds."""
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment / 1000, tz=UTC)
    elif isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def candle_message(symbol: str, timeframe: str, candle: Mapping[str, Any], closed: bool) -> dict:
    """The message for one kline: numbers as floats (Binance sends decimal strings),
    the open time as ISO 8601 UTC. Raises ValueError/KeyError naming a bad candle."""
    try:
        prices = {name: float(candle[name]) for name in _PRICE_FIELDS}
    except KeyError as exc:
        raise KeyError(f"live candle without {exc.args[0]!r}: {dict(candle)!r}") from None
    return {
        "type": MESSAGE_TYPE,
        "symbol": normalise_symbol(symbol),
        "timeframe": check_timeframe(timeframe),
        "closed": bool(closed),
        "candle": {"time": _iso_utc(candle["time"]), **prices},
    }


def publish_candle(symbol: str, timeframe: str, candle: Mapping[str, Any], closed: bool) -> None:
    """Send a forming (closed=False) or closed candle to the series' watchers.

    `candle` has `time` (the open time: datetime, ISO string or epoch ms) and `open`,
    `high`, `low`, `close`, `volume` (numbers or decimal strings). Returns at once; a
    message that cannot be delivered is logged by the publisher, never raised here.
    """
    message = candle_message(symbol, timeframe, candle, closed)
    publish(candle_group(message["symbol"], message["timeframe"]), message)
