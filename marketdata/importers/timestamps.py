"""Candle times from files: epoch numbers in s, ms or µs (detected per file) or ISO 8601.

Binance's spot kline files carry milliseconds up to 2024 and microseconds from 2025 on;
a file is read in the unit of its first row, and a row in another unit is rejected
rather than silently shifted by a factor of a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketdata.importers.batch import RowError

# Magnitude bounds: from 1973 on, seconds exceed 1e8; ms exceed 1e11; µs exceed 1e14.
_UNITS = (
    ("seconds", 1e8, 1e11, 1_000_000),
    ("milliseconds", 1e11, 1e14, 1_000),
    ("microseconds", 1e14, 1e17, 1),
)


@dataclass(frozen=True)
class RawTimes:
    values: np.ndarray  # int64 epoch numbers, or strings
    lines: np.ndarray


def _unit_of(value: float) -> tuple[str, float, float, int] | None:
    return next((u for u in _UNITS if u[1] <= abs(value) < u[2]), None)


def _epoch_to_us(
    numbers: np.ndarray, lines: np.ndarray, label: str, allow_seconds: bool
) -> tuple[np.ndarray, list[RowError]]:
    if len(numbers) == 0:
        return np.empty(0, dtype=np.int64), []
    unit = _unit_of(float(numbers[0]))
    if unit is None or (unit[0] == "seconds" and not allow_seconds):
        expected = (
            "seconds, milliseconds or microseconds"
            if allow_seconds
            else ("milliseconds or microseconds")
        )
        return np.zeros(len(numbers), dtype=np.int64), [
            RowError(int(lines[0]), label, f"{numbers[0]} is not an epoch time in {expected}")
        ] + [
            RowError(int(line), label, "file rejected: first timestamp unreadable")
            for line in lines[1:]
        ]
    name, low, high, factor = unit
    magnitude = np.abs(numbers.astype(np.float64))
    wrong = (magnitude < low) | (magnitude >= high)
    errors = [
        RowError(
            int(lines[i]), label, f"{numbers[i]} is not in {name} like the first row of this file"
        )
        for i in np.flatnonzero(wrong)
    ]
    usable = np.where(wrong, 0, numbers)
    if usable.dtype.kind == "f":  # fractional epochs keep their fraction, to the µs
        return np.round(usable * factor).astype(np.int64), errors
    return usable.astype(np.int64) * factor, errors


def _whole_as_int(numbers: np.ndarray) -> np.ndarray:
    """int64 when every number is whole (exact), float64 otherwise (fractions kept)."""
    if np.all(np.isfinite(numbers)) and np.all(np.mod(numbers, 1) == 0):
        return numbers.astype(np.int64)
    return numbers.astype(np.float64)


def to_epoch_us(raw: RawTimes, label: str, allow_iso: bool) -> tuple[np.ndarray, list[RowError]]:
    """Microseconds since the epoch for each row, and the rows that could not be read.

    A file's first row decides its kind (epoch numbers or ISO 8601 dates); a row of the
    other kind is rejected, saying so.
    """
    values = raw.values
    if values.dtype != object:
        return _epoch_to_us(values, raw.lines, label, allow_seconds=allow_iso)
    if not len(values):
        return np.empty(0, dtype=np.int64), []
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy()
    numeric = ~np.isnan(numbers.astype(np.float64))
    if numeric[0] or not allow_iso:
        return _epoch_rows(values, numbers, numeric, raw.lines, label, allow_iso)
    return _iso_rows(values, numeric, raw.lines, label)


def _epoch_rows(
    values: np.ndarray,
    numbers: np.ndarray,
    numeric: np.ndarray,
    lines: np.ndarray,
    label: str,
    allow_iso: bool,
) -> tuple[np.ndarray, list[RowError]]:
    reason = (
        "is not an epoch number like the first row of this file"
        if allow_iso
        else ("is not an epoch time")
    )
    errors = [
        RowError(int(lines[i]), label, f"{values[i]!r} {reason}") for i in np.flatnonzero(~numeric)
    ]
    micros = np.zeros(len(values), dtype=np.int64)
    if numeric.any():  # the readable rows keep their own times
        micros[numeric], unit_errors = _epoch_to_us(
            _whole_as_int(numbers[numeric].astype(np.float64)),
            lines[numeric],
            label,
            allow_seconds=allow_iso,
        )
        errors = sorted(errors + unit_errors, key=lambda e: e.line)
    return micros, errors


def _iso_rows(
    values: np.ndarray, numeric: np.ndarray, lines: np.ndarray, label: str
) -> tuple[np.ndarray, list[RowError]]:
    parsed = pd.to_datetime(
        pd.Series(values, dtype=object), utc=True, format="ISO8601", errors="coerce"
    )
    bad = parsed.isna().to_numpy() | numeric
    errors = [
        RowError(
            int(lines[i]),
            label,
            f"{values[i]!r} is an epoch number, but the first row of this file is an ISO 8601 date"
            if numeric[i]
            else f"{values[i]!r} is not an ISO 8601 date",
        )
        for i in np.flatnonzero(bad)
    ]
    micros = parsed.where(~bad, pd.Timestamp(0, tz="UTC")).dt.as_unit("us").astype("int64")
    return micros.to_numpy(dtype=np.int64), errors
