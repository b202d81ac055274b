"""Writing fills in bulk: COPY into a staging table, then one INSERT … ON CONFLICT DO
NOTHING into the transactions, so fills already stored (same owner, exchange and
transaction id) are skipped by PostgreSQL in the same statement and counted.

A file goes in chunks (`FillWriter`): each chunk is copied into its own temporary
staging table, and its INSERT is sent in psycopg's pipeline mode, so PostgreSQL inserts
one chunk while Python reads and checks the next; the count comes back with the next
write. COPY is in text format, through `backtest.persistence.copy_text_lines` (amounts
are exact decimal text, metadata JSON text: the binary helpers of `marketdata.pgcopy`
carry fixed-width numbers only). No ORM object is built per fill.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import connection, transaction
from psycopg import Pipeline

from backtest.persistence import copy_text_lines, utc_text
from replay.importers.fills import Fills
from replay.models import TransactionHistory

_STAGING = "replay_fill_staging"
_STAGED_COLUMNS = (
    "transaction_time",
    "symbol",
    "price",
    "quantity",
    "side",
    "transaction_type",
    "transaction_id",
    "metadata",
)
_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_LINE = "\t".join(["%s"] * len(_STAGED_COLUMNS)) + "\n"


def _copy_text(value: str) -> str:
    """A value as COPY's text format needs it (backslash, tab and line ends escaped)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_TEXT_ESCAPES)
    return value


def _copy_json(value: str) -> str:
    """JSON text for COPY: JSON escapes control characters itself, leaving backslashes."""
    return value.replace("\\", "\\\\") if "\\" in value else value


def fill_lines(fills: Fills) -> list[str]:
    """COPY text lines. Symbols, sides, types and amounts are validated words and
    digits: nothing to escape there."""
    columns = (
        utc_text(fills.time_us),
        fills.symbol,
        fills.price,
        fills.quantity,
        fills.side,
        fills.transaction_type,
        [_copy_text(value) for value in fills.transaction_id],
        [_copy_json(value) for value in fills.metadata],
    )
    return [_LINE % row for row in zip(*columns, strict=True)]


_CREATE_STAGING = (
    "CREATE TEMP TABLE {} (transaction_time timestamptz NOT NULL, symbol text NOT NULL, "
    "price numeric NOT NULL, quantity numeric NOT NULL, side text NOT NULL, "
    "transaction_type text NOT NULL, transaction_id text NOT NULL, metadata jsonb NOT NULL) "
    "ON COMMIT DROP"
)
_STAGED = ", ".join(_STAGED_COLUMNS)
_INSERT_STAGED = f"""
    INSERT INTO {TransactionHistory._meta.db_table}
        (owner_id, import_batch_id, exchange, is_replayed, created_at, updated_at, {_STAGED})
    SELECT %s, %s, %s, false, now(), now(), {_STAGED} FROM {{}}
    ON CONFLICT (owner_id, exchange, transaction_id) DO NOTHING
"""


class FillWriter:
    """Stores fills chunk by chunk inside the caller's transaction; use as a context
    manager, and `finish()` for the number of new fills. Leaving the block early (an
    exception: a refused file) waits for what was sent, and the caller's transaction
    rolls it back. Where libpq has no pipeline mode (before 14), each INSERT is waited
    for at once: slower, the same result."""

    def __init__(self, *, owner_id: int, import_batch_id: int, exchange: str) -> None:
        self._target = (owner_id, import_batch_id, exchange)
        self._chunks = 0
        self._inserted = 0
        self._sent: tuple[AbstractContextManager, Any, str] | None = None

    def __enter__(self) -> FillWriter:
        if not connection.in_atomic_block:
            raise RuntimeError("FillWriter writes inside the caller's transaction.atomic()")
        connection.ensure_connection()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._sent is not None:
            pipeline, cursor, _ = self._sent
            self._sent = None
            pipeline.__exit__(*exc_info)
            cursor.close()

    def write(self, fills: Fills) -> None:
        """Copy the fills (each with its transaction id) into a staging table of their
        own and send the INSERT that moves them; returns without waiting for it."""
        if len(fills) == 0:
            return
        self._collect()
        raw = connection.connection
        staging = f"{_STAGING}_{self._chunks}"
        self._chunks += 1
        with raw.cursor() as cursor:
            cursor.execute(_CREATE_STAGING.format(staging))
        copy_text_lines(staging, _STAGED_COLUMNS, iter(fill_lines(fills)))
        pipeline = raw.pipeline() if Pipeline.is_supported() else nullcontext()
        pipeline.__enter__()
        cursor = raw.cursor()
        cursor.execute(_INSERT_STAGED.format(staging), self._target)
        self._sent = (pipeline, cursor, staging)

    def _collect(self) -> None:
        """Wait for the INSERT sent last, count what it stored, drop its staging table."""
        if self._sent is None:
            return
        pipeline, cursor, staging = self._sent
        self._sent = None
        pipeline.__exit__(None, None, None)
        with cursor:
            self._inserted += cursor.rowcount
            cursor.execute(f"DROP TABLE {staging}")

    def finish(self) -> int:
        self._collect()
        return self._inserted


def insert_fills(fills: Fills, *, owner_id: int, import_batch_id: int, exchange: str) -> int:
    """Store the fills (every one must have its transaction id); returns how many were new."""
    target = {"owner_id": owner_id, "import_batch_id": import_batch_id, "exchange": exchange}
    with transaction.atomic(), FillWriter(**target) as writer:
        writer.write(fills)
        return writer.finish()
