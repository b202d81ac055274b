"""Checks a candle must pass before it is stored; each failure names line and field."""

from __future__ import annotations

import numpy as np

from marketdata.importers.batch import CandleBatch, RowError
from marketdata.timeframes import Timeframe

_US_PER_S = 1_000_000


def _aligned(timestamp_us: np.ndarray, timeframe: Timeframe) -> np.ndarray:
    if timeframe.is_calendar_month or timeframe.code == "1w":
        moments = timestamp_us.astype("datetime64[us]")
        if timeframe.is_calendar_month:
            return moments == moments.astype("datetime64[M]").astype("datetime64[us]")
        days = moments.astype("datetime64[D]")
        # 1970-01-01 was a Thursday; Binance's weeks open on Monday.
        monday = (days.astype(np.int64) - 4) % 7 == 0
        return monday & (moments == days.astype("datetime64[us]"))
    return timestamp_us % (timeframe.seconds * _US_PER_S) == 0


def _rule_errors(batch: CandleBatch, timeframe: Timeframe) -> list[tuple[np.ndarray, str, str]]:
    """(bad-row mask, field, reason) for each rule."""
    rules: list[tuple[np.ndarray, str, str]] = []
    for name in (*CandleBatch.PRICE_FIELDS, "volume"):
        rules.append((~np.isfinite(getattr(batch, name)), name, "not a finite number"))
    for name in CandleBatch.PRICE_FIELDS:
        rules.append((getattr(batch, name) <= 0, name, "price must be greater than 0"))
    rules.append((batch.volume < 0, "volume", "negative volume"))
    rules.append((batch.quote_volume < 0, "quote_volume", "negative quote volume"))
    rules.append((batch.trade_count < -1, "trade_count", "negative trade count"))
    ceiling = np.maximum(batch.open, batch.close)
    floor = np.minimum(batch.open, batch.close)
    rules.append((batch.high < ceiling, "high", "high is below max(open, close)"))
    rules.append((batch.low > floor, "low", "low is above min(open, close)"))
    rules.append(
        (
            ~_aligned(batch.timestamp_us, timeframe),
            "timestamp",
            f"not the open time of a {timeframe.code} candle",
        )
    )
    return rules


def _duplicate_errors(batch: CandleBatch) -> list[RowError]:
    order = np.argsort(batch.timestamp_us, kind="stable")
    ts_sorted = batch.timestamp_us[order]
    repeats = np.flatnonzero(ts_sorted[1:] == ts_sorted[:-1]) + 1
    errors = []
    for position in repeats:
        first = position - 1
        while first > 0 and ts_sorted[first - 1] == ts_sorted[position]:
            first -= 1
        errors.append(
            RowError(
                int(batch.line[order[position]]),
                "timestamp",
                f"duplicate timestamp, first seen on line {int(batch.line[order[first]])}",
            )
        )
    return errors


def validate(
    batch: CandleBatch, timeframe: Timeframe, labels: dict[str, str] | None = None
) -> CandleBatch:
    """The valid rows of `batch`, with every rejected row added to its rejects.

    `labels` maps a field to the column name the user knows (the file's header), so
    errors name columns the way the parser's errors do.
    """
    labels = labels or {}
    errors: list[RowError] = []
    bad = np.zeros(len(batch), dtype=bool)
    for mask, field, reason in _rule_errors(batch, timeframe):
        if mask.any():
            bad |= mask
            label = labels.get(field, field)
            errors.extend(RowError(int(line), label, reason) for line in batch.line[mask])
    duplicates = _duplicate_errors(batch)
    if duplicates:
        bad |= np.isin(batch.line, [e.line for e in duplicates])
        label = labels.get("timestamp", "timestamp")
        errors.extend(RowError(e.line, label, e.reason) for e in duplicates)
    valid = batch.select(~bad) if errors else batch
    valid.rejects = sorted(batch.rejects + errors, key=lambda e: (e.line, e.field))
    return valid
