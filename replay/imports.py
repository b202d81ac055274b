"""Importing a trader's fills, and removing them: the one place the CLI, the API and the
worker call.

- `import_file`: a CSV (plain, .gz or a one-file .zip) in one of the file formats,
  detected from its header unless named. One transaction writes the ImportBatch and
  the fills, a chunk at a time while the next chunk is checked. With a bad row the
  import is refused (`ImportRefused`, every bad line and field listed) and the
  transaction rolls back, so nothing is written, unless `skip_invalid` keeps the good
  rows and lists the rejects.
- `request_fetch` / `run_fetch`: Binance's account trade list, fetched in the worker
  with one of the user's stored credentials (decrypted there only, which records a
  "credential used" security event), symbol by symbol, page by page (fromId). Each page
  is stored as it arrives, so a fetch that fails later keeps what it stored (a new fetch
  skips it), and the batch says why it failed.

Fills are unique per (owner, exchange, transaction id): importing the same trades again
stores nothing and counts them as skipped. Files without ids get ids derived from the
row (`replay.importers.fills.derive_missing_ids`).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.binance_signed import MAX_TRADES_PER_REQUEST, BinanceSignedClient, KeyRejected
from accounts.credentials import decrypted
from accounts.models import ExchangeCredential
from accounts.selectors import credentials_of
from backtest.models import RunStatus
from marketdata.binance_client import BinanceError
from marketdata.importers.batch import RowError
from marketdata.importers.errors import ImportFileError
from marketdata.importers.files import read_candle_file
from marketdata.services import InvalidParameter, normalise_symbol
from replay import storage
from replay.importers import binance_api, binance_trades, generic
from replay.importers.detect import FORMAT_CHOICES, detect_format
from replay.importers.fills import Fills, derive_missing_ids
from replay.importers.table import decode, read_header, read_table
from replay.models import ImportBatch, ImportFormat, TransactionHistory
from replay.selectors import can_import_transactions, own_transactions

logger = logging.getLogger(__name__)

__all__ = ["ImportFileError", "ImportRefused", "InvalidParameter", "NotAllowed"]

# A batch lists at most this many rejects (its `rejected` count is always exact).
MAX_LISTED_REJECTS = 1000
DEFAULT_EXCHANGE = "binance"
FETCH_PURPOSE = "import the account's trades"
MAX_FETCH_SYMBOLS = 50
SPREADSHEETS = (".xlsx", ".xls", ".ods")  # Binance offers its export as .xlsx too
CHUNK_ROWS = 16_384  # rows checked while the previous chunk is being stored
_FILE_NAME_LENGTH = ImportBatch._meta.get_field("file_name").max_length
_EXCHANGE_LENGTH = ImportBatch._meta.get_field("exchange").max_length


class NotAllowed(PermissionError):
    """The user may not import transactions, or not touch this one."""


class ImportRefused(Exception):
    """The file has bad rows and the import was all-or-nothing: nothing was written."""

    def __init__(self, rejects: list[RowError], rows_total: int):
        self.rejects = rejects
        self.rows_total = rows_total
        self.rejected = len({error.line for error in rejects})
        shown = "; ".join(str(error) for error in rejects[:5])
        more = f" (and {len(rejects) - 5} more)" if len(rejects) > 5 else ""
        super().__init__(
            f"{self.rejected} of {rows_total} rows are invalid, nothing was imported: {shown}{more}"
        )

    def as_dict(self) -> dict:
        return {
            "detail": str(self),
            "rows_total": self.rows_total,
            "inserted": 0,
            "skipped": 0,
            "rejected": self.rejected,
            "rejects": listed_rejects(self.rejects),
        }


def listed_rejects(rejects: list[RowError]) -> list[dict]:
    return [error.as_dict() for error in rejects[:MAX_LISTED_REJECTS]]


def summary(batch: ImportBatch) -> dict:
    """What an import did: the CLI's --json, the fetch task's result."""
    return {
        "batch": batch.pk,
        "format": batch.format,
        "status": batch.status,
        "rows_total": batch.rows_total,
        "inserted": batch.inserted,
        "skipped": batch.skipped,
        "rejected": batch.rejected,
        "rejects": batch.rejects,
    }


def _check_exchange(exchange: str) -> str:
    name = (exchange or "").strip().lower()
    valid = name.isascii() and name.replace("_", "").isalnum()
    if not valid or len(name) > _EXCHANGE_LENGTH:
        raise InvalidParameter(
            "exchange", f"{exchange!r} must be 1-{_EXCHANGE_LENGTH} letters, digits or _"
        )
    return name


# --- Files -------------------------------------------------------------------------------


def import_file(
    owner,
    source: str | Path | BinaryIO,
    *,
    file_name: str | None = None,
    fmt: str = "auto",
    mapping: str | dict | None = None,
    skip_invalid: bool = False,
    exchange: str = DEFAULT_EXCHANGE,
) -> ImportBatch:
    """Import a file of fills for `owner`; returns the completed batch.

    Raises InvalidParameter (format, mapping, exchange), ImportFileError (the file as a
    whole) or ImportRefused (bad rows, all-or-nothing); none of them writes anything.
    """
    if fmt not in FORMAT_CHOICES:
        raise InvalidParameter("format", f"{fmt!r} is not one of {', '.join(FORMAT_CHOICES)}")
    exchange = _check_exchange(exchange)
    try:
        mapping = generic.parse_mapping(mapping)
    except generic.InvalidMapping as exc:
        raise InvalidParameter("mapping", str(exc)) from None
    if isinstance(source, str | Path):
        file_name = file_name or Path(source).name
    if (file_name or "").lower().endswith(SPREADSHEETS):
        raise ImportFileError(f"{file_name}: a spreadsheet, not a CSV; save it as CSV first")
    text = decode(read_candle_file(source, file_name))
    header = read_header(text)
    if fmt == "auto":
        fmt = detect_format(header, mapping)
    if fmt == ImportFormat.BINANCE_TRADES:
        if mapping:
            raise InvalidParameter("mapping", "only the generic format reads a column mapping")
        if exchange != DEFAULT_EXCHANGE:
            raise InvalidParameter("exchange", "a Binance trade-history export is Binance's")
        if not binance_trades.is_binance_header(header):
            raise ImportFileError(
                f"line 1: not the header of Binance's trade-history export "
                f"({','.join(binance_trades.HEADER)})"
            )
        parse, parameters = binance_trades.parse, {}
    else:
        try:
            parser = generic.Parser(header, mapping)
        except generic.InvalidMapping as exc:
            raise InvalidParameter("mapping", str(exc)) from None
        parse, parameters = parser.parse, {"columns": parser.columns}
    table = read_table(text)
    rejects: list[RowError] = list(table.rejects)
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            owner=owner,
            file_name=(file_name or "")[-_FILE_NAME_LENGTH:],
            format=fmt,
            exchange=exchange,
            status=RunStatus.RUNNING,
            rows_total=table.rows_total,
            parameters={**parameters, "skip_invalid": skip_invalid},
        )
        staged = 0
        occurrences: dict[str, int] = {}
        writer = storage.FillWriter(owner_id=owner.pk, import_batch_id=batch.pk, exchange=exchange)
        with writer:
            # The database stores one chunk while the next is checked. After a bad row
            # (all-or-nothing) nothing more is written, but the rest is still checked
            # for every reject; refusing then rolls back what was written.
            for part in table.chunks(CHUNK_ROWS):
                fills = parse(part)
                rejects.extend(fills.rejects)
                if rejects and not skip_invalid:
                    continue
                derive_missing_ids(fills, occurrences)
                writer.write(fills)
                staged += len(fills)
            rejects.sort(key=lambda error: error.line)
            if rejects and not skip_invalid:
                raise ImportRefused(rejects, table.rows_total)
            inserted = writer.finish()
        batch.inserted, batch.skipped = inserted, staged - inserted
        batch.rejected = len({error.line for error in rejects})
        batch.rejects = listed_rejects(rejects)
        batch.status, batch.finished_at = RunStatus.COMPLETED, timezone.now()
        batch.save()
    logger.info(
        "import #%s (%s) for user #%s: %s inserted, %s skipped, %s rejected",
        batch.pk,
        fmt,
        owner.pk,
        batch.inserted,
        batch.skipped,
        batch.rejected,
    )
    return batch


# --- The exchange's trade list -----------------------------------------------------------


def request_fetch(
    owner,
    *,
    credential_id: int,
    symbols: list[str],
    start_time: datetime | None = None,
    page_size: int = MAX_TRADES_PER_REQUEST,
) -> ImportBatch:
    """Queue a fetch of the account's trades in `symbols` with one of the owner's
    credentials; returns the queued batch (the task is sent when the transaction
    commits). Fills before `start_time` are not stored."""
    from replay.import_tasks import fetch_exchange_trades

    if not can_import_transactions(owner):
        raise NotAllowed("You need the 'add import batch' permission to import transactions.")
    credential = credentials_of(owner).filter(pk=credential_id).first()
    if credential is None:
        raise InvalidParameter("credential", f"you have no credential #{credential_id}")
    if not symbols:
        raise InvalidParameter("symbols", "name at least one symbol, e.g. BTCUSDT")
    try:
        names = list(dict.fromkeys(normalise_symbol(symbol) for symbol in symbols))
    except InvalidParameter as exc:
        raise InvalidParameter("symbols", str(exc).split(": ", 1)[1]) from None
    if len(names) > MAX_FETCH_SYMBOLS:
        raise InvalidParameter("symbols", f"at most {MAX_FETCH_SYMBOLS} symbols per fetch")
    if not 1 <= page_size <= MAX_TRADES_PER_REQUEST:
        raise InvalidParameter("page_size", f"must be 1 to {MAX_TRADES_PER_REQUEST}")
    if start_time is not None and timezone.is_naive(start_time):
        start_time = start_time.replace(tzinfo=UTC)
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            owner=owner,
            format=ImportFormat.BINANCE_API,
            exchange=credential.exchange,
            status=RunStatus.QUEUED,
            task_id=str(uuid.uuid4()),
            parameters={
                "credential": credential.pk,
                "credential_label": credential.label,
                "symbols": names,
                "start_time": start_time.isoformat() if start_time else None,
                "page_size": page_size,
            },
        )
        transaction.on_commit(
            lambda: fetch_exchange_trades.apply_async((batch.pk,), task_id=batch.task_id)
        )
    logger.info("fetch #%s of %s queued for user #%s", batch.pk, ", ".join(names), owner.pk)
    return batch


def _claim(batch_id: int) -> ImportBatch | None:
    """The batch, marked running, if it is still to run. A redelivered task (its worker
    died) finds it running and starts over: stored fills are skipped, then counted."""
    with transaction.atomic():
        batch = (
            ImportBatch.objects.select_for_update(of=("self",))
            .select_related("owner")
            .filter(pk=batch_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING))
            .first()
        )
        if batch is None:
            return None
        batch.status, batch.rows_total, batch.inserted, batch.skipped = RunStatus.RUNNING, 0, 0, 0
        batch.error = ""
        batch.save()
    return batch


def _store_page(batch: ImportBatch, fills: Fills) -> None:
    with transaction.atomic():
        inserted = storage.insert_fills(
            fills, owner_id=batch.owner_id, import_batch_id=batch.pk, exchange=batch.exchange
        )
        ImportBatch.objects.filter(pk=batch.pk).update(
            rows_total=F("rows_total") + len(fills),
            inserted=F("inserted") + inserted,
            skipped=F("skipped") + len(fills) - inserted,
        )


def _finish(batch: ImportBatch, status: str, error: str = "") -> dict:
    """Final status and exact counts: the fills this batch stored are the ones it
    inserted (a redelivered task's first attempt included)."""
    batch.refresh_from_db(fields=("rows_total",))
    batch.inserted = TransactionHistory.objects.filter(import_batch=batch).count()
    batch.skipped = max(batch.rows_total - batch.inserted, 0)
    batch.status, batch.error, batch.finished_at = status, error, timezone.now()
    batch.save()
    logger.info(
        "fetch #%s %s: %s fills, %s new%s",
        batch.pk,
        status,
        batch.rows_total,
        batch.inserted,
        f" ({error})" if error else "",
    )
    return summary(batch)


def run_fetch(batch_id: int) -> dict:
    """Fetch and store the batch's trades (in the worker). Binance's refusals and
    outages end the batch failed, saying which symbol and why; anything unexpected
    fails it too and is raised for the worker's log."""
    batch = _claim(batch_id)
    if batch is None:
        state = ImportBatch.objects.filter(pk=batch_id).values("status").first()
        return {"id": batch_id, "status": state["status"] if state else "missing"}
    parameters = batch.parameters
    credential = (
        ExchangeCredential.objects.select_related("owner")
        .defer("api_key", "api_secret")
        .filter(pk=parameters["credential"], owner=batch.owner)
        .first()
    )
    if credential is None:
        return _finish(
            batch,
            RunStatus.FAILED,
            f"credential #{parameters['credential']} was deleted before the fetch ran",
        )
    start_us = (
        int(datetime.fromisoformat(parameters["start_time"]).timestamp() * 1_000_000)
        if parameters.get("start_time")
        else None
    )
    symbol = ""
    try:
        keys = decrypted(credential, purpose=FETCH_PURPOSE)
        with BinanceSignedClient.for_exchange(credential.exchange, keys) as client:
            for symbol in parameters["symbols"]:
                for page in binance_api.trade_pages(client, symbol, parameters["page_size"]):
                    fills = binance_api.fills_from_trades(page, symbol)
                    if start_us is not None:
                        fills = fills.select(fills.time_us >= start_us)
                    _store_page(batch, fills)
    except KeyRejected as exc:
        return _finish(batch, RunStatus.FAILED, str(exc))
    except BinanceError as exc:
        return _finish(batch, RunStatus.FAILED, f"{symbol}: {exc}")
    except Exception as exc:
        _finish(
            batch,
            RunStatus.FAILED,
            f"the fetch failed unexpectedly ({type(exc).__name__}); "
            "operators find the details in the worker's log",
        )
        raise
    return _finish(batch, RunStatus.COMPLETED)


# --- Removing ------------------------------------------------------------------------------


def delete_transaction(transaction_history: TransactionHistory, *, actor) -> None:
    """Delete one of the actor's own fills (its replay executions go with it)."""
    if not own_transactions(actor).filter(pk=transaction_history.pk).exists():
        raise NotAllowed("Only the transaction's owner may delete it.")
    transaction_history.delete()
