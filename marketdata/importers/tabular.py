"""Turning CSV bytes into a CandleBatch, by column layout.

Two paths give the same result. The fast path hands the whole file to pandas' C parser
and is taken only when the file is provably regular (every line has the expected number
of separators and parses as numbers), so line numbers stay exact. Anything irregular goes
through the careful path, which reads row by row and names each bad line and field.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from marketdata.importers.batch import CandleBatch, RowError
from marketdata.importers.errors import ImportFileError
from marketdata.importers.timestamps import RawTimes, to_epoch_us

FLOAT_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume")
OPTIONAL_FIELDS = ("quote_volume", "trade_count")


@dataclass(frozen=True)
class Column:
    field: str  # our name: timestamp, open, high, low, close, volume, quote_volume, trade_count
    index: int  # position in the row
    label: str  # the column's name as the user knows it, for error messages


@dataclass(frozen=True)
class Layout:
    columns: tuple[Column, ...]
    width: int  # number of fields every row must have
    header_lines: int
    time_kind: Literal["epoch", "epoch_or_iso"]

    def column(self, field: str) -> Column | None:
        return next((c for c in self.columns if c.field == field), None)

    @property
    def labels(self) -> dict[str, str]:
        """Our field name -> the column's name in the file, for error messages."""
        return {c.field: c.label for c in self.columns}


def parse_rows(data: bytes, layout: Layout) -> CandleBatch:
    chunks = fast_chunks(data, layout)
    if chunks is not None:
        try:
            return CandleBatch.concat(list(chunks))
        except IrregularFile:
            pass
    return _parse_careful(data, layout)


# --- fast path ----------------------------------------------------------------------

FAST_CHUNK_ROWS = 131_072


class IrregularFile(Exception):
    """The fast path met something it does not read exactly; the careful path will."""


def _line_count(data: bytes) -> int:
    lines = data.count(b"\n")
    return lines + (0 if data.endswith(b"\n") or not data else 1)


def fast_chunks(
    data: bytes, layout: Layout, rows_per_chunk: int | None = None
) -> Iterator[CandleBatch] | None:
    """The file in order, a chunk at a time, when it is provably regular (None if not).

    Iterating raises IrregularFile on anything the C parser does not read exactly.
    """
    rows = _line_count(data) - layout.header_lines
    if rows <= 0 or b'"' in data or b"\r" in data:
        return None
    separators = data.count(b",")
    if separators != (rows + layout.header_lines) * (layout.width - 1):
        return None  # some line has too many or too few fields
    return _read_chunks(data, layout, rows, rows_per_chunk or FAST_CHUNK_ROWS)


def end_rows_range(data: bytes, layout: Layout) -> tuple[int, int] | None:
    """Open times (µs) of the first and last data rows, lowest first; None if unreadable.

    For the usual sorted file this is the file's whole range, found without parsing it.
    """
    lines = data.rstrip(b"\n").split(b"\n", layout.header_lines + 1)
    if len(lines) <= layout.header_lines:
        return None
    head = b"\n".join(lines[: layout.header_lines + 1])
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    ends = _parse_careful(head + b"\n" + last + b"\n", layout)
    if ends.rejects or len(ends) == 0:
        return None
    return int(ends.timestamp_us.min()), int(ends.timestamp_us.max())


def _read_chunks(
    data: bytes, layout: Layout, rows: int, rows_per_chunk: int
) -> Iterator[CandleBatch]:
    dtypes: dict[int, object] = {}
    for col in layout.columns:
        if col.field == "timestamp":
            dtypes[col.index] = np.int64 if layout.time_kind == "epoch" else str
        elif col.field == "trade_count":
            dtypes[col.index] = np.int64
        else:
            dtypes[col.index] = np.float64
    first_line, seen = layout.header_lines + 1, 0
    try:
        reader = pd.read_csv(
            io.BytesIO(data),
            header=None,
            skiprows=layout.header_lines,
            usecols=list(dtypes),
            dtype=dtypes,
            engine="c",
            skip_blank_lines=False,
            chunksize=rows_per_chunk,
        )
        with reader:
            for frame in reader:
                lines = np.arange(first_line + seen, first_line + seen + len(frame), dtype=np.int64)
                seen += len(frame)
                raw_time = frame[layout.column("timestamp").index].to_numpy()
                values = {
                    col.field: frame[col.index].to_numpy()
                    for col in layout.columns
                    if col.field != "timestamp"
                }
                yield _assemble(RawTimes(raw_time, lines), values, lines, [], layout)
    except (ValueError, pd.errors.ParserError) as exc:
        raise IrregularFile(str(exc)) from exc
    if seen != rows:
        raise IrregularFile(f"read {seen} rows of {rows}")


# --- careful path -------------------------------------------------------------------


def _parse_careful(data: bytes, layout: Layout) -> CandleBatch:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # The whole file is unreadable, not one row: even skip_invalid cannot go on.
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(f"line {line}: not UTF-8 text ({exc.reason})") from None
    rejects: list[RowError] = []
    times: list[str] = []
    lines: list[int] = []
    values: dict[str, list] = {c.field: [] for c in layout.columns if c.field != "timestamp"}
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        line = reader.line_num
        if line <= layout.header_lines:
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            rejects.append(RowError(line, "row", "empty line"))
            continue
        if len(row) != layout.width:
            rejects.append(
                RowError(line, "row", f"expected {layout.width} columns, found {len(row)}")
            )
            continue
        parsed, errors = _parse_row(row, line, layout)
        if errors:
            rejects.extend(errors)
            continue
        times.append(row[layout.column("timestamp").index].strip())
        lines.append(line)
        for name, value in parsed.items():
            values[name].append(value)
    line_array = np.asarray(lines, dtype=np.int64)
    raw_time = np.asarray(times, dtype=object)
    arrays = {
        name: np.asarray(vals, dtype=np.int64 if name == "trade_count" else np.float64)
        for name, vals in values.items()
    }
    return _assemble(RawTimes(raw_time, line_array), arrays, line_array, rejects, layout)


def _parse_row(row: list[str], line: int, layout: Layout) -> tuple[dict, list[RowError]]:
    parsed: dict[str, float | int] = {}
    errors: list[RowError] = []
    for col in layout.columns:
        if col.field == "timestamp":
            continue
        raw = row[col.index].strip()
        if raw == "" and col.field in OPTIONAL_FIELDS:
            parsed[col.field] = -1 if col.field == "trade_count" else float("nan")
            continue
        try:
            parsed[col.field] = int(raw) if col.field == "trade_count" else float(raw)
        except ValueError:
            kind = "an integer" if col.field == "trade_count" else "a number"
            errors.append(RowError(line, col.label, f"{raw!r} is not {kind}"))
    return parsed, errors


# --- shared -------------------------------------------------------------------------


def _assemble(
    raw_times: RawTimes,
    values: dict[str, np.ndarray],
    lines: np.ndarray,
    rejects: list[RowError],
    layout: Layout,
) -> CandleBatch:
    label = layout.column("timestamp").label
    timestamp_us, time_errors = to_epoch_us(raw_times, label, allow_iso=layout.time_kind != "epoch")
    rejects = rejects + time_errors
    n = len(lines)
    arrays = {
        "timestamp_us": timestamp_us,
        "quote_volume": np.full(n, np.nan),
        "trade_count": np.full(n, -1, dtype=np.int64),
        **values,
        "line": lines,
    }
    batch = CandleBatch(**arrays, rejects=rejects)
    if time_errors:
        bad_lines = np.asarray([e.line for e in time_errors], dtype=np.int64)
        batch = batch.select(~np.isin(lines, bad_lines))
    return batch
