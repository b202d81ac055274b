"""One replay's work over arrays: its transactions and candles read in bulk, matched by
the engine, and turned into execution rows (COPY) and a summary.

Reads are two queries for all the run's transactions (their symbols and fee assets,
then every row packed into one bytea and decoded with numpy, as
marketdata.selectors.candle_arrays reads candles) and one `candle_arrays` per symbol:
never a query per transaction. The engine (replay.engine) does the matching and the
arithmetic; this module knows the database and the run's parameters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import psycopg
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from backtest.persistence import copy_text_lines, utc_text
from marketdata import pgcopy
from marketdata.models import CandleSeries
from marketdata.selectors import candle_arrays, find_series
from marketdata.timeframes import get_timeframe
from replay import engine
from replay.models import ExecutionStatus, ReplayExecution, TransactionHistory

_TRANSACTION_COLUMNS = [
    ("id", "i8"),
    ("time", "i8"),
    ("price", "f8"),
    ("quantity", "f8"),
    ("side", "i8"),
    ("fee", "f8"),
    ("symbol", "i8"),  # 1-based position in the list of symbols passed in
    ("fee_asset", "i8"),  # likewise, in the list of fee assets
]
_FEE = "(metadata->>'fee')"
_FEE_ASSET = "COALESCE(metadata->>'fee_asset', '')"
# Imports store a fee as canonical decimal text, read with a plain cast. Should a row
# hold anything else, the cast fails and the careful reading is used instead, where a
# fee that is not a number counts as none (the run still replays the transaction).
_FEE_AS_STORED = f"COALESCE({_FEE}::float8, 0)"
_NUMBER = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
_FEE_IF_NUMBER = f"CASE WHEN {_FEE} ~ %s THEN {_FEE}::float8 ELSE 0 END"
_PACKED_TRANSACTION = (
    "int8send(id) || timestamptz_send(transaction_time) || float8send(price::float8)"
    " || float8send(quantity::float8) || int8send(CASE WHEN side = 'buy' THEN 1 ELSE -1 END)"
    " || float8send({fee})"
    " || int8send(array_position(%s::text[], symbol::text))"
    f" || int8send(array_position(%s::text[], {_FEE_ASSET}))"
)
_OHLC = ("open", "high", "low", "close")
_MONTH_SPAN_US = 31 * 86_400 * 1_000_000
# executed_at and metadata are left to their database defaults (now(), {}).
_EXECUTION_COLUMNS = (
    "replay_run_id",
    "transaction_history_id",
    "status",
    "candle_time",
    "replay_price",
    "slippage",
    "slippage_pct",
    "value_difference",
    "result",
)
_NUMERIC_LIMIT = 1e20  # the price columns hold 20 digits before the decimal point
_FIGURE_DIGITS = 12


# --- Reading ----------------------------------------------------------------------------


@dataclass
class Fills:
    """One symbol's transactions, in time order (then id)."""

    ids: np.ndarray
    time: np.ndarray  # µs since the Unix epoch
    price: np.ndarray
    quantity: np.ndarray
    side: np.ndarray  # +1 buy, -1 sell
    fee: np.ndarray  # as paid, in fee_asset
    fee_asset: np.ndarray  # str objects; "" when none was given

    def __len__(self) -> int:
        return len(self.ids)


def load_fills(selected: QuerySet[TransactionHistory]) -> dict[str, Fills]:
    """The selected transactions as arrays per symbol: their symbols and fee assets in
    one small query, then every row packed into one bytea (no per-row work in the
    driver), as marketdata.selectors.candle_arrays reads candles."""
    selected = selected.order_by()
    pairs = (
        selected.annotate(fee_asset_found=RawSQL(_FEE_ASSET, ()))
        .values_list("symbol", "fee_asset_found")
        .distinct()
    )
    pairs = list(pairs)
    if not pairs:
        return {}
    symbols = sorted({symbol for symbol, _ in pairs})
    assets = sorted({asset for _, asset in pairs})
    try:
        with transaction.atomic():
            blob = _packed_rows(selected, _FEE_AS_STORED, (symbols, assets))
    except psycopg.DataError:
        blob = _packed_rows(selected, _FEE_IF_NUMBER, (_NUMBER, symbols, assets))
    records = pgcopy.decode_packed(_TRANSACTION_COLUMNS, blob)
    time = pgcopy.pg_to_unix_us(records["time"])
    ids = records["id"].astype(np.int64)
    order = np.lexsort((ids, time))
    records, time, ids = records[order], time[order], ids[order]
    symbol_code = records["symbol"].astype(np.int64)
    names = np.array([asset.strip().upper() for asset in assets], dtype=object)
    fee_assets = names[records["fee_asset"].astype(np.int64) - 1]
    fills = {}
    for code, symbol in enumerate(symbols, start=1):
        rows = symbol_code == code
        fills[symbol] = Fills(
            ids=ids[rows],
            time=time[rows],
            price=records["price"][rows].astype(np.float64),
            quantity=records["quantity"][rows].astype(np.float64),
            side=records["side"][rows].astype(np.int64),
            fee=records["fee"][rows].astype(np.float64),
            fee_asset=fee_assets[rows],
        )
    return fills


def _packed_rows(selected: QuerySet[TransactionHistory], fee: str, params: tuple) -> bytes:
    packed = selected.annotate(
        packed=RawSQL(_PACKED_TRANSACTION.format(fee=fee), params)
    ).values_list("packed")
    sql, sql_params = packed.query.sql_with_params()
    connection.ensure_connection()
    # A server-side-binding cursor: Django's client-side cursors cannot return binary.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"SELECT string_agg(packed, ''::bytea) FROM ({sql}) AS selected (packed)",
            sql_params,
            binary=True,
        )
        (blob,) = cursor.fetchone()
    return blob


@dataclass(frozen=True)
class MarketWindow:
    """Where a run reads candles: its timeframe and source, and the moment open
    positions are valued at (`mark_us`)."""

    timeframe: str
    source: str
    fill_model: str
    mark_us: int

    @property
    def bar_us(self) -> int | None:
        return bar_us(self.timeframe)

    @property
    def span_us(self) -> int:
        return candle_span_us(self.timeframe)

    def candles(
        self, symbol: str, start_us: int, end_us: int
    ) -> tuple[engine.Candles, CandleSeries | None]:
        """Candles with start <= open time < end, and the symbol's series (None when the
        symbol has none in the timeframe and source: no candles)."""
        series = find_series(symbol, self.timeframe, self.source)
        if series is None:
            return engine.Candles.empty(), None
        arrays = candle_arrays(series, _moment(start_us), _moment(end_us), _OHLC)
        return engine.Candles.from_arrays(arrays, self.bar_us), series


def bar_us(timeframe: str) -> int | None:
    """The timeframe in µs; None for calendar months (which vary)."""
    found = get_timeframe(timeframe)
    return None if found.is_calendar_month else found.seconds * 1_000_000


def candle_span_us(timeframe: str) -> int:
    """The longest a candle of the timeframe lasts, in µs."""
    return bar_us(timeframe) or _MONTH_SPAN_US


def _moment(microseconds: int) -> datetime:
    return datetime.fromtimestamp(microseconds / 1_000_000, tz=UTC)


# --- Matching ---------------------------------------------------------------------------


@dataclass
class SymbolReplay:
    """One symbol's transactions replayed: per transaction and as positions."""

    symbol: str
    quote_asset: str
    fills: Fills
    has_candles: bool
    candles: engine.Candles
    index: np.ndarray  # containing candle, or engine.MISSING
    replay_price: np.ndarray
    slippage: engine.Slippage
    fee_in_quote: np.ndarray  # NaN: not convertible (or no candle)
    positions: engine.Positions | None
    mark_us: int | None
    mark_price: float | None
    unconverted_fees: dict[str, float] = field(default_factory=dict)

    @property
    def completed(self) -> np.ndarray:
        return self.index != engine.MISSING


def replay_symbol(symbol: str, fills: Fills, window: MarketWindow) -> SymbolReplay:
    """Match one symbol's fills with its candles (one as-of join), price them under the
    run's fill model, convert their fees and rebuild the positions."""
    start = int(fills.time[0]) - window.span_us
    end = max(window.mark_us, int(fills.time[-1]) + 1)
    candles, series = window.candles(symbol, start, end)
    index = engine.containing_candles(candles, fills.time)
    replay_price = engine.fill_prices(candles, index, fills.side, window.fill_model)
    slip = engine.slippage(fills.price, replay_price, fills.side, fills.quantity)
    base, quote = _assets(series)
    fee_in_quote = _fees_in_quote(fills, candles, index, base, quote, window)
    completed = index != engine.MISSING
    unconverted = _unconverted(fills, completed & np.isnan(fee_in_quote))
    mark = engine.mark_index(candles, window.mark_us)
    mark_price = float(candles.close[mark]) if mark != engine.MISSING else None
    positions = None
    if completed.any():
        charged = np.where(np.isnan(fee_in_quote), 0.0, fee_in_quote)[completed]
        positions = engine.fifo_positions(
            fills.side[completed],
            fills.quantity[completed],
            fills.price[completed],
            replay_price[completed],
            charged,
            mark_price,
        )
    return SymbolReplay(
        symbol=symbol,
        quote_asset=quote,
        fills=fills,
        has_candles=series is not None,
        candles=candles,
        index=index,
        replay_price=replay_price,
        slippage=slip,
        fee_in_quote=fee_in_quote,
        positions=positions,
        mark_us=int(candles.end[mark]) if mark != engine.MISSING else None,
        mark_price=mark_price,
        unconverted_fees=unconverted,
    )


def _assets(series: CandleSeries | None) -> tuple[str, str]:
    """The symbol's base and quote assets, as the market-data catalogue knows them."""
    if series is None:
        return "", ""
    return series.symbol.base_asset, series.symbol.quote_asset


def _fees_in_quote(
    fills: Fills,
    candles: engine.Candles,
    index: np.ndarray,
    base: str,
    quote: str,
    window: MarketWindow,
) -> np.ndarray:
    """Fees in the quote asset. A fee in the base asset is valued at the symbol's own
    candle, one in a third asset (BNB) at that asset's candle against the quote asset
    (BNBUSDT) containing the same moment, both under the run's fill model ("worst"
    values the fee at the high: the dearer for the trader). NaN where that candle is
    missing. Every fee is charged alike to the real and the replayed sequence."""
    kind = np.full(len(fills), engine.NO_FEE, dtype=np.int64)
    paid = fills.fee != 0
    kind[paid & (fills.fee_asset == quote) & (quote != "")] = engine.FEE_IN_QUOTE
    kind[paid & (fills.fee_asset == base) & (base != "")] = engine.FEE_IN_BASE
    other = paid & (kind == engine.NO_FEE) & (fills.fee_asset != "")
    kind[other] = engine.FEE_IN_OTHER
    buying = np.full(len(fills), engine.BUY)
    own_price = engine.fill_prices(candles, index, buying, window.fill_model)
    other_price = np.full(len(fills), np.nan)
    for asset in sorted(set(fills.fee_asset[other].tolist())) if quote else ():
        rows = other & (fills.fee_asset == asset)
        times = fills.time[rows]
        asset_candles, _ = window.candles(
            f"{asset}{quote}", int(times[0]) - window.span_us, int(times[-1]) + 1
        )
        at = engine.containing_candles(asset_candles, times)
        other_price[rows] = engine.fill_prices(asset_candles, at, buying[rows], window.fill_model)
    return engine.fees_in_quote(fills.fee, kind, own_price, other_price)


def _unconverted(fills: Fills, rows: np.ndarray) -> dict[str, float]:
    totals: dict[str, float] = {}
    for asset, fee in zip(fills.fee_asset[rows].tolist(), fills.fee[rows].tolist(), strict=True):
        totals[asset] = totals.get(asset, 0.0) + fee
    return {asset: _figure(total) for asset, total in sorted(totals.items())}


# --- Execution rows -------------------------------------------------------------------


def store(
    run_id: int,
    replays: list[SymbolReplay],
    timeframe: str,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Inside the caller's transaction: mark the replayed transactions (those with a
    candle) `is_replayed`, in one UPDATE, and COPY one execution per transaction, in
    transaction time order. Returns the seconds each took.

    The UPDATE runs on this same connection (so in the same transaction) from a helper
    thread, while this thread formats the COPY lines: the server updates rows while
    Python formats, and the COPY starts once both are done. `progress(rows written)` is
    called along the COPY.
    """
    replayed = [replay.fills.ids[replay.completed] for replay in replays]
    connection.ensure_connection()
    clock = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as helper:
        marking = helper.submit(
            _mark_replayed, connection.connection, np.concatenate(replayed).tolist()
        )
        lines = _execution_lines(run_id, replays, timeframe)
        marking.result()
    marked = time.perf_counter() - clock
    clock = time.perf_counter()
    copy_text_lines(
        ReplayExecution._meta.db_table, _EXECUTION_COLUMNS, iter(lines), progress=progress
    )
    return {"mark_replayed": marked, "write_executions": time.perf_counter() - clock}


def _mark_replayed(database: psycopg.Connection, transaction_ids: list[int]) -> None:
    # This thread's Django connection is another one: it is given the caller's own
    # psycopg connection, which psycopg lets threads share (it serialises their use),
    # and which the caller leaves alone until this returns.
    with psycopg.Cursor(database) as cursor:  # server-side binding: the ids go as binary
        cursor.execute(
            f"UPDATE {TransactionHistory._meta.db_table} AS t SET is_replayed = true "
            "FROM unnest(%b::bigint[]) AS replayed (id) "
            "WHERE t.id = replayed.id AND NOT t.is_replayed",
            (transaction_ids,),
        )


def _execution_lines(run_id: int, replays: list[SymbolReplay], timeframe: str) -> list[str]:
    """The COPY lines of every execution, in transaction time order (then id)."""

    def column(source: Callable[[SymbolReplay], np.ndarray]) -> np.ndarray:
        return np.concatenate([source(replay) for replay in replays])

    ids, times = column(lambda r: r.fills.ids), column(lambda r: r.fills.time)
    order = np.lexsort((ids, times))
    ids, times = ids[order], times[order]

    def joined(source: Callable[[SymbolReplay], np.ndarray]) -> np.ndarray:
        return column(source)[order]

    found = joined(lambda r: r.completed)
    candle_time = joined(lambda r: _per_fill(r, "open_time")).astype(np.int64)
    fee = joined(lambda r: r.fee_in_quote)
    fee_parts = [
        f', "fee_in_quote": {text}' if paid else ""
        for text, paid in zip(
            _numbers(fee, null="null"), joined(lambda r: r.fills.fee != 0).tolist(), strict=True
        )
    ]
    # Every value is a number, a timestamp or one of our fixed words: nothing to escape.
    completed = (
        f"{run_id}\t%d\t{ExecutionStatus.COMPLETED}\t%s\t%s\t%s\t%s\t%s\t"
        '{"candle": {"open": %r, "high": %r, "low": %r, "close": %r}%s}\n'
    )
    # Few transactions lack a candle: theirs are the only lines made apart.
    no_series = joined(lambda r: np.full(len(r.fills), not r.has_candles))
    symbols = joined(lambda r: np.full(len(r.fills), r.symbol, dtype=object))
    failed = {}
    for row in np.flatnonzero(~found).tolist():
        missing = _missing_message(int(times[row]), symbols[row], timeframe, no_series[row])
        failed[row] = (
            f"{run_id}\t{ids[row]}\t{ExecutionStatus.FAILED}\t"
            f"\\N\t\\N\t\\N\t\\N\t\\N\t{json.dumps({'error': missing})}\n"
        )
    rows = zip(
        ids.tolist(),
        utc_text(candle_time),
        _numbers(joined(lambda r: r.replay_price)),
        _numbers(joined(lambda r: r.slippage.per_unit)),
        _numbers(joined(lambda r: r.slippage.pct), limit=np.inf),
        _numbers(joined(lambda r: r.slippage.value)),
        *(joined(lambda r, name=name: _per_fill(r, name)).tolist() for name in _OHLC),
        fee_parts,
        strict=True,
    )
    return [failed.get(index) or completed % row for index, row in enumerate(rows)]


def _per_fill(replay: SymbolReplay, name: str) -> np.ndarray:
    """A candle field for each fill (0 where it has no candle)."""
    if len(replay.candles) == 0:
        return np.zeros(len(replay.fills))
    values = getattr(replay.candles, name)[np.where(replay.completed, replay.index, 0)]
    return np.where(replay.completed, values, 0)


def _numbers(values: np.ndarray, limit: float = _NUMERIC_LIMIT, null: str = "\\N") -> list[str]:
    """Shortest round-trip text of each number; `null` for NaN, infinities and values
    a numeric column cannot hold."""
    fits = np.isfinite(values) & (np.abs(values) < limit)
    return [
        repr(number) if ok else null
        for number, ok in zip(values.tolist(), fits.tolist(), strict=True)
    ]


def _missing_message(time_us: int, symbol: str, timeframe: str, no_series: bool) -> str:
    message = f"no candle for {iso_time(time_us)}"
    if no_series:
        message += f": no {symbol} {timeframe} candles are stored"
    return message


def iso_time(microseconds: int) -> str:
    """2024-01-01T00:03:00Z, with a fraction of a second only when there is one."""
    moment = _moment(microseconds)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


# --- Summary --------------------------------------------------------------------------


def summarise(replays: list[SymbolReplay], window: MarketWindow) -> dict:
    """Counts, slippage and PnL per symbol, and totals per quote asset (symbols quoted
    in different assets are never added together)."""
    symbols = {replay.symbol: _symbol_summary(replay) for replay in replays}
    totals: dict[str, dict] = {}
    for summary in symbols.values():
        key = summary["quote_asset"] or "unknown"
        totals[key] = _add(totals[key], summary) if key in totals else _total_of(summary)
    return {
        "transactions": sum(s["transactions"] for s in symbols.values()),
        "completed": sum(s["completed"] for s in symbols.values()),
        "failed": sum(s["failed"] for s in symbols.values()),
        "fill_model": window.fill_model,
        "timeframe": window.timeframe,
        "source": window.source,
        "marked_at": iso_time(window.mark_us),
        "symbols_without_candles": [r.symbol for r in replays if not r.has_candles],
        "symbols": symbols,
        "total": totals,
    }


def _symbol_summary(replay: SymbolReplay) -> dict:
    completed = replay.completed
    count = int(completed.sum())
    positions = replay.positions
    real = _position(positions.real if positions else None)
    replayed = _position(positions.replayed if positions else None)
    return {
        "quote_asset": replay.quote_asset,
        "transactions": len(replay.fills),
        "completed": count,
        "failed": len(replay.fills) - count,
        "value_difference": _figure(float(np.sum(replay.slippage.value[completed]))),
        "mean_slippage_pct": (
            _figure(float(np.mean(replay.slippage.pct[completed]))) if count else None
        ),
        "real": real,
        "replayed": replayed,
        "difference": _difference(real, replayed),
        "open_quantity": _figure(positions.open_quantity if positions else 0.0),
        "mark": (
            {"time": iso_time(replay.mark_us), "price": replay.mark_price}
            if replay.mark_us is not None
            else None
        ),
        "fees_unconverted": replay.unconverted_fees,
    }


_PNL = ("realised_pnl", "unrealised_pnl", "fees", "net_pnl")


def _position(position: engine.Position | None) -> dict:
    if position is None:
        return dict.fromkeys(_PNL, 0.0)
    return {
        "realised_pnl": _figure(position.realised_pnl),
        "unrealised_pnl": _figure(position.unrealised_pnl),
        "fees": _figure(position.fees),
        "net_pnl": _figure(position.net_pnl),
    }


def _difference(real: dict, replayed: dict) -> dict:
    """replayed - real: positive is what the real fills cost against the reference."""
    return {
        name: _figure(replayed[name] - real[name])
        if real[name] is not None and replayed[name] is not None
        else None
        for name in ("realised_pnl", "unrealised_pnl", "net_pnl")
    }


_COUNTS = ("transactions", "completed", "failed")


def _total_of(summary: dict) -> dict:
    return {
        **{name: summary[name] for name in _COUNTS},
        "value_difference": summary["value_difference"],
        "real": dict(summary["real"]),
        "replayed": dict(summary["replayed"]),
        "difference": dict(summary["difference"]),
        "fees_unconverted": dict(summary["fees_unconverted"]),
    }


def _add(total: dict, summary: dict) -> dict:
    for name in _COUNTS:
        total[name] += summary[name]
    total["value_difference"] = _sum(total["value_difference"], summary["value_difference"])
    for side in ("real", "replayed"):
        for name in _PNL:
            total[side][name] = _sum(total[side][name], summary[side][name])
    total["difference"] = _difference(total["real"], total["replayed"])
    for asset, amount in summary["fees_unconverted"].items():
        total["fees_unconverted"][asset] = _sum(total["fees_unconverted"].get(asset, 0.0), amount)
    return total


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else _figure(a + b)


def _figure(value: float | None) -> float | None:
    """A summary figure as a JSON number, without the last digits' float noise."""
    if value is None or not np.isfinite(value):
        return None
    return float(f"{value:.{_FIGURE_DIGITS}g}")
