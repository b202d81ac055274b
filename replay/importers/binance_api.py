"""Binance's account trade list (GET /api/v3/myTrades, python-binance's `get_my_trades`):
trades of one symbol, paged by trade id.

Each trade becomes one fill: `isBuyer` gives the side; `isMaker` true means the order
rested on the book, so it was a limit order (`limit`, type_known true); a taker fill
may have been a market order or a limit order that crossed the book, so it is `market`
with type_known false. The trade id is the transaction id; commission and its asset
are the fee; the order id, quoteQty and the maker and buyer flags go into the metadata
beside the trade as Binance sent it (the fields the client reads).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import numpy as np

from accounts.binance_signed import AccountTrade, BinanceRateLimited, BinanceSignedClient
from marketdata.binance_client import BinanceUnavailable
from replay.importers.fills import Fills, json_booleans, json_objects, json_strings

logger = logging.getLogger(__name__)

ATTEMPTS = 3  # per page: Binance's rate limits and outages get two more chances
LONGEST_WAIT_SECONDS = 30.0  # a longer Retry-After (an IP ban) fails the fetch instead


def fills_from_trades(trades: list[AccountTrade], symbol: str) -> Fills:
    def decimal_text(value) -> str:
        return format(value.normalize(), "f")

    rows = len(trades)
    raw = json_objects(
        {
            "id": _objects(str(t.id) for t in trades),
            "orderId": _objects(str(t.order_id) for t in trades),
            "symbol": json_strings([t.symbol for t in trades]),
            "price": json_strings([str(t.price) for t in trades]),
            "qty": json_strings([str(t.qty) for t in trades]),
            "quoteQty": json_strings([str(t.quote_qty) for t in trades]),
            "commission": json_strings([str(t.commission) for t in trades]),
            "commissionAsset": json_strings([t.commission_asset for t in trades]),
            "time": _objects(str(t.time) for t in trades),
            "isBuyer": json_booleans([t.is_buyer for t in trades]),
            "isMaker": json_booleans([t.is_maker for t in trades]),
        },
        rows,
    )
    fees = [decimal_text(t.commission) for t in trades]
    fee_assets = [t.commission_asset for t in trades]
    metadata = json_objects(
        {
            "fee": json_strings(fees),
            "fee_asset": json_strings(fee_assets),
            "type_known": json_booleans([t.is_maker for t in trades]),
            "order_id": _objects(str(t.order_id) for t in trades),
            "quote_quantity": json_strings([decimal_text(t.quote_qty) for t in trades]),
            "is_maker": json_booleans([t.is_maker for t in trades]),
            "is_buyer": json_booleans([t.is_buyer for t in trades]),
            "raw": raw,
        },
        rows,
    )
    return Fills(
        line=np.zeros(rows, dtype=np.int64),
        time_us=np.asarray([t.time for t in trades], dtype=np.int64) * 1_000,
        symbol=np.full(rows, symbol, dtype=object),
        side=_objects("buy" if t.is_buyer else "sell" for t in trades),
        transaction_type=_objects("limit" if t.is_maker else "market" for t in trades),
        price=_objects(decimal_text(t.price) for t in trades),
        quantity=_objects(decimal_text(t.qty) for t in trades),
        fee=_objects(fees),
        fee_asset=_objects(fee_assets),
        transaction_id=_objects(str(t.id) for t in trades),
        metadata=metadata,
        rows_total=rows,
    )


def _objects(values) -> np.ndarray:
    return np.asarray(list(values), dtype=object)


def trade_pages(
    client: BinanceSignedClient,
    symbol: str,
    page_size: int,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[list[AccountTrade]]:
    """The symbol's trades from its first on, a page at a time (fromId = last id + 1),
    until a page comes back short. Trade ids are the only way through Binance's list
    without gaps: its time filter spans at most a day per request."""
    from_id = 0
    while True:
        page = _page(client, symbol, from_id, page_size, sleep)
        if page:
            yield page
        if len(page) < page_size:
            return
        from_id = page[-1].id + 1


def _page(
    client: BinanceSignedClient,
    symbol: str,
    from_id: int,
    page_size: int,
    sleep: Callable[[float], None],
) -> list[AccountTrade]:
    attempt = 1
    while True:
        try:
            return client.my_trades(symbol, from_id=from_id, limit=page_size)
        except BinanceUnavailable as exc:
            wait = exc.retry_after if isinstance(exc, BinanceRateLimited) else None
            if attempt == ATTEMPTS or (wait or 0) > LONGEST_WAIT_SECONDS:
                raise
            wait = wait if wait is not None else 2.0 ** (attempt - 1)
            logger.info("%s trades from id %s: %s; again in %.0f s", symbol, from_id, exc, wait)
            sleep(wait)
            attempt += 1
