"""Binance's spot trade-history export: `Date(UTC),Pair,Side,Price,Executed,Amount,Fee`.

    Date(UTC),Pair,Side,Price,Executed,Amount,Fee
    2024-01-15 08:30:12,BTCUSDT,BUY,"64,900.00",0.00150000BTC,97.35USDT,0.00000150BNB

- Executed is the base quantity, Amount the quote quantity (price x quantity, as Binance
  rounded it), Fee the commission: each carries its asset as a suffix, and numbers may
  carry thousands separators (then the CSV quotes the field).
- The assets are read against the pair: the split of `1000SATSUSDT` into base and quote
  is the one under which Executed ends with the base and Amount with the quote, so
  assets that start with digits (1INCH, 1000SATS) are read right. A row whose assets do
  not make its pair is rejected. The fee's asset is the pair's base or quote when the
  fee ends with one, otherwise its trailing letters (BNB).
- The export has no trade id: one is derived from the row when it is stored.
- It has no order type either: every row is `market` with `type_known: false` in its
  metadata (market is what a taker fill most often is; the flag says it is a guess).
"""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

from replay import normalise
from replay.importers.checks import Field, RowChecks
from replay.importers.fills import Fills, build_fills, json_words
from replay.importers.table import Table

S = np.strings
HEADER = ("Date(UTC)", "Pair", "Side", "Price", "Executed", "Amount", "Fee")
TIME, PAIR, SIDE, PRICE, EXECUTED, AMOUNT, FEE = range(len(HEADER))
LETTERS = string.ascii_letters


def is_binance_header(header: list[str]) -> bool:
    return [cell.lower().replace(" ", "") for cell in header] == [h.lower() for h in HEADER]


def _ends_with(values: np.ndarray, asset: str) -> np.ndarray:
    """Rows that are a number followed by `asset` (a digit or a point right before it)."""
    lengths = S.str_len(values)
    before = S.slice(values, np.maximum(lengths - len(asset) - 1, 0), lengths - len(asset))
    return (
        S.endswith(values, asset)
        & (lengths > len(asset))
        & ((before == ".") | normalise.all_digits(before))
    )


def _number_before(value: str, asset: str) -> bool:
    """`value` is a number followed by `asset` (one row's check of _ends_with)."""
    number = value[: -len(asset)]
    return (
        len(value) > len(asset)
        and value.endswith(asset)
        and (number[-1].isdigit() or number[-1] == ".")
    )


def _without_suffix(values: np.ndarray, length: int | np.ndarray) -> np.ndarray:
    return S.slice(values, 0, S.str_len(values) - length)


class _Amounts:
    """Executed, Amount and Fee split into numbers and assets (see the module)."""

    def __init__(self, table: Table, symbol: np.ndarray) -> None:
        self.executed = S.strip(table.column(EXECUTED))
        self.amount = S.strip(table.column(AMOUNT))
        self.fee = S.strip(table.column(FEE))
        rows = len(table)
        self.base = np.full(rows, None, dtype=object)
        self.quote = np.full(rows, None, dtype=object)
        self.fee_asset = np.full(rows, None, dtype=object)
        self.executed_number = self.executed.astype(object)
        self.amount_number = self.amount.astype(object)
        self.fee_number = self.fee.astype(object)
        self.mismatched: list[tuple[int, str]] = []
        codes, pairs = pd.factorize(symbol, use_na_sentinel=True)
        for code, pair in enumerate(pairs):
            self._split_pair(np.flatnonzero(codes == code), str(pair))
        self._split_fees()

    def _split_pair(self, rows: np.ndarray, pair: str) -> None:
        """The split of the pair that a row's assets agree with, tried on the whole
        column at once; rows it does not fit get theirs (usually every row of a pair
        has the same)."""
        executed, amount = self.executed[rows], self.amount[rows]
        splits = [(pair[:i], pair[i:]) for i in range(1, len(pair))]
        open_rows = np.ones(len(rows), dtype=bool)
        unsplit: list[int] = []
        while open_rows.any():
            first = int(np.flatnonzero(open_rows)[0])
            split = next(
                (
                    (base, quote)
                    for base, quote in splits
                    if _number_before(str(executed[first]), base)
                    and _number_before(str(amount[first]), quote)
                ),
                None,
            )
            if split is None:
                open_rows[first] = False
                unsplit.append(first)
                continue
            base, quote = split
            chosen = open_rows & _ends_with(executed, base) & _ends_with(amount, quote)
            at = rows[chosen]
            self.base[at], self.quote[at] = base, quote
            self.executed_number[at] = _without_suffix(executed[chosen], len(base))
            self.amount_number[at] = _without_suffix(amount[chosen], len(quote))
            open_rows &= ~chosen
        for index in unsplit:
            if not (executed[index][-1:].isalpha() or amount[index][-1:].isalpha()):
                continue  # plain numbers: no assets to check
            at = rows[index]
            reason = (
                f"the assets of {str(executed[index])!r} and {str(amount[index])!r} "
                f"do not make the pair {pair}"
            )
            self.mismatched.append((int(at), reason))
            self.executed_number[at] = executed[index].rstrip(LETTERS)
            self.amount_number[at] = amount[index].rstrip(LETTERS)

    def _split_fees(self) -> None:
        """The pair's base or quote when the fee ends with it, else its trailing letters."""
        fee = self.fee
        number = S.rstrip(fee, LETTERS)
        last = S.slice(number, -1, None)
        lettered = (S.str_len(number) < S.str_len(fee)) & (
            (last == ".") | normalise.all_digits(last)
        )
        self.fee_number[lettered] = number[lettered]
        self.fee_asset[lettered] = S.upper(
            S.slice(fee[lettered], S.str_len(number[lettered]), None)
        )
        for assets in (self.quote, self.base):  # the base wins: its suffix may start with digits
            for asset in pd.unique(assets[assets != None]):  # noqa: E711 (elementwise)
                rows = np.flatnonzero(assets == asset)
                ends = _ends_with(fee[rows], asset)
                at = rows[ends]
                self.fee_number[at] = _without_suffix(fee[at], len(asset))
                self.fee_asset[at] = asset


def parse(table: Table) -> Fills:
    checks = RowChecks(table.lines)
    time_us = normalise.times(table.column(TIME), checks, Field("time", HEADER[TIME]))
    symbol = normalise.symbols(table.column(PAIR), checks, Field("symbol", HEADER[PAIR]))
    side = normalise.sides(table.column(SIDE), checks, Field("side", HEADER[SIDE]))
    price = normalise.decimals(table.column(PRICE), checks, Field("price", HEADER[PRICE]))
    amounts = _Amounts(table, symbol)
    checks.reject_rows(Field("quantity", HEADER[EXECUTED]), amounts.mismatched)
    text = np.asarray
    quantity = normalise.decimals(
        text(amounts.executed_number, dtype=str), checks, Field("quantity", HEADER[EXECUTED])
    )
    quote_quantity = normalise.decimals(
        text(amounts.amount_number, dtype=str), checks, Field("quote_quantity", HEADER[AMOUNT])
    )
    fee = normalise.decimals(
        text(amounts.fee_number, dtype=str), checks, Field("fee", HEADER[FEE]), allow_zero=True
    )
    rows = len(table)
    return build_fills(
        valid=checks.valid,
        lines=table.lines,
        time_us=time_us,
        symbol=symbol,
        side=side,
        transaction_type=np.full(rows, "market", dtype=object),
        type_known=np.zeros(rows, dtype=bool),
        price=price,
        quantity=quantity,
        fee=fee,
        fee_asset=amounts.fee_asset,
        transaction_id=None,
        extra={
            "quote_quantity": json_words(quote_quantity),
            "base_asset": json_words(amounts.base),
            "quote_asset": json_words(amounts.quote),
        },
        raw={name: table.column(index) for index, name in enumerate(table.header)},
        rows_total=table.rows_total,
        rejects=checks.sorted_errors(table.rejects),
    )
