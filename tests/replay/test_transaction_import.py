"""replay.imports.import_file: each format from fixture files into exact decimals, the
batch's record, re-imports that add nothing, all-or-nothing and --skip-invalid."""

from __future__ import annotations

import gzip
import io
import json
from decimal import Decimal

import pytest

from replay import imports
from replay.models import ImportBatch, TransactionHistory
from tests.replay.import_helpers import (
    BAD_EXPORT_REJECTS,
    BINANCE_EXPORT,
    BINANCE_EXPORT_BAD,
    GENERIC,
    GENERIC_MAPPED,
    GENERIC_MAPPING,
    fills_of,
    table_counts,
    utc,
)

pytestmark = pytest.mark.django_db


def test_binance_export_becomes_exact_fills(analyst):
    batch = imports.import_file(analyst, BINANCE_EXPORT)

    assert (batch.format, batch.status, batch.file_name) == (
        "binance_trades",
        "completed",
        "binance_trades.csv",
    )
    assert (batch.rows_total, batch.inserted, batch.skipped, batch.rejected) == (5, 5, 0, 0)
    first, second, eth, sats, ethbtc = fills_of(analyst)
    assert first.transaction_time == utc(2024, 1, 15, 8, 30, 12)
    assert (first.symbol, first.side, first.transaction_type) == ("BTCUSDT", "buy", "market")
    assert first.price == Decimal("42150.10") and first.quantity == Decimal("0.0015")
    assert first.metadata["fee"] == "0.0000015" and first.metadata["fee_asset"] == "BNB"
    assert first.metadata["type_known"] is False
    assert first.metadata["quote_quantity"] == "63.22515"
    assert (first.metadata["base_asset"], first.metadata["quote_asset"]) == ("BTC", "USDT")
    assert first.metadata["raw"] == {
        "Date(UTC)": "2024-01-15 08:30:12",
        "Pair": "BTCUSDT",
        "Side": "BUY",
        "Price": "42,150.10",
        "Executed": "0.00150000BTC",
        "Amount": "63.22515000USDT",
        "Fee": "0.00000150BNB",
    }
    # Two identical rows are two partial fills: both kept, told apart by occurrence.
    assert first.transaction_id.endswith(":1") and second.transaction_id.endswith(":2")
    assert first.transaction_id[:-1] == second.transaction_id[:-1]
    # Thousands separators inside quoted fields, the asset as a suffix.
    assert (eth.side, eth.price, eth.quantity) == ("sell", Decimal("2530.55"), Decimal(1250))
    assert eth.metadata["quote_quantity"] == "3163187.5"
    assert (eth.metadata["fee"], eth.metadata["fee_asset"]) == ("3163.1875", "USDT")
    # A base asset starting with digits, and a fee paid in it.
    assert (sats.symbol, sats.quantity, sats.price) == (
        "1000SATSUSDT",
        Decimal(25000),
        Decimal("0.0004123"),
    )
    assert (sats.metadata["base_asset"], sats.metadata["fee_asset"]) == ("1000SATS", "1000SATS")
    assert Decimal(sats.metadata["fee"]) == Decimal(25)
    assert (ethbtc.metadata["fee"], ethbtc.metadata["fee_asset"]) == ("0.00002803", "BTC")
    assert all(
        fill.import_batch_id == batch.pk and fill.exchange == "binance"
        for fill in fills_of(analyst)
    )


def test_importing_the_same_file_again_adds_nothing(analyst, make_user):
    imports.import_file(analyst, BINANCE_EXPORT)
    ids = {fill.transaction_id for fill in fills_of(analyst)}

    # The same export saved again with other line ends: the same fills.
    unix = BINANCE_EXPORT.read_bytes().replace(b"\r\n", b"\n")
    again = imports.import_file(analyst, io.BytesIO(unix), file_name="again.csv")

    assert (again.inserted, again.skipped, again.rejected) == (0, 5, 0)
    assert {fill.transaction_id for fill in fills_of(analyst)} == ids
    assert TransactionHistory.objects.count() == 5
    # Another user's import of the same file is theirs.
    other = make_user("bob", role="analyst")
    assert imports.import_file(other, BINANCE_EXPORT).inserted == 5


def test_a_bad_file_changes_nothing_and_names_each_line_and_field(analyst):
    imports.import_file(analyst, GENERIC)
    before = table_counts()

    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_file(analyst, BINANCE_EXPORT_BAD)

    assert [error.as_dict() for error in refused.value.rejects] == BAD_EXPORT_REJECTS
    assert (refused.value.rejected, refused.value.rows_total) == (4, 6)
    assert str(refused.value).startswith(
        "4 of 6 rows are invalid, nothing was imported: line 4, field price: 'abc' is not a number"
    )
    assert table_counts() == before


def test_skip_invalid_keeps_the_good_rows_and_lists_the_rejects(analyst):
    batch = imports.import_file(analyst, BINANCE_EXPORT_BAD, skip_invalid=True)

    assert (batch.rows_total, batch.inserted, batch.skipped, batch.rejected) == (6, 2, 0, 4)
    assert batch.rejects == BAD_EXPORT_REJECTS
    assert batch.parameters == {"skip_invalid": True}
    assert [fill.price for fill in fills_of(analyst)] == [Decimal("42150.1"), Decimal(42200)]


def test_generic_csv_with_the_usual_column_names(analyst):
    batch = imports.import_file(analyst, GENERIC)

    assert (batch.format, batch.inserted) == ("generic", 4)
    assert batch.parameters["columns"] == {
        "time": "time",
        "symbol": "symbol",
        "side": "side",
        "price": "price",
        "quantity": "quantity",
        "fee": "fee",
        "fee_asset": "fee_asset",
        "type": "type",
        "id": "id",
    }
    limit, market, stop, last = fills_of(analyst)
    assert (limit.transaction_time, limit.symbol, limit.side) == (
        utc(2024, 2, 1, 10),
        "BTCUSDT",
        "buy",
    )
    assert (limit.transaction_type, limit.metadata["type_known"]) == ("limit", True)
    assert (limit.transaction_id, limit.price, limit.quantity) == (
        "T-1001",
        Decimal("43000.5"),
        Decimal("0.01"),
    )
    assert (limit.metadata["fee"], limit.metadata["fee_asset"]) == ("0.043", "USDT")
    # Epoch milliseconds; a thousands separator; no fee given.
    assert (market.transaction_time, market.side, market.price) == (
        utc(2024, 2, 1, 10, 1),
        "sell",
        Decimal("43100.25"),
    )
    assert (market.metadata["fee"], market.metadata["fee_asset"]) == (None, None)
    # An offset converted to UTC; scientific notation; the fee asset upper-cased.
    assert (stop.transaction_time, stop.quantity, stop.transaction_type) == (
        utc(2024, 2, 1, 10, 30),
        Decimal("0.15"),
        "stop_limit",
    )
    assert stop.metadata["fee_asset"] == "BNB"
    # Epoch microseconds; no type (market, not known); no id (derived); a zero fee.
    assert last.transaction_time == utc(2024, 2, 1, 11)
    assert (last.transaction_type, last.metadata["type_known"]) == ("market", False)
    assert last.transaction_id.startswith("row:") and last.metadata["fee"] == "0"


@pytest.mark.parametrize(
    "mapping",
    [
        GENERIC_MAPPING,
        json.dumps(dict(pair.split("=") for pair in GENERIC_MAPPING.split(","))),
    ],
    ids=["pairs", "json"],
)
def test_generic_csv_with_a_column_mapping(analyst, mapping):
    batch = imports.import_file(analyst, GENERIC_MAPPED, mapping=mapping, exchange="Kraken")

    assert (batch.format, batch.exchange, batch.inserted) == ("generic", "kraken", 2)
    assert batch.parameters["columns"]["fee"] == "Commission"  # found by its usual name
    assert batch.parameters["columns"]["time"] == "When"
    buy, sell = fills_of(analyst)
    assert (buy.symbol, buy.side, buy.price, buy.quantity, buy.transaction_id) == (
        "SOLUSDT",
        "buy",
        Decimal("101.25"),
        Decimal(10),
        "F-1",
    )
    assert (buy.metadata["fee"], buy.metadata["fee_asset"], buy.exchange) == (
        "0.01",
        "SOL",
        "kraken",
    )
    assert sell.metadata["raw"]["B/S"] == "sell"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("when=When", "unknown field 'when'"),
        ("time=Nope", "time: the header has no column 'Nope'"),
        ("time", "'time' is not field=column"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_parameter(analyst, mapping, message):
    with pytest.raises(imports.InvalidParameter, match=message) as refused:
        imports.import_file(analyst, GENERIC_MAPPED, mapping=mapping)
    assert refused.value.parameter == "mapping"


def test_a_file_without_the_required_columns_is_refused(analyst):
    with pytest.raises(imports.ImportFileError, match="missing: time, price"):
        imports.import_file(analyst, io.BytesIO(b"When,Pair,Side,Px,Qty\n1,2,3,4,5\n"))
    with pytest.raises(imports.ImportFileError, match="not the header of Binance"):
        imports.import_file(analyst, GENERIC, fmt="binance_trades")


def test_awkward_text_survives_the_copy_exactly(analyst):
    """Backslashes, tabs, quotes and line ends in ids and cells reach the database as
    they were (COPY's text format escapes them)."""
    data = (
        "time,symbol,side,price,quantity,id,note\n"
        '2024-02-01T10:00:00Z,BTCUSDT,buy,1,1,"a\\b\tc",plain\n'
        '2024-02-01T10:00:01Z,BTCUSDT,buy,1,1,"line\nbreak","say ""hi"" \\ é\t"\n'
    ).encode()

    imports.import_file(analyst, io.BytesIO(data), file_name="odd.csv")

    first, second = fills_of(analyst)
    assert first.transaction_id == "a\\b\tc"
    assert second.transaction_id == "line\nbreak"
    assert second.metadata["raw"]["note"] == 'say "hi" \\ é\t'


def test_a_spreadsheet_is_refused_with_what_to_do(analyst):
    with pytest.raises(imports.ImportFileError, match="a spreadsheet, not a CSV; save it as CSV"):
        imports.import_file(analyst, io.BytesIO(b"PK\x03\x04"), file_name="Export.xlsx")


def test_a_gzipped_export_is_read(analyst):
    batch = imports.import_file(
        analyst, io.BytesIO(gzip.compress(BINANCE_EXPORT.read_bytes())), file_name="trades.csv.gz"
    )
    assert (batch.inserted, batch.file_name) == (5, "trades.csv.gz")


def test_repeated_ids_in_one_file_are_rejected(analyst):
    data = (
        b"time,symbol,side,price,quantity,id\n"
        b"2024-02-01,BTCUSDT,buy,1,1,A\n2024-02-02,BTCUSDT,buy,1,1,A\n"
    )
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_file(analyst, io.BytesIO(data))
    assert str(refused.value.rejects[0]) == "line 3, field id: 'A' repeats the id of line 2"
    assert not ImportBatch.objects.exists()


def test_deleting_a_fill_is_its_owners_alone(analyst, operator):
    imports.import_file(analyst, GENERIC)
    fill = fills_of(analyst)[0]

    with pytest.raises(imports.NotAllowed):
        imports.delete_transaction(fill, actor=operator)
    imports.delete_transaction(fill, actor=analyst)

    assert not TransactionHistory.objects.filter(pk=fill.pk).exists()
    # Importing again brings it back (same id), and only it.
    assert imports.import_file(analyst, GENERIC).inserted == 1


def test_chunks_of_a_file_are_one_import(analyst, monkeypatch):
    """Files are checked and stored a chunk at a time: identical rows, repeated ids and
    a bad row in a later chunk are seen across chunks."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)

    batch = imports.import_file(analyst, BINANCE_EXPORT)  # the identical rows: chunk 1
    assert batch.inserted == 5
    again = io.BytesIO(BINANCE_EXPORT.read_bytes().replace(b"\r\n", b"\n", 1))
    assert imports.import_file(analyst, again, file_name="again.csv").skipped == 5

    repeated = (
        b"time,symbol,side,price,quantity,id\n"
        b"2024-02-01,BTCUSDT,buy,1,1,A\n2024-02-02,BTCUSDT,buy,1,1,B\n"
        b"2024-02-03,BTCUSDT,buy,1,1,C\n2024-02-04,BTCUSDT,buy,1,1,A\n"
    )
    with pytest.raises(imports.ImportRefused) as refused:
        imports.import_file(analyst, io.BytesIO(repeated))
    assert [str(e) for e in refused.value.rejects] == [
        "line 5, field id: 'A' repeats the id of line 2"
    ]
    before = table_counts()
    late_bad_row = (
        BINANCE_EXPORT.read_bytes() + b"2024-01-19 00:00:00,BTCUSDT,BUY,x,1BTC,1USDT,0\r\n"
    )
    with pytest.raises(imports.ImportRefused):
        imports.import_file(analyst, io.BytesIO(late_bad_row))
    assert table_counts() == before


def test_without_pipeline_mode_the_result_is_the_same(analyst, monkeypatch):
    """libpq before 14 has no pipeline mode: each chunk's INSERT is waited for."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    monkeypatch.setattr("replay.storage.Pipeline.is_supported", lambda: False)
    batch = imports.import_file(analyst, BINANCE_EXPORT)
    assert (batch.inserted, batch.skipped) == (5, 0)
    assert imports.import_file(analyst, BINANCE_EXPORT).skipped == 5
