"""A backtest's results as plain data: the CLI summary, the JSON report, the CSV trades.

Figures are JSON numbers (floats) in the summary, as the metrics were computed; trade
prices and money keep their stored Decimal precision as strings in the reports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from backtest.models import Backtest, PerformanceSummary
from backtest.selectors import backtest_trades

TRADE_CSV_COLUMNS = (
    "entry_time",
    "exit_time",
    "side",
    "quantity",
    "entry_price",
    "exit_price",
    "pnl",
    "pnl_percentage",
    "fees",
    "entry_reason",
    "exit_reason",
    "tags",
)


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def summary_metrics(backtest: Backtest) -> dict:
    try:
        return dict(backtest.performance_summary.metrics)
    except PerformanceSummary.DoesNotExist:
        return {}


def backtest_summary(backtest: Backtest) -> dict:
    """The run and every metric, flat, with the performance_summaries field names."""
    metadata = backtest.metadata or {}
    return {
        "backtest_id": backtest.pk,
        "status": backtest.status,
        "error": backtest.error,
        "strategy": backtest.strategy_snapshot.get("name"),
        "strategy_id": backtest.strategy_id,
        "symbol": backtest.symbol,
        "timeframe": backtest.timeframe,
        "source": backtest.source,
        "start": _iso(backtest.start_time),
        "end": _iso(backtest.end_time),
        "bars": metadata.get("bars"),
        "data_start": metadata.get("data_start"),
        "data_end": metadata.get("data_end"),
        "initial_balance": float(backtest.initial_balance),
        "parameters": backtest.parameters,
        "reproducibility_hash": backtest.reproducibility_hash,
        "duration_seconds": backtest.duration_seconds,
        "timings": metadata.get("timings"),
        **summary_metrics(backtest),
        "final_balance": (
            float(backtest.final_balance) if backtest.final_balance is not None else None
        ),
    }


def _trade_rows(backtest: Backtest) -> Iterator[tuple]:
    yield from backtest_trades(backtest).values_list(*TRADE_CSV_COLUMNS).iterator(2000)


def trade_dicts(backtest: Backtest) -> Iterator[dict]:
    for row in _trade_rows(backtest):
        trade = dict(zip(TRADE_CSV_COLUMNS, row, strict=True))
        trade["entry_time"] = _iso(trade["entry_time"])
        trade["exit_time"] = _iso(trade["exit_time"])
        for name in ("quantity", "entry_price", "exit_price", "pnl", "pnl_percentage", "fees"):
            if trade[name] is not None:
                trade[name] = str(trade[name])
        yield trade


def json_report(backtest: Backtest) -> dict:
    return {"summary": backtest_summary(backtest), "trades": list(trade_dicts(backtest))}


def csv_report_lines(backtest: Backtest) -> Iterator[str]:
    """The trades as CSV, one line at a time (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(TRADE_CSV_COLUMNS)
    for trade in trade_dicts(backtest):
        trade["tags"] = " ".join(trade["tags"])
        yield line(trade[name] for name in TRADE_CSV_COLUMNS)
