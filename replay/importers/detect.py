"""Which format a transaction file is in, from its header."""

from __future__ import annotations

from marketdata.importers.errors import ImportFileError
from replay.importers import binance_trades, generic
from replay.models import ImportFormat

FILE_FORMATS = (ImportFormat.BINANCE_TRADES.value, ImportFormat.GENERIC.value)
FORMAT_CHOICES = ("auto", *FILE_FORMATS)


def detect_format(header: list[str], mapping: dict[str, str]) -> str:
    """binance_trades for Binance's export header; generic when a mapping is given or
    the header names every required field; anything else cannot be read."""
    if binance_trades.is_binance_header(header) and not mapping:
        return ImportFormat.BINANCE_TRADES.value
    if mapping or not generic.missing_required(header):
        return ImportFormat.GENERIC.value
    raise ImportFileError(
        f"line 1: unrecognised header ({', '.join(header)}): expected Binance's trade-history "
        f"export ({','.join(binance_trades.HEADER)}) or a CSV with columns for "
        f"{', '.join(generic.REQUIRED)} (missing: {', '.join(generic.missing_required(header))}; "
        "a mapping names other columns, e.g. time=Executed At)"
    )
