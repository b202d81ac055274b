"""The candle file formats Central reads, and how a file's format is recognised.

- `binance`: Binance's public kline files (data.binance.vision): 12 columns, no header
  (a header row, as some newer files carry, is recognised and skipped): open_time, open,
  high, low, close, volume, close_time, quote_volume, trades, taker_buy_base,
  taker_buy_quote, ignore.
- `ohlcv`: a CSV with a header naming Date/Open/High/Low/Close/Volume in any case (plus
  optional quote volume and trade count); dates are ISO 8601 strings or epoch numbers.
"""

from __future__ import annotations

import csv
import io

from marketdata.importers.errors import ImportFileError
from marketdata.importers.tabular import Column, Layout

FORMATS = ("auto", "binance", "ohlcv")

BINANCE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_base_volume",
    "taker_buy_quote_volume",
    "ignore",
)
# The header row data.binance.vision writes in newer files (it calls the trade count "count").
_BINANCE_HEADERS = (
    BINANCE_COLUMNS,
    tuple(
        {"trades": "count", "taker_buy_base_volume": "taker_buy_volume"}.get(name, name)
        for name in BINANCE_COLUMNS
    ),
)
_BINANCE_FIELDS = {
    "open_time": "timestamp",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "quote_volume": "quote_volume",
    "trades": "trade_count",
}

# Header names accepted for each field of the generic format (compared in lower case).
OHLCV_HEADER_NAMES = {
    "timestamp": ("date", "datetime", "time", "timestamp", "open_time", "open time"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
    "quote_volume": ("quote_volume", "quote volume", "quote asset volume", "quote_asset_volume"),
    "trade_count": ("trades", "trade_count", "number of trades", "number_of_trades"),
}
OHLCV_REQUIRED = ("timestamp", "open", "high", "low", "close", "volume")


def _first_line(data: bytes) -> list[str]:
    head = data[:4096].decode("utf-8-sig", errors="replace").splitlines()
    if not head or not head[0].strip():
        raise ImportFileError("the file is empty or starts with an empty line")
    return next(csv.reader(io.StringIO(head[0])))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_binance_header(cells: list[str]) -> bool:
    return tuple(cell.strip().lower() for cell in cells) in _BINANCE_HEADERS


def detect_format(data: bytes) -> str:
    first = _first_line(data)
    if len(first) == len(BINANCE_COLUMNS) and _is_number(first[0]):
        return "binance"
    if _is_binance_header(first):
        return "binance"
    names = {cell.strip().lower() for cell in first}
    if {"open", "high", "low", "close"} <= names:
        return "ohlcv"
    raise ImportFileError(
        "unrecognised format: expected Binance's 12-column kline file or a CSV with a "
        "Date,Open,High,Low,Close,Volume header (name the format to say which)"
    )


def binance_layout(data: bytes) -> Layout:
    first = _first_line(data)
    has_header = not _is_number(first[0]) if first else False
    if has_header and not _is_binance_header(first):
        raise ImportFileError(
            f"line 1: {first[0]!r} is not a kline open time and the header is not Binance's "
            f"({', '.join(BINANCE_COLUMNS)})"
        )
    columns = tuple(
        Column(field, BINANCE_COLUMNS.index(name), name) for name, field in _BINANCE_FIELDS.items()
    )
    return Layout(columns, len(BINANCE_COLUMNS), 1 if has_header else 0, "epoch")


def ohlcv_layout(data: bytes) -> Layout:
    header = [cell.strip() for cell in _first_line(data)]
    lowered = [cell.lower() for cell in header]
    columns = []
    for field, names in OHLCV_HEADER_NAMES.items():
        matches = [i for i, cell in enumerate(lowered) if cell in names]
        if len(matches) > 1:
            repeated = ", ".join(header[i] for i in matches)
            raise ImportFileError(f"header: columns {repeated} all name the {field} field")
        if matches:
            columns.append(Column(field, matches[0], header[matches[0]]))
        elif field in OHLCV_REQUIRED:
            raise ImportFileError(f"header: no {field} column (accepted names: {', '.join(names)})")
    return Layout(tuple(columns), len(header), 1, "epoch_or_iso")


def layout_for(data: bytes, fmt: str) -> Layout:
    if fmt not in FORMATS:
        raise ImportFileError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(data)
    return binance_layout(data) if fmt == "binance" else ohlcv_layout(data)
