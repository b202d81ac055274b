"""Normalising imported columns (no database): symbols, sides, order types, exact
decimals, times; derived transaction ids; reading CSV tables with line numbers."""

from __future__ import annotations

import numpy as np
import pytest

from marketdata.importers.errors import ImportFileError
from replay import normalise
from replay.importers.checks import Field, RowChecks
from replay.importers.detect import detect_format
from replay.importers.fills import Fills, derive_missing_ids
from replay.importers.table import decode, read_table
from tests.replay.import_helpers import utc

NOW = utc(2025, 6, 1)


def run(function, values: list[str], **options):
    column = np.asarray(values, dtype=str)
    checks = RowChecks(np.arange(2, len(values) + 2, dtype=np.int64))
    result = function(column, checks, Field("x", "Col"), **options)
    return result, [(e.line, e.reason) for e in checks.errors]


def test_symbols_in_any_spelling_are_one_symbol():
    result, errors = run(normalise.symbols, ["BTC/USDT", "btc-usdt", "BTCUSDT", " eth_usdt ", "?"])
    assert list(result[:4]) == ["BTCUSDT", "BTCUSDT", "BTCUSDT", "ETHUSDT"]
    assert errors == [(6, "'?' is not a symbol like BTCUSDT (column Col)")]


def test_sides_in_any_spelling():
    result, errors = run(normalise.sides, ["BUY", "Sell", "b", "s", "bought", "SOLD", "hold"])
    assert list(result[:6]) == ["buy", "sell", "buy", "sell", "buy", "sell"]
    assert errors == [(8, "'hold' is not a side (buy or sell) (column Col)")]


def test_order_types_map_onto_ours_and_say_whether_the_row_gave_one():
    (types, known), errors = run(
        normalise.order_types,
        ["MARKET", "limit", "LIMIT_MAKER", "stop-loss-limit", "TAKE_PROFIT", "STOP_LOSS", "", "x"],
    )
    assert list(types[:7]) == [
        "market",
        "limit",
        "limit",
        "stop_limit",
        "take_profit",
        "market",
        "market",
    ]
    assert list(known[:7]) == [True] * 6 + [False]
    assert [line for line, _ in errors] == [9]


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("0.00150000", "0.0015"),
        ("1,234.50", "1234.5"),
        ("1,234,567", "1234567"),
        ("+.5", "0.5"),
        ("100.", "100"),
        ("000", None),  # zero: not a price
        ("1E-8", "0.00000001"),
        ("2.5e3", "2500"),
        ("123456789012345678.123456789012345678", "123456789012345678.123456789012345678"),
    ],
)
def test_amounts_are_exact_canonical_text(text, exact):
    result, errors = run(normalise.decimals, [text])
    assert result[0] == exact
    assert bool(errors) == (exact is None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "'abc' is not a number"),
        ("1,23", "'1,23' is not a number"),  # separators only in groups of three
        ("12,34.5", "'12,34.5' is not a number"),
        ("1.2.3", "'1.2.3' is not a number"),
        ("nan", "'nan' is not a number"),
        ("-5", "'-5' is negative: x must be positive"),
        ("0", "'0' must be positive"),
        ("0.0000000000000000001", "'0.0000000000000000001' has more than 18 decimal places"),
        ("1" * 21, f"'{'1' * 21}' is too large (more than 20 integer digits)"),
        ("", "x is required"),
        ("١٢", "'١٢' is not a number"),  # digits, but not ASCII ones
    ],
)
def test_bad_amounts_are_rejected_naming_the_value(text, reason):
    result, errors = run(normalise.decimals, [text])
    assert result[0] is None
    assert errors == [(2, f"{reason} (column Col)")]


def test_optional_amounts_may_be_empty_and_fees_may_be_zero():
    result, errors = run(normalise.decimals, ["", "0"], required=False, allow_zero=True)
    assert list(result) == [None, "0"]
    assert errors == []


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-01-15 08:30:12", utc(2024, 1, 15, 8, 30, 12)),  # naive: UTC
        ("2024-01-15T08:30:12Z", utc(2024, 1, 15, 8, 30, 12)),
        ("2024-01-15T10:30:12+02:00", utc(2024, 1, 15, 8, 30, 12)),
        ("2024-01-15T08:30:12.250", utc(2024, 1, 15, 8, 30, 12, 250_000)),
        ("1705307412", utc(2024, 1, 15, 8, 30, 12)),  # s
        ("1705307412.5", utc(2024, 1, 15, 8, 30, 12, 500_000)),
        ("1705307412123", utc(2024, 1, 15, 8, 30, 12, 123_000)),  # ms
        ("1705307412123456", utc(2024, 1, 15, 8, 30, 12, 123_456)),  # µs
        ("1705307412123456789", utc(2024, 1, 15, 8, 30, 12, 123_456)),  # ns
    ],
)
def test_times_become_utc_microseconds(text, moment):
    result, errors = run(normalise.times, [text], now=NOW)
    assert errors == []
    assert result[0] == int(moment.timestamp() * 1_000_000)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("15/01/2024 08:30", "is not a time"),
        ("yesterday", "is not a time"),
        ("1705", "is not a time"),
        ("2008-12-31 23:59:59", "is before 2009-01-03"),
        ("2025-06-03 00:00:00", "is in the future"),
    ],
)
def test_unreadable_or_impossible_times_are_rejected(text, reason):
    _, errors = run(normalise.times, [text], now=NOW)
    assert len(errors) == 1 and reason in errors[0][1]


def fills(rows: list[tuple]) -> Fills:
    count = len(rows)

    def column(index: int) -> np.ndarray:
        return np.asarray([row[index] for row in rows], dtype=object)

    return Fills(
        line=np.arange(count),
        time_us=np.asarray([row[0] for row in rows], dtype=np.int64),
        symbol=column(1),
        side=column(2),
        transaction_type=np.full(count, "market", dtype=object),
        price=column(3),
        quantity=column(4),
        fee=column(5),
        fee_asset=column(6),
        transaction_id=np.asarray([row[7] if len(row) > 7 else None for row in rows], object),
        metadata=np.full(count, "{}", dtype=object),
    )


def test_derived_ids_hash_the_row_and_count_identical_rows():
    row = (1, "BTCUSDT", "buy", "1", "2", "0.1", "BNB")
    first = fills([row, row, (1, "BTCUSDT", "buy", "1", "2", None, None), (*row, "T-7")])
    derive_missing_ids(first, {})
    ids = list(first.transaction_id)
    assert ids[0].startswith("row:") and ids[0].endswith(":1")
    assert ids[1] == ids[0][:-1] + "2"  # the same row again: its second occurrence
    assert ids[2].endswith(":1") and ids[2][:-2] != ids[0][:-2]  # no fee: another fill
    assert ids[3] == "T-7"  # a source id is kept
    again = fills([row, row])
    derive_missing_ids(again, {})
    assert list(again.transaction_id) == ids[:2]  # stable across imports
    assert all(len(value) <= 64 for value in ids)
    # Occurrences are counted across the chunks of one file.
    occurrences: dict[str, int] = {}
    parts = [fills([row]), fills([row])]
    for part in parts:
        derive_missing_ids(part, occurrences)
    assert [part.transaction_id[0] for part in parts] == ids[:2]


def test_tables_keep_line_numbers_through_quoted_commas_and_line_ends():
    text = 'a,b,c\n1,"2,000",3\n"x\ny",5,6\n7,8,9\n'
    table = read_table(text)
    assert list(table.lines) == [2, 3, 5]
    assert list(table.column(1)) == ["2,000", "5", "8"]
    assert table.column(0)[1] == "x\ny"


def test_rows_of_the_wrong_width_and_empty_lines_are_rejected_by_line():
    table = read_table("a,b,c\n1,2,3\n\n4,5\n6,7,8,9\n10,11,12\n")
    assert list(table.lines) == [2, 6]
    assert table.rows_total == 5
    assert [str(e) for e in table.rejects] == [
        "line 3, field row: empty line",
        "line 4, field row: expected 3 columns, found 2",
        "line 5, field row: expected 3 columns, found 4",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"a,b\n", "the file has a header but no rows"),
        (b"a,a\n1,2\n", "column 2 ('a') repeats column 1"),
        (b"a,b\n\xff\xfe,1\n", "line 2: not UTF-8 text"),
        (b"a,b\n1,\x002\n", "line 2: NUL character"),
    ],
)
def test_unreadable_files_are_refused_as_a_whole(data, message):
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_table(decode(data))


@pytest.mark.parametrize(
    ("header", "mapping", "expected"),
    [
        (["Date(UTC)", "Pair", "Side", "Price", "Executed", "Amount", "Fee"], {}, "binance_trades"),
        (["date(utc)", "pair", "side", "price", "executed", "amount", "fee"], {}, "binance_trades"),
        (["Time", "Symbol", "Side", "Price", "Qty"], {}, "generic"),
        (["When", "Pair", "Side", "Price", "Qty"], {"time": "When"}, "generic"),
    ],
)
def test_the_format_is_detected_from_the_header(header, mapping, expected):
    assert detect_format(header, mapping) == expected


def test_an_unknown_header_says_what_is_missing():
    with pytest.raises(ImportFileError, match=r"missing: time, price"):
        detect_format(["When", "Pair", "Side", "Px", "Qty"], {})
