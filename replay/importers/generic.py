"""A generic CSV of fills: one row per fill, columns found by name or by a mapping.

Fields (required first): time, symbol, side, price, quantity; optional: fee, fee_asset,
type, id. Each is looked up in the header under the names in COLUMN_NAMES (any case;
spaces, hyphens and underscores alike), unless a mapping names its column:
`{"time": "Executed At", "quantity": "Filled"}` as JSON, or `time=Executed At,
quantity=Filled` as key=value pairs. Numbers are plain decimals (thousands separators
and scientific notation accepted, no asset suffix: the fee's asset is its own column).

Rows without an id (no id column, or an empty cell) get one derived from the row when
stored; rows with an id keep it, and an id repeated within the file is rejected. An
empty or missing type is `market` with type_known false in the metadata.
"""

from __future__ import annotations

import json

import numpy as np

from marketdata.importers.errors import ImportFileError
from replay import normalise
from replay.importers.checks import Field, RowChecks
from replay.importers.fills import Fills, build_fills
from replay.importers.table import Table
from replay.models import TransactionHistory

S = np.strings
REQUIRED = ("time", "symbol", "side", "price", "quantity")
OPTIONAL = ("fee", "fee_asset", "type", "id")
FIELDS = (*REQUIRED, *OPTIONAL)
COLUMN_NAMES = {
    "time": ("time", "timestamp", "date", "datetime", "date(utc)", "time(utc)", "trade time",
             "executed at", "filled at"),
    "symbol": ("symbol", "pair", "market", "instrument", "ticker"),
    "side": ("side", "direction", "action", "buy/sell"),
    "price": ("price", "fill price", "avg price", "average price", "execution price"),
    "quantity": ("quantity", "qty", "executed", "filled", "size", "amount", "volume"),
    "fee": ("fee", "fees", "commission"),
    "fee_asset": ("fee asset", "fee currency", "fee coin", "commission asset", "fee ccy"),
    "type": ("type", "order type"),
    "id": ("id", "trade id", "transaction id", "tx id", "txid", "fill id", "execution id"),
}  # fmt: skip
ID_MAX_LENGTH = TransactionHistory._meta.get_field("transaction_id").max_length


class InvalidMapping(ValueError):
    """The column mapping the user gave cannot be used; the message says why."""


def _key(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def parse_mapping(text: str | dict | None) -> dict[str, str]:
    """A mapping from JSON (`{"time": "Executed At"}`) or pairs (`time=Executed At,
    quantity=Filled`); keys are our fields, values the file's column names."""
    if not text:
        return {}
    if isinstance(text, dict):
        mapping = text
    elif text.lstrip().startswith("{"):
        try:
            mapping = json.loads(text)
        except ValueError as exc:
            raise InvalidMapping(f"not valid JSON ({exc})") from None
        if not isinstance(mapping, dict):
            raise InvalidMapping("expected a JSON object of field: column")
    else:
        mapping = {}
        for pair in text.split(","):
            if not pair.strip():
                continue
            name, separator, column = pair.partition("=")
            if not separator:
                raise InvalidMapping(f"{pair.strip()!r} is not field=column")
            mapping[name.strip()] = column.strip()
    unknown = sorted(str(name) for name in mapping if name not in FIELDS)
    if unknown:
        raise InvalidMapping(
            f"unknown field {', '.join(map(repr, unknown))}; fields are {', '.join(FIELDS)}"
        )
    for name, column in mapping.items():
        if not isinstance(column, str) or not column.strip():
            raise InvalidMapping(f"{name}: give the column's name as text")
    return {name: column.strip() for name, column in mapping.items()}


def resolve_columns(header: list[str], mapping: dict[str, str]) -> dict[str, int]:
    """Our field -> its column index. A mapped column must exist (InvalidMapping); a
    required field found nowhere makes the file unreadable (ImportFileError)."""
    positions = {_key(name): index for index, name in enumerate(header)}
    found: dict[str, int] = {}
    for name, column in mapping.items():
        if _key(column) not in positions:
            raise InvalidMapping(
                f"{name}: the header has no column {column!r} (it has: {', '.join(header)})"
            )
        found[name] = positions[_key(column)]
    taken = set(found.values())
    for name in FIELDS:
        if name in found:
            continue
        index = next((positions[alias] for alias in COLUMN_NAMES[name] if alias in positions), None)
        if index is not None and index not in taken:
            found[name] = index
            taken.add(index)
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        raise ImportFileError(
            f"line 1: no column for {', '.join(missing)} in the header ({', '.join(header)}); "
            "name them with a mapping, e.g. " + ",".join(f"{name}=<column>" for name in missing)
        )
    return found


def missing_required(header: list[str]) -> list[str]:
    """Required fields no header name matches (for format detection)."""
    names = {_key(name) for name in header}
    return [name for name in REQUIRED if not any(alias in names for alias in COLUMN_NAMES[name])]


class Parser:
    """Reads a file's rows, chunk by chunk, once its header is resolved: ids repeated
    anywhere in the file are rejected (the first one kept)."""

    def __init__(self, header: list[str], mapping: dict[str, str]) -> None:
        self.header = header
        self.positions = resolve_columns(header, mapping)
        self._first_line_of_id: dict[str, int] = {}

    @property
    def columns(self) -> dict[str, str]:
        """The file's column read for each field (kept on the batch)."""
        return {name: self.header[index] for name, index in self.positions.items()}

    def _field(self, name: str) -> Field:
        return Field(name, self.header[self.positions[name]])

    def _ids(self, values: np.ndarray, checks: RowChecks) -> np.ndarray:
        field = self._field("id")
        text = S.strip(values)
        checks.reject(
            field,
            S.str_len(text) > ID_MAX_LENGTH,
            values,
            f"is longer than {ID_MAX_LENGTH} characters",
        )
        given = S.str_len(text) > 0
        ids = text.astype(object)
        repeated = []
        for index in np.flatnonzero(given):
            line = int(checks.lines[index])
            first = self._first_line_of_id.setdefault(ids[index], line)
            if first != line:
                repeated.append((index, f"{ids[index]!r} repeats the id of line {first}"))
        checks.reject_rows(field, repeated)
        ids[~given] = None
        return ids

    def parse(self, table: Table) -> Fills:
        rows = len(table)
        checks = RowChecks(table.lines)
        field = self._field

        def column(name: str) -> np.ndarray:
            return table.column(self.positions[name])

        time_us = normalise.times(column("time"), checks, field("time"))
        symbol = normalise.symbols(column("symbol"), checks, field("symbol"))
        side = normalise.sides(column("side"), checks, field("side"))
        price = normalise.decimals(column("price"), checks, field("price"))
        quantity = normalise.decimals(column("quantity"), checks, field("quantity"))
        fee = np.full(rows, None, dtype=object)
        if "fee" in self.positions:
            fee = normalise.decimals(
                column("fee"), checks, field("fee"), required=False, allow_zero=True
            )
        fee_asset = np.full(rows, None, dtype=object)
        if "fee_asset" in self.positions:
            assets = S.upper(S.strip(column("fee_asset")))
            fee_asset[S.str_len(assets) > 0] = assets[S.str_len(assets) > 0]
        transaction_type = np.full(rows, "market", dtype=object)
        type_known = np.zeros(rows, dtype=bool)
        if "type" in self.positions:
            transaction_type, type_known = normalise.order_types(
                column("type"), checks, field("type")
            )
        transaction_id = self._ids(column("id"), checks) if "id" in self.positions else None
        return build_fills(
            valid=checks.valid,
            lines=table.lines,
            time_us=time_us,
            symbol=symbol,
            side=side,
            transaction_type=transaction_type,
            type_known=type_known,
            price=price,
            quantity=quantity,
            fee=fee,
            fee_asset=fee_asset,
            transaction_id=transaction_id,
            extra={},
            raw={name: table.column(index) for index, name in enumerate(table.header)},
            rows_total=table.rows_total,
            rejects=checks.sorted_errors(table.rejects),
        )
