"""Fixture files and small helpers for the transaction import tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from replay.models import ImportBatch, TransactionHistory

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BINANCE_EXPORT = FIXTURES / "binance_trades.csv"
BINANCE_EXPORT_BAD = FIXTURES / "binance_trades_bad.csv"
GENERIC = FIXTURES / "generic.csv"
GENERIC_MAPPED = FIXTURES / "generic_mapped.csv"
GENERIC_MAPPING = "time=When,symbol=Contract,side=B/S,price=Px,quantity=Lots,fee_asset=Commission Currency,id=Fill"  # noqa: E501

# The rejects of binance_trades_bad.csv, in order.
BAD_EXPORT_REJECTS = [
    {"line": 4, "field": "price", "reason": "'abc' is not a number"},
    {"line": 5, "field": "side", "reason": "'HOLD' is not a side (buy or sell)"},
    {"line": 6, "field": "row", "reason": "expected 7 columns, found 5"},
    {
        "line": 7,
        "field": "quantity",
        "reason": "the assets of '0.00100000ETH' and '42.21000000USDT' do not make the pair "
        "BTCUSDT (column Executed)",
    },
]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def fills_of(owner) -> list[TransactionHistory]:
    return list(TransactionHistory.objects.filter(owner=owner).order_by("transaction_time", "id"))


def table_counts() -> tuple[int, int]:
    return TransactionHistory.objects.count(), ImportBatch.objects.count()


def as_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
