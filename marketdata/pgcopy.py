"""PostgreSQL's binary COPY format for fixed-width rows, built and read with numpy.

Every column here is 8 bytes (int8, float8 or timestamptz) and never NULL, so a row is
a fixed-size record and a whole table is one numpy structured array: no Python loop
touches a row on the way in or out.
"""

from __future__ import annotations

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
# timestamptz travels as microseconds since 2000-01-01 UTC.
PG_EPOCH_OFFSET_US = 946_684_800 * 1_000_000


def record_dtype(columns: list[tuple[str, str]]) -> np.dtype:
    """columns: (name, 'i8' or 'f8'); the dtype of one binary COPY tuple."""
    fields: list[tuple[str, str]] = [("field_count", ">i2")]
    for name, kind in columns:
        fields.append((f"{name}_length", ">i4"))
        fields.append((name, f">{kind}"))
    return np.dtype(fields)


def encode(columns: list[tuple[str, str]], arrays: dict[str, np.ndarray]) -> bytes:
    dtype = record_dtype(columns)
    n = len(next(iter(arrays.values())))
    records = np.empty(n, dtype=dtype)
    records["field_count"] = len(columns)
    for name, _kind in columns:
        records[f"{name}_length"] = 8
        records[name] = arrays[name]
    return HEADER + records.tobytes() + TRAILER


def decode(columns: list[tuple[str, str]], payload: bytes) -> np.ndarray:
    """A structured array of the rows in a binary COPY payload (no NULLs allowed)."""
    dtype = record_dtype(columns)
    body = memoryview(payload)[len(HEADER): len(payload) - len(TRAILER)]
    if len(body) % dtype.itemsize:
        raise ValueError("binary COPY payload does not match the expected columns")
    return np.frombuffer(body, dtype=dtype)


def unix_us_to_pg(timestamp_us: np.ndarray) -> np.ndarray:
    return timestamp_us - PG_EPOCH_OFFSET_US


def pg_to_unix_us(pg_us: np.ndarray) -> np.ndarray:
    return pg_us.astype(np.int64) + PG_EPOCH_OFFSET_US
