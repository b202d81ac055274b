"""Collecting rejected rows while whole columns are checked at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from marketdata.importers.batch import RowError


@dataclass(frozen=True)
class Field:
    """One of our fields, and the file's column it is read from (for messages)."""

    name: str  # ours: time, symbol, side, price, quantity, fee, fee_asset, type, id
    column: str  # the header's name for it: "Date(UTC)", "Executed", ...

    def error(self, line: int, reason: str) -> RowError:
        if self.column.lower() != self.name.replace("_", " "):
            reason = f"{reason} (column {self.column})"
        return RowError(line, self.name, reason)


class RowChecks:
    """Rows found bad so far; each check is a boolean mask over the table's rows."""

    def __init__(self, lines: np.ndarray) -> None:
        self.lines = lines
        self.bad = np.zeros(len(lines), dtype=bool)
        self.errors: list[RowError] = []

    def reject(
        self, field: Field, mask: np.ndarray, values: Sequence, reason: str, *, quote: bool = True
    ) -> None:
        """Reject the rows in `mask`, saying "<value> <reason>" (the value quoted)."""
        mask = np.asarray(mask, dtype=bool)
        at = values.iloc if hasattr(values, "iloc") else values
        for index in np.flatnonzero(mask):
            value = str(at[index])
            text = f"{value!r} {reason}" if quote else reason
            self.errors.append(field.error(int(self.lines[index]), text))
        self.bad |= mask

    def reject_rows(self, field: Field, reasons: list[tuple[int, str]]) -> None:
        """Reject rows one by one: (row index, reason)."""
        for index, reason in reasons:
            self.errors.append(field.error(int(self.lines[index]), reason))
            self.bad[index] = True

    @property
    def valid(self) -> np.ndarray:
        return ~self.bad

    def sorted_errors(self, earlier: list[RowError]) -> list[RowError]:
        """These errors with the table's own (width, empty lines), by line."""
        return sorted([*earlier, *self.errors], key=lambda error: error.line)
