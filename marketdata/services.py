"""Market-data writes: the one place the CLI, the API, the admin and tasks call."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from audit.events import record_event
from audit.models import SecurityAction
from marketdata.importers.batch import CandleBatch, RowError
from marketdata.importers.errors import ImportRejected
from marketdata.importers.files import read_candle_file
from marketdata.importers.formats import layout_for
from marketdata.importers.tabular import (
    IrregularFile,
    Layout,
    end_rows_range,
    fast_chunks,
    parse_rows,
)
from marketdata.importers.validation import validate
from marketdata.models import DEFAULT_SOURCE, CandleSeries, Symbol, SyncRun
from marketdata.selectors import find_series
from marketdata.storage import append_candles, has_candles_between, upsert_candles
from marketdata.timeframes import Timeframe, UnknownTimeframe, get_timeframe

_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
_SOURCE = re.compile(r"^[a-z0-9_.-]{1,32}$")
_KNOWN_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


class InvalidParameter(ValueError):
    """A parameter the caller gave is wrong; `parameter` names it."""

    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


def normalise_symbol(raw: str) -> str:
    """'btc/usdt', 'BTC-USDT' and 'BTCUSDT' all name BTCUSDT."""
    name = re.sub(r"[/\-_ ]", "", (raw or "").strip()).upper()
    if not _SYMBOL.match(name):
        raise InvalidParameter("symbol", f"{raw!r} is not a symbol like BTCUSDT")
    return name


def check_timeframe(code: str) -> str:
    try:
        return get_timeframe(code).code
    except UnknownTimeframe as exc:
        raise InvalidParameter("timeframe", str(exc)) from None


def check_source(name: str) -> str:
    if not _SOURCE.match(name or ""):
        raise InvalidParameter("source", f"{name!r} must be 1-32 lower-case letters, digits, _.-")
    return name


def _split_pair(name: str) -> tuple[str, str]:
    for quote in _KNOWN_QUOTES:
        if name.endswith(quote) and len(name) > len(quote):
            return name[: -len(quote)], quote
    return "", ""


def get_or_create_symbol(name: str) -> Symbol:
    base, quote = _split_pair(name)
    symbol, _ = Symbol.objects.get_or_create(
        name=name, defaults={"base_asset": base, "quote_asset": quote}
    )
    return symbol


def get_or_create_series(symbol: str, timeframe: str, source: str = DEFAULT_SOURCE) -> CandleSeries:
    series, _ = CandleSeries.objects.get_or_create(
        symbol=get_or_create_symbol(symbol), timeframe=timeframe, source=source
    )
    return series


@dataclass
class ImportResult:
    inserted: int = 0
    updated: int = 0
    skipped: int = 0  # rows already stored with the same values
    rejects: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({e.line for e in self.rejects})

    def as_dict(self) -> dict:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "rejects": [e.as_dict() for e in self.rejects],
        }


def import_candles(
    source: str | Path | BinaryIO,
    *,
    symbol: str,
    timeframe: str,
    fmt: str = "auto",
    source_name: str = DEFAULT_SOURCE,
    skip_invalid: bool = False,
    filename: str | None = None,
) -> ImportResult:
    """Import a candle file; all-or-nothing unless skip_invalid (then rejects are listed).

    Raises InvalidParameter, ImportFileError or ImportRejected; none of them writes.
    """
    target = _ImportTarget(
        normalise_symbol(symbol), check_timeframe(timeframe), check_source(source_name)
    )
    data = read_candle_file(source, filename)
    layout = layout_for(data, fmt)
    with transaction.atomic():
        result = _import_streaming(data, layout, target)
        if result is None:
            result = _import_merging(data, layout, target, skip_invalid)
    return result


@dataclass(frozen=True)
class _ImportTarget:
    symbol: str
    timeframe: str
    source: str

    def series(self) -> CandleSeries:
        return get_or_create_series(self.symbol, self.timeframe, self.source)


class _NeedsCarefulPath(Exception):
    """The fast lane met a bad row or a stored candle: the merging path decides."""


def _all_valid(
    chunks: Iterator[CandleBatch], timeframe: Timeframe, labels: dict[str, str]
) -> Iterator[CandleBatch]:
    for chunk in chunks:
        valid = validate(chunk, timeframe, labels)
        if valid.rejects:
            raise _NeedsCarefulPath
        yield valid


def _import_streaming(data: bytes, layout: Layout, target: _ImportTarget) -> ImportResult | None:
    """The fast lane for a clean file whose range holds no stored candle: parsed,
    validated and stored chunk by chunk. None sends the file down the merging path."""
    chunks = fast_chunks(data, layout)
    ends = end_rows_range(data, layout)
    if chunks is None or ends is None:
        return None
    existing = find_series(target.symbol, target.timeframe, target.source)
    first, last = (datetime.fromtimestamp(us / 1_000_000, UTC) for us in ends)
    if existing is not None and has_candles_between(existing, first, last):
        return None
    valid_chunks = _all_valid(chunks, get_timeframe(target.timeframe), layout.labels)
    try:
        with transaction.atomic():  # a fallback leaves no new symbol or series behind
            inserted = append_candles(target.series(), valid_chunks)
            if inserted is None:
                raise _NeedsCarefulPath
    except (IrregularFile, _NeedsCarefulPath):
        return None
    return ImportResult(inserted=inserted)


def _import_merging(
    data: bytes, layout: Layout, target: _ImportTarget, skip_invalid: bool
) -> ImportResult:
    """Every row parsed and checked first; then one set-based upsert."""
    batch = validate(parse_rows(data, layout), get_timeframe(target.timeframe), layout.labels)
    if batch.rejects and not skip_invalid:
        raise ImportRejected(batch.rejects, len(batch) + len({e.line for e in batch.rejects}))
    if len(batch) == 0:  # nothing to store: no symbol or series is created for it
        return ImportResult(rejects=batch.rejects)
    counts = upsert_candles(target.series(), batch)
    return ImportResult(counts.inserted, counts.updated, counts.unchanged, batch.rejects)


def create_sync_run(
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime | None = None,
    *,
    trigger: str = SyncRun.Trigger.MANUAL,
    user: AbstractBaseUser | None = None,
) -> SyncRun:
    """A pending sync run after checking its parameters (each error names its parameter)."""
    symbol = normalise_symbol(symbol)
    timeframe = check_timeframe(timeframe)
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidParameter(name, "must carry a time zone (UTC assumed nowhere)")
    if end is not None and end <= start:
        raise InvalidParameter("end", "must be after start")
    if start > timezone.now():
        raise InvalidParameter("start", "is in the future")
    return SyncRun.objects.create(
        symbol=get_or_create_symbol(symbol),
        timeframe=timeframe,
        start=start,
        end=end,
        trigger=trigger,
        requested_by=user if user and user.is_authenticated else None,
        task_id=str(uuid.uuid4()),
    )


def request_sync(
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime | None = None,
    *,
    trigger: str = SyncRun.Trigger.MANUAL,
    user: AbstractBaseUser | None = None,
) -> SyncRun:
    """Record a pending sync run and queue it for a worker once the transaction commits."""
    from marketdata.tasks import run_sync

    with transaction.atomic():
        run = create_sync_run(symbol, timeframe, start, end, trigger=trigger, user=user)
        record_event(
            SecurityAction.SYNC_LAUNCHED,
            actor=user,
            target=run,
            detail={"symbol": run.symbol.name, "timeframe": timeframe, "trigger": trigger},
        )
        transaction.on_commit(lambda: run_sync.apply_async((run.pk,), task_id=run.task_id))
    return run
