"""Normalising imported fills a whole column at a time.

Each function takes a column of text (a numpy str array, as `replay.importers.table`
reads it), records the rows it cannot read in a `RowChecks`, and returns the
normalised column (an object array, None where a row is rejected or a cell empty). The
work is done by numpy's string ufuncs and pandas, never a regular expression per row:

- symbols: `BTC/USDT`, `btc-usdt`, `BTC_USDT` and `BTCUSDT` are all `BTCUSDT`
  (marketdata's `normalise_symbol`, applied once per distinct value);
- sides: BUY, Buy, b, bought, bid are `buy`; SELL, s, sold, ask are `sell`;
- order types: Binance's and the usual names onto market, limit, stop_limit and
  take_profit (see ORDER_TYPES); an empty cell is `market` with type_known false;
- amounts: exact decimal text, never a float: thousands separators (`1,234.5`, only
  in groups of three) and scientific notation (`1E-8`) are accepted; the result is
  canonical (`0.00150000` is `0.0015`, `1,234.50` is `1234.5`) so equal amounts compare
  and hash equal. At most 18 decimal places and 20 integer digits (the column's
  numeric(38, 18)); more is rejected rather than rounded;
- times: ISO 8601 (`2024-01-15 08:30:12`, `2024-01-15T08:30:12.5Z`, `…+02:00`), or
  epoch numbers in seconds, milliseconds, microseconds or nanoseconds, told apart by
  their number of integer digits (10, 13, 16, 19 today). A time with a zone or offset is
  converted to UTC; a time without one is taken as UTC (exchanges export in UTC: Binance
  says so in its `Date(UTC)` header). Times before 2009-01-03 (Bitcoin's first block) or
  more than a day ahead are rejected: they are a unit mix-up, not a trade.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

from marketdata.services import InvalidParameter, normalise_symbol
from replay.importers.checks import Field, RowChecks
from replay.models import Side, TransactionType

S = np.strings
DIGITS = "0123456789"
MAX_FRACTION_DIGITS = 18
MAX_INTEGER_DIGITS = 20
EARLIEST = datetime(2009, 1, 3, tzinfo=UTC)
FUTURE_TOLERANCE_US = 86_400_000_000

SIDES = {
    **dict.fromkeys(("buy", "b", "bought", "bid"), Side.BUY.value),
    **dict.fromkeys(("sell", "s", "sold", "ask"), Side.SELL.value),
}
# Names seen in exchange exports and APIs (lower case; spaces and hyphens read as "_").
# STOP_LOSS and STOP_MARKET orders fill as market orders once triggered, so they are
# `market`; the raw row keeps what the file said.
ORDER_TYPES = {
    **dict.fromkeys(("market", "mkt", "stop_loss", "stop_market", "stop"), "market"),
    **dict.fromkeys(("limit", "lmt", "limit_maker", "post_only"), "limit"),
    **dict.fromkeys(("stop_limit", "stop_loss_limit", "stoplimit"), "stop_limit"),
    **dict.fromkeys(
        ("take_profit", "take_profit_limit", "take_profit_market", "takeprofit"), "take_profit"
    ),
}
assert set(ORDER_TYPES.values()) <= set(TransactionType.values)

_SCIENTIFIC = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+")
# Integer digits of an epoch number -> microseconds per unit.
_EPOCH_UNITS = ((range(9, 12), 1_000_000), (range(12, 15), 1_000), (range(15, 18), 1))
_NANOSECOND_DIGITS = range(18, 20)  # 20 digits overflow int64: after 2262 anyway


def all_digits(text: np.ndarray) -> np.ndarray:
    """Non-empty and made of ASCII digits only (str.isdigit accepts '²' and '٣')."""
    return (S.str_len(text) > 0) & (S.str_len(S.strip(text, DIGITS)) == 0)


def _mapped(
    values: np.ndarray,
    checks: RowChecks,
    field: Field,
    lookup: Callable[[str], str | None],
    reason: str,
) -> np.ndarray:
    """Each distinct value through `lookup` once (None: unreadable, rejected)."""
    codes, distinct = pd.factorize(values)
    mapped = np.asarray([lookup(str(value)) for value in distinct] + [None], dtype=object)
    result = mapped[codes]  # code -1 (none here) would take the trailing None
    checks.reject(field, np.asarray([m is None for m in mapped])[codes], values, reason)
    return result


def _symbol_or_none(value: str) -> str | None:
    try:
        return normalise_symbol(value)
    except InvalidParameter:
        return None


def symbols(values: np.ndarray, checks: RowChecks, field: Field) -> np.ndarray:
    return _mapped(values, checks, field, _symbol_or_none, "is not a symbol like BTCUSDT")


def sides(values: np.ndarray, checks: RowChecks, field: Field) -> np.ndarray:
    return _mapped(
        values,
        checks,
        field,
        lambda value: SIDES.get(value.strip().lower()),
        "is not a side (buy or sell)",
    )


def _order_type(value: str) -> str | None:
    if not value.strip():
        return "market"
    key = "_".join(value.strip().lower().replace("-", " ").replace("_", " ").split())
    return ORDER_TYPES.get(key)


def order_types(
    values: np.ndarray, checks: RowChecks, field: Field
) -> tuple[np.ndarray, np.ndarray]:
    """The types, and whether the row said (an empty cell is market, type_known false)."""
    known = S.str_len(S.strip(values)) > 0
    types = _mapped(
        values,
        checks,
        field,
        _order_type,
        "is not an order type (market, limit, stop_limit, take_profit)",
    )
    return types, known


# --- Amounts ---------------------------------------------------------------------------


def canonical(text: np.ndarray) -> np.ndarray:
    """Plain decimal text (digits, at most one point) in canonical form: '.5' -> '0.5',
    '0.00150000' -> '0.0015', '100.' -> '100', '000' -> '0', '0012' -> '12'."""
    fractional = S.find(text, ".") >= 0
    text = np.where(fractional, S.rstrip(S.rstrip(text, "0"), "."), text)
    text = S.lstrip(text, "0")
    needs_zero = (S.str_len(text) == 0) | S.startswith(text, ".")
    return np.where(needs_zero, S.add("0", text), text)


def _grouped_in_threes(text: np.ndarray) -> np.ndarray:
    """Thousands separators in the integer part, in groups of three: '1,234.5' and
    '12,345,678' yes; '1,23', ',123' and '1234,567' no (digits are checked apart)."""
    integer = S.partition(text, ".")[0]
    commas = S.count(integer, ",")
    length = S.str_len(integer)
    leading = length - 4 * commas  # digits before the first separator
    grouped = (leading >= 1) & (leading <= 3)
    for k in range(1, int(commas.max(initial=0)) + 1):
        at = np.maximum(length - 4 * k, 0)
        grouped &= (commas < k) | (S.slice(integer, at, at + 1) == ",")
    return grouped


def _scientific_as_plain(value: str) -> str | None:
    if not _SCIENTIFIC.fullmatch(value):
        return None
    try:
        return format(Decimal(value), "f")
    except InvalidOperation:
        return None


def decimals(
    values: np.ndarray,
    checks: RowChecks,
    field: Field,
    *,
    required: bool = True,
    allow_zero: bool = False,
) -> np.ndarray:
    """Canonical decimal text (object array); None where the cell is empty or bad."""
    text = S.strip(values)
    empty = S.str_len(text) == 0
    negative = S.startswith(text, "-")
    signed = S.startswith(text, "+")
    body = np.where(signed, S.slice(text, 1, None), text) if signed.any() else text
    grouped = S.find(body, ",") >= 0
    plain_text = S.replace(body, ",", "") if grouped.any() else body
    integer, point, fraction = S.partition(plain_text, ".")
    integer_length, fraction_length = S.str_len(integer), S.str_len(fraction)
    plain = (
        (all_digits(integer) | ((integer_length == 0) & (point == ".")))
        & ((fraction_length == 0) | all_digits(fraction))
        & ((integer_length > 0) | (fraction_length > 0))
    )
    if grouped.any():
        plain &= ~grouped | _grouped_in_threes(body)
    number = plain_text
    unreadable = ~(plain | empty | negative)
    if unreadable.any():  # scientific notation, or not a number
        rows = np.flatnonzero(unreadable)
        converted = [_scientific_as_plain(value) for value in body[rows]]
        scientific = np.asarray([value is not None for value in converted], dtype=bool)
        number = number.astype(object)
        number[rows[scientific]] = [value for value in converted if value is not None]
        number = number.astype(str)
        unreadable[rows[scientific]] = False
        plain[rows[scientific]] = True
    if required:
        checks.reject(field, empty, values, f"{field.name} is required", quote=False)
    rule = "must not be negative" if allow_zero else "must be positive"
    checks.reject(field, negative, values, f"is negative: {field.name} {rule}")
    checks.reject(field, unreadable, values, "is not a number")
    number = canonical(np.where(plain, number, "0"))
    point_at = S.find(number, ".")
    length = S.str_len(number)
    fraction_digits = np.where(point_at >= 0, length - point_at - 1, 0)
    integer_digits = np.where(point_at >= 0, point_at, length)
    too_precise = plain & (fraction_digits > MAX_FRACTION_DIGITS)
    too_large = plain & (integer_digits > MAX_INTEGER_DIGITS)
    zero = plain & (number == "0") if not allow_zero else np.zeros(len(number), dtype=bool)
    checks.reject(field, too_precise, values, f"has more than {MAX_FRACTION_DIGITS} decimal places")
    checks.reject(
        field, too_large, values, f"is too large (more than {MAX_INTEGER_DIGITS} integer digits)"
    )
    checks.reject(field, zero, values, "must be positive")
    result = number.astype(object)
    result[~plain | too_precise | too_large | zero] = None
    return result


# --- Times -----------------------------------------------------------------------------


def _epoch_us(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(µs, readable) for epoch numbers, by their integer digits."""
    integer, _point, fraction = S.partition(text, ".")
    digits = S.str_len(integer)
    micros = np.zeros(len(text), dtype=np.int64)
    readable = np.zeros(len(text), dtype=bool)
    for widths, unit in _EPOCH_UNITS:
        rows = np.isin(digits, widths)
        if rows.any():
            part = [round(float(f"0.{f}") * unit) if f else 0 for f in fraction[rows]]
            micros[rows] = integer[rows].astype(np.int64) * unit + np.asarray(part, np.int64)
            readable |= rows
    nanos = np.isin(digits, _NANOSECOND_DIGITS)
    if nanos.any():
        micros[nanos] = integer[nanos].astype(np.int64) // 1_000
        readable |= nanos
    return micros, readable


def times(
    values: np.ndarray, checks: RowChecks, field: Field, *, now: datetime | None = None
) -> np.ndarray:
    """Microseconds since the epoch, UTC (0 where the row is rejected)."""
    text = S.strip(values)
    integer, point, fraction = S.partition(text, ".")
    epoch = all_digits(integer) & ((point == "") | all_digits(fraction))
    micros = np.zeros(len(text), dtype=np.int64)
    readable = np.zeros(len(text), dtype=bool)
    if epoch.any():
        micros[epoch], readable[epoch] = _epoch_us(text[epoch])
    iso = ~epoch & (S.str_len(text) > 0)
    if iso.any():
        rows = np.flatnonzero(iso)
        parsed = pd.to_datetime(
            pd.Series(text[rows], dtype=object), format="ISO8601", utc=True, errors="coerce"
        )
        ok = parsed.notna().to_numpy()
        micros[rows[ok]] = parsed[ok].dt.as_unit("us").astype("int64").to_numpy(dtype=np.int64)
        readable[rows[ok]] = True
    checks.reject(
        field,
        ~readable,
        values,
        "is not a time (ISO 8601 like 2024-01-15 08:30:12, or epoch s/ms/µs/ns)",
    )
    latest = (now or datetime.now(UTC)).timestamp() * 1_000_000 + FUTURE_TOLERANCE_US
    earliest = EARLIEST.timestamp() * 1_000_000
    checks.reject(field, readable & (micros < earliest), values, "is before 2009-01-03")
    checks.reject(field, readable & (micros > latest), values, "is in the future")
    return micros
