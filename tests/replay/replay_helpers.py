"""Candles and transactions for replay tests, written straight to the database (the
importer of transactions is tested on its own)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from backtest.models import Backtest, RunStatus, Trade
from marketdata.importers.batch import CandleBatch
from marketdata.services import get_or_create_series
from marketdata.storage import upsert_candles
from replay.models import TransactionHistory

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def store_candles(
    symbol: str, rows: list[tuple[datetime, float, float, float, float]], timeframe: str = "1m"
) -> None:
    """rows: (open time, open, high, low, close)."""
    times = np.array([int(row[0].timestamp() * 1_000_000) for row in rows], dtype=np.int64)
    count = len(rows)
    batch = CandleBatch(
        timestamp_us=times,
        open=np.array([row[1] for row in rows], dtype=np.float64),
        high=np.array([row[2] for row in rows], dtype=np.float64),
        low=np.array([row[3] for row in rows], dtype=np.float64),
        close=np.array([row[4] for row in rows], dtype=np.float64),
        volume=np.ones(count),
        quote_volume=np.full(count, np.nan),
        trade_count=np.full(count, -1, dtype=np.int64),
        line=np.arange(1, count + 1),
    )
    upsert_candles(get_or_create_series(symbol, timeframe), batch)


def flat_candles(symbol: str, start: datetime, count: int, price: float) -> None:
    """`count` one-minute candles at one price from `start`."""
    store_candles(symbol, [(start + k * MINUTE, price, price, price, price) for k in range(count)])


_serial = iter(range(1, 10**9))


def make_fills(owner, rows: list[dict]) -> list[TransactionHistory]:
    """rows: time, symbol, side, price, quantity and optionally fee, fee_asset."""
    fills = []
    for row in rows:
        metadata = {}
        if "fee" in row:
            metadata = {"fee": str(row["fee"]), "fee_asset": row["fee_asset"]}
        fills.append(
            TransactionHistory(
                owner=owner,
                transaction_time=row["time"],
                symbol=row.get("symbol", "BTCUSDT"),
                side=row["side"],
                price=Decimal(str(row["price"])),
                quantity=Decimal(str(row["quantity"])),
                transaction_id=f"t{next(_serial)}",
                metadata=metadata,
            )
        )
    return TransactionHistory.objects.bulk_create(fills)


def make_backtest(owner) -> Backtest:
    """1m BTCUSDT over one hour from T0: a long trade 10→30 min (+5), a short 40→50
    (-2)."""
    backtest = Backtest.objects.create(
        owner=owner,
        strategy_snapshot={"name": "hand-made"},
        symbol="BTCUSDT",
        timeframe="1m",
        initial_balance=Decimal(1000),
        parameters={},
        reproducibility_hash="0" * 64,
        status=RunStatus.COMPLETED,
        metadata={
            "data_start": T0.isoformat(),
            "data_end": (T0 + timedelta(minutes=59)).isoformat(),
        },
    )
    for entry, exit_, side, pnl in ((10, 30, "long", 5), (40, 50, "short", -2)):
        Trade.objects.create(
            backtest=backtest,
            entry_time=at(entry),
            entry_price=Decimal(100),
            exit_time=at(exit_),
            exit_price=Decimal(100),
            quantity=Decimal(1),
            side=side,
            pnl=Decimal(pnl),
        )
    return backtest
