"""Writing an engine result: trades by COPY (never one ORM object per trade), the
performance summary, and the compact equity curve."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from django.db import connection
from django.utils import timezone

from backtest import equity_codec
from backtest.engine.metrics import METRIC_NAMES
from backtest.engine.types import ENTRY_REASONS, EXIT_REASONS, EngineResult
from backtest.models import Backtest, EquityCurve, PerformanceSummary, Trade

# The performance_summaries columns; every metric is also kept in its `metrics` JSON.
SUMMARY_COLUMNS = tuple(
    field.name for field in PerformanceSummary._meta.concrete_fields if field.name in METRIC_NAMES
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
_COPY_BLOCK_ROWS = 4096
# The tags column as PostgreSQL array text, by exit reason index.
_TAG_ARRAYS = tuple("{" + _EXIT_TAGS.get(reason, "") + "}" for reason in EXIT_REASONS)


def save_results(backtest: Backtest, result: EngineResult) -> None:
    """Write trades, summary and curve (inside the caller's transaction) and set the
    backtest's final balance and data metadata in memory."""
    _copy_trades(backtest.pk, result)
    metrics = result.metrics
    PerformanceSummary.objects.create(
        backtest=backtest,
        metrics=metrics,
        **{name: _column_value(name, metrics.get(name)) for name in SUMMARY_COLUMNS},
    )
    EquityCurve.objects.create(
        backtest=backtest,
        **equity_codec.encode(result.bars.timestamp, result.equity, result.exposure),
    )
    backtest.final_balance = _decimal_or_none(metrics["final_balance"])
    backtest.metadata = {
        **backtest.metadata,
        "bars": len(result.bars),
        "data_start": _iso_from_microseconds(result.bars.timestamp[0]),
        "data_end": _iso_from_microseconds(result.bars.timestamp[-1]),
    }


def _decimal_or_none(value: float | int | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)


def _column_value(name: str, value: float | int | None) -> Decimal | None:
    """A metric for its summary column, or None where it exceeds the column (a Sharpe
    ratio of a nearly flat curve can); the exact figure stays in `metrics`."""
    number = _decimal_or_none(value)
    field = PerformanceSummary._meta.get_field(name)
    if number is None or not hasattr(field, "max_digits"):
        return number
    if abs(number) >= Decimal(10) ** (field.max_digits - field.decimal_places):
        return None
    return number


def _iso_from_microseconds(microseconds: int) -> str:
    return _to_datetime(microseconds).isoformat().replace("+00:00", "Z")


def _to_datetime(microseconds: int) -> datetime:
    return datetime.fromtimestamp(int(microseconds) / 1_000_000, tz=UTC)


def _copy_trades(backtest_id: int, result: EngineResult) -> None:
    """One COPY in text format, its lines built from whole columns: no per-trade
    objects, so tens of thousands of trades take a fraction of a second."""
    trades = result.trades
    if len(trades) == 0:
        return
    timestamps = result.bars.timestamp
    columns = zip(
        utc_text(timestamps[trades.entry_index]),
        trades.entry_price.tolist(),
        utc_text(timestamps[trades.exit_index]),
        trades.exit_price.tolist(),
        trades.quantity.tolist(),
        trades.side.tolist(),
        trades.pnl.tolist(),
        trades.pnl_percentage.tolist(),
        trades.fees.tolist(),
        trades.entry_reason.tolist(),
        trades.exit_reason.tolist(),
        trades.entry_index.tolist(),
        trades.exit_index.tolist(),
        strict=True,
    )
    now = timezone.now().isoformat()
    # Every value is a number, a timestamp or one of our fixed words: nothing to escape.
    lines = (
        f"{backtest_id}\t{entry_at}\t{entry_price!r}\t{exit_at}\t{exit_price!r}\t{quantity!r}\t"
        f"{'long' if side > 0 else 'short'}\t{pnl!r}\t{pnl_pct!r}\t{fees!r}\t"
        f"{_TAG_ARRAYS[exit_reason]}\t{ENTRY_REASONS[entry_reason]}\t{EXIT_REASONS[exit_reason]}\t"
        f'{{"entry_bar": {entry_bar}, "exit_bar": {exit_bar}}}\t{now}\n'
        for (
            entry_at, entry_price, exit_at, exit_price, quantity, side, pnl, pnl_pct, fees,
            entry_reason, exit_reason, entry_bar, exit_bar,
        ) in columns
    )  # fmt: skip
    copy_text_lines(Trade._meta.db_table, _TRADE_COLUMNS, lines)


def copy_text_lines(
    table: str,
    columns: Sequence[str],
    lines: Iterator[str],
    progress: Callable[[int], None] | None = None,
    statement_rows: int = 25_000,
) -> None:
    """COPY rows in PostgreSQL's text format into `table`, inside the caller's
    transaction. Each line ends with a newline; values are tab-separated, NULL is \\N,
    and the caller has escaped what needs it.

    With `progress`, the rows go in COPY statements of `statement_rows` each and
    `progress(rows sent so far)` is called between them: a connection in the middle of
    a COPY takes no other query, so that is where a progress write can go.
    """
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    connection.ensure_connection()
    sent, exhausted = 0, False
    with connection.connection.cursor() as cursor:
        while not exhausted:
            in_statement = 0
            with cursor.copy(sql) as copy:
                # In blocks, so the server parses one while the next is being formatted.
                while progress is None or in_statement < statement_rows:
                    block = list(itertools.islice(lines, _COPY_BLOCK_ROWS))
                    if block:
                        copy.write("".join(block).encode())
                        in_statement += len(block)
                    if len(block) < _COPY_BLOCK_ROWS:
                        exhausted = True
                        break
            sent += in_statement
            if progress is not None and in_statement:
                progress(sent)


def utc_text(microseconds: np.ndarray) -> list[str]:
    """Microseconds since the Unix epoch as ISO 8601 UTC text, for COPY."""
    return [f"{moment}Z" for moment in np.datetime_as_string(microseconds.astype("datetime64[us]"))]
