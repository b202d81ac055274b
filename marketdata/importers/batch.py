"""A parsed set of candles as parallel numpy arrays, and the rows rejected on the way."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based line number in the file (0: the file as a whole)
    field: str
    reason: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "reason": self.reason}

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}, field {self.field}: {self.reason}"


@dataclass
class CandleBatch:
    """Candles in file order. Times are microseconds since the Unix epoch, UTC.

    quote_volume is NaN and trade_count is -1 where the source does not carry them.
    """

    timestamp_us: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray
    trade_count: np.ndarray
    line: np.ndarray
    rejects: list[RowError] = field(default_factory=list)

    PRICE_FIELDS = ("open", "high", "low", "close")
    ARRAY_FIELDS = (
        "timestamp_us",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "trade_count",
        "line",
    )

    def __len__(self) -> int:
        return len(self.timestamp_us)

    def select(self, mask: np.ndarray) -> CandleBatch:
        arrays = {name: getattr(self, name)[mask] for name in self.ARRAY_FIELDS}
        return CandleBatch(**arrays, rejects=list(self.rejects))

    @classmethod
    def concat(cls, batches: list[CandleBatch]) -> CandleBatch:
        if not batches:
            return cls.empty()
        arrays = {
            name: np.concatenate([getattr(b, name) for b in batches]) for name in cls.ARRAY_FIELDS
        }
        return cls(**arrays, rejects=[e for b in batches for e in b.rejects])

    @classmethod
    def empty(cls) -> CandleBatch:
        floats = np.empty(0, dtype=np.float64)
        ints = np.empty(0, dtype=np.int64)
        return cls(ints, floats, floats, floats, floats, floats, floats, ints, ints)
