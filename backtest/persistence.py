"""Writing an engine result: trades by COPY (never one ORM object per trade), the
performance summary, and the compact equity curve."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import psycopg
from django.db import connection
from django.utils import timezone

from backtest import equity_codec
from backtest.engine.types import ENTRY_REASONS, EXIT_REASONS, EngineResult
from backtest.models import Backtest, EquityCurve, PerformanceSummary, Trade

SUMMARY_COLUMNS = (
    "total_trades",
    "winning_trades",
    "losing_trades",
    "win_rate",
    "profit_factor",
    "max_drawdown",
    "max_drawdown_percentage",
    "sharpe_ratio",
    "sortino_ratio",
    "total_pnl",
    "total_pnl_percentage",
    "average_win",
    "average_loss",
    "largest_win",
    "largest_loss",
)
_TRADE_COLUMNS = (
    "backtest_id",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "quantity",
    "side",
    "pnl",
    "pnl_percentage",
    "fees",
    "tags",
    "entry_reason",
    "exit_reason",
    "metadata",
    "created_at",
)
# Tags group exits for filtering: which trades did risk management close?
_EXIT_TAGS = {
    "stop_loss": "risk_exit",
    "take_profit": "risk_exit",
    "trailing_stop": "risk_exit",
    "kill_switch": "risk_exit",
    "end_of_data": "forced_close",
    "reversal": "reversal",
}


def save_results(backtest: Backtest, result: EngineResult) -> None:
    """Write trades, summary and curve (inside the caller's transaction) and set the
    backtest's final balance and data metadata in memory."""
    _copy_trades(backtest.pk, result)
    metrics = result.metrics
    PerformanceSummary.objects.create(
        backtest=backtest,
        metrics=metrics,
        **{name: _decimal_or_none(metrics.get(name)) for name in SUMMARY_COLUMNS},
    )
    EquityCurve.objects.create(
        backtest=backtest,
        **equity_codec.encode(result.bars.timestamp, result.equity, result.exposure),
    )
    backtest.final_balance = _decimal_or_none(metrics["final_balance"])
    backtest.metadata = {
        **backtest.metadata,
        "bars": len(result.bars),
        "data_start": _iso(result.bars.timestamp[0]),
        "data_end": _iso(result.bars.timestamp[-1]),
    }


def _decimal_or_none(value: float | int | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)


def _iso(microseconds: int) -> str:
    return _to_datetime(microseconds).isoformat().replace("+00:00", "Z")


def _to_datetime(microseconds: int) -> datetime:
    return datetime.fromtimestamp(int(microseconds) / 1_000_000, tz=UTC)


def _copy_trades(backtest_id: int, result: EngineResult) -> None:
    trades = result.trades
    if len(trades) == 0:
        return
    timestamps = result.bars.timestamp
    entry_us = timestamps[trades.entry_index]
    exit_us = timestamps[trades.exit_index]
    now = timezone.now()
    sql = f"COPY {Trade._meta.db_table} ({', '.join(_TRADE_COLUMNS)}) FROM STDIN"
    connection.ensure_connection()
    with psycopg.ClientCursor(connection.connection) as cursor, cursor.copy(sql) as copy:
        for i in range(len(trades)):
            exit_reason = EXIT_REASONS[trades.exit_reason[i]]
            tag = _EXIT_TAGS.get(exit_reason)
            entry_bar, exit_bar = int(trades.entry_index[i]), int(trades.exit_index[i])
            copy.write_row(
                (
                    backtest_id,
                    _to_datetime(entry_us[i]),
                    _float(trades.entry_price[i]),
                    _to_datetime(exit_us[i]),
                    _float(trades.exit_price[i]),
                    _float(trades.quantity[i]),
                    "long" if trades.side[i] > 0 else "short",
                    _float(trades.pnl[i]),
                    _float(trades.pnl_percentage[i]),
                    _float(trades.fees[i]),
                    [tag] if tag else [],
                    ENTRY_REASONS[trades.entry_reason[i]],
                    exit_reason,
                    json.dumps({"entry_bar": entry_bar, "exit_bar": exit_bar}),
                    now,
                )
            )


def _float(value: np.floating) -> str:
    # repr keeps every significant digit; numeric rounds to the column's scale
    return repr(float(value))
