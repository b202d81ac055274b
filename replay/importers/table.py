"""CSV bytes into columns of text, each row keeping the line it starts on.

Two paths give the same result. The fast one first scans the bytes with numpy: quotes,
commas and line ends, so it knows every record's width and the line it starts on
(quoted fields may hold commas, `"1,234.5USDT"`, or even line ends); when every row has
the header's width, pandas' C parser reads the values. Anything else (a row too wide or
too narrow, an empty line, bare carriage returns) goes through Python's csv module,
which reports each such row by line. Every other check runs on whole columns (see
`replay.normalise`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketdata.importers.batch import RowError
from marketdata.importers.errors import ImportFileError

_QUOTE, _COMMA, _NEWLINE, _RETURN = (ord(c) for c in '",\n\r')


@dataclass
class Table:
    header: list[str]  # the header's cells, stripped
    columns: list[np.ndarray]  # one per header cell: the rows' text (str dtype), as in the file
    lines: np.ndarray  # int64: the line each row starts on (1 is the header)
    rows_total: int  # data rows in the file, rejected ones included
    rejects: list[RowError]  # rows of the wrong width, empty lines

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, index: int) -> np.ndarray:
        return self.columns[index]

    def chunks(self, rows: int) -> Iterator[Table]:
        """The rows a chunk at a time (the file's own rejects and total stay here)."""
        for start in range(0, len(self), rows):
            part = slice(start, start + rows)
            yield Table(self.header, [c[part] for c in self.columns], self.lines[part], 0, [])


def decode(data: bytes) -> str:
    """The file as text: UTF-8 (a byte-order mark is dropped); anything else is refused."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(f"line {line}: not UTF-8 text ({exc.reason})") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ImportFileError(f"line {line}: NUL character (is this a spreadsheet, not a CSV?)")
    return text


def read_header(text: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text, newline="")), None)
    if not first or not any(cell.strip() for cell in first):
        raise ImportFileError("line 1: the file is empty or does not start with a header row")
    header = [cell.strip() for cell in first]
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        key = name.lower()
        if key in seen:
            raise ImportFileError(
                f"line 1: column {position} ({name!r}) repeats column {seen[key]}; "
                "every column needs its own name"
            )
        seen[key] = position
    return header


def read_table(text: str) -> Table:
    """The header and the rows of a CSV text; rows of the wrong width are rejected."""
    header = read_header(text)
    table = _read_regular(text.encode(), header)
    if table is None:
        table = _read_careful(text, header)
    if table.rows_total == 0:
        raise ImportFileError("the file has a header but no rows")
    return table


def _as_text_columns(rows: list[list[str]] | None, frame: pd.DataFrame | None, width: int):
    if frame is not None:
        return [frame[index].to_numpy(dtype=object).astype(str) for index in range(width)]
    if rows:
        return [np.asarray(values, dtype=str) for values in zip(*rows, strict=True)]
    return [np.asarray([], dtype=str) for _ in range(width)]


def _read_regular(data: bytes, header: list[str]) -> Table | None:
    """The fast path, or None when some row is not simply a row of the header's width."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buffer == _QUOTE)
    newlines = np.flatnonzero(buffer == _NEWLINE)
    returns = np.flatnonzero(buffer == _RETURN)
    if len(returns) and not np.all(buffer[np.minimum(returns + 1, len(buffer) - 1)] == _NEWLINE):
        return None  # bare carriage returns: the csv module reads those

    def outside_quotes(positions: np.ndarray) -> np.ndarray:
        return positions[np.searchsorted(quotes, positions) % 2 == 0]

    ends = outside_quotes(newlines)
    if not len(buffer) or buffer[-1] != _NEWLINE:
        ends = np.append(ends, len(buffer))
    starts = np.concatenate(([0], ends[:-1] + 1))
    commas = outside_quotes(np.flatnonzero(buffer == _COMMA))
    widths = np.bincount(np.searchsorted(ends, commas), minlength=len(ends)) + 1
    lengths = ends - starts - (buffer[np.maximum(ends - 1, 0)] == _RETURN)
    if len(ends) < 2 or np.any(widths[1:] != len(header)) or np.any(lengths[1:] <= 0):
        return None
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            header=0,
            names=range(len(header)),
            dtype=object,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except (ValueError, pd.errors.ParserError):
        return None
    rows = len(ends) - 1
    if len(frame) != rows:
        return None
    lines = np.searchsorted(newlines, starts[1:]) + 1
    columns = _as_text_columns(None, frame, len(header))
    return Table(header, columns, lines.astype(np.int64), rows, [])


def _read_careful(text: str, header: list[str]) -> Table:
    width = len(header)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    lines: list[int] = []
    rejects: list[RowError] = []
    total = 0
    try:
        next(reader)
        last_line = reader.line_num
        for row in reader:
            start, last_line = last_line + 1, reader.line_num
            total += 1
            if len(row) == width:
                rows.append(row)
                lines.append(start)
            elif not row or (len(row) == 1 and not row[0].strip()):
                rejects.append(RowError(start, "row", "empty line"))
            else:
                rejects.append(
                    RowError(start, "row", f"expected {width} columns, found {len(row)}")
                )
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num}: unreadable CSV ({exc})") from None
    columns = _as_text_columns(rows, None, width)
    return Table(header, columns, np.asarray(lines, dtype=np.int64), total, rejects)
