"""PostgreSQL's binary COPY format for fixed-width rows, built and read with numpy.

Every column here is 8 bytes (int8, float8 or timestamptz), so a row is a fixed-size
record and a whole table is one numpy structured array: no Python loop touches a row on
the way in or out. A NULL is written as length -1 with no data; rows holding NULLs are
squeezed with one boolean mask over the bytes, so that stays vectorised too.
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


def encode_rows(
    columns: list[tuple[str, str]],
    arrays: dict[str, np.ndarray],
    nulls: dict[str, np.ndarray] | None = None,
) -> bytes:
    """The tuples alone; `nulls` maps a column to a boolean mask of rows that are NULL."""
    dtype = record_dtype(columns)
    n = len(next(iter(arrays.values())))
    records = np.empty(n, dtype=dtype)
    records["field_count"] = len(columns)
    for name, _kind in columns:
        records[f"{name}_length"] = 8
        records[name] = arrays[name]
    nulls = {name: mask for name, mask in (nulls or {}).items() if mask.any()}
    if not nulls:
        return records.tobytes()
    keep = np.ones((n, dtype.itemsize), dtype=bool)
    for name, mask in nulls.items():
        records[f"{name}_length"][mask] = -1
        offset = dtype.fields[name][1]
        keep[mask, offset : offset + 8] = False
    raw = records.view(np.uint8).reshape(n, dtype.itemsize)
    return raw[keep].tobytes()


def decode_packed(columns: list[tuple[str, str]], blob: bytes | None) -> np.ndarray:
    """Rows packed back to back by `*send()` functions (8 big-endian bytes per column)."""
    dtype = np.dtype([(name, f">{kind}") for name, kind in columns])
    if not blob:
        return np.empty(0, dtype=dtype)
    if len(blob) % dtype.itemsize:
        raise ValueError("packed rows do not match the expected columns")
    return np.frombuffer(blob, dtype=dtype)


def unix_us_to_pg(timestamp_us: np.ndarray) -> np.ndarray:
    return timestamp_us - PG_EPOCH_OFFSET_US


def pg_to_unix_us(pg_us: np.ndarray) -> np.ndarray:
    return pg_us.astype(np.int64) + PG_EPOCH_OFFSET_US
