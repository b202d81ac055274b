"""python manage.py import_candles: text and --json output, exit status on bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from marketdata import selectors
from tests.conftest import BASE_DIR, worker_environment
from tests.marketdata.fixtures.candle_files import (
    BAD_FILE_REJECTS,
    bad_kline_file,
    kline_values,
    klines,
    table_counts,
)

BAD_FILE_MESSAGE = "7 of 11 rows are invalid, nothing was imported: line 3, field high"


def write(tmp_path, data: bytes, name: str = "k.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def import_command(path: str, *options: str, symbol: str = "BTCUSDT", timeframe: str = "1m") -> str:
    """Run the command in this process; its standard output."""
    out = StringIO()
    call_command(
        "import_candles",
        path,
        "--symbol",
        symbol,
        "--timeframe",
        timeframe,
        *options,
        stdout=out,
        stderr=StringIO(),
    )
    return out.getvalue()


def failing_import(path: str, *options: str, **names) -> tuple[CommandError, str]:
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_candles",
            path,
            "--symbol",
            names.get("symbol", "BTCUSDT"),
            "--timeframe",
            names.get("timeframe", "1m"),
            *options,
            stdout=out,
            stderr=StringIO(),
        )
    return caught.value, out.getvalue()


@pytest.mark.django_db
def test_json_output_of_a_good_file(tmp_path):
    data = klines(25)
    path = write(tmp_path, data)

    first = json.loads(import_command(path, "--json"))
    again = json.loads(import_command(path, "--json"))

    assert first == {"inserted": 25, "updated": 0, "skipped": 0, "rejected": 0, "rejects": []}
    assert again == {"inserted": 0, "updated": 0, "skipped": 25, "rejected": 0, "rejects": []}
    series = selectors.find_series("BTCUSDT", "1m")
    assert selectors.candle_arrays(series)["close"].tolist() == kline_values(data)["close"].tolist()


@pytest.mark.django_db
def test_text_output_lists_counts_and_rejects(tmp_path):
    out = import_command(write(tmp_path, bad_kline_file()), "--skip-invalid")
    assert out.splitlines() == [
        "inserted 4, updated 0, skipped 0 (already stored, unchanged), rejected 7",
        "  rejected line 3, field high: high is below max(open, close)",
        "  rejected line 5, field low: 'abc' is not a number",
        "  rejected line 6, field open_time: duplicate timestamp, first seen on line 1",
        "  rejected line 7, field open_time: not the open time of a 1m candle",
        "  rejected line 8, field volume: negative volume",
        "  rejected line 9, field row: expected 12 columns, found 11",
        "  rejected line 10, field row: empty line",
    ]


@pytest.mark.django_db
def test_json_output_with_skip_invalid(tmp_path):
    out = import_command(write(tmp_path, bad_kline_file()), "--skip-invalid", "--json")
    assert json.loads(out) == {
        "inserted": 4,
        "updated": 0,
        "skipped": 0,
        "rejected": 7,
        "rejects": BAD_FILE_REJECTS,
    }


@pytest.mark.django_db
def test_json_output_of_a_rejected_file_and_nothing_written(tmp_path):
    import_command(write(tmp_path, klines(3), "other.csv"), symbol="ETHUSDT")
    before = table_counts()

    error, out = failing_import(write(tmp_path, bad_kline_file()), "--json")

    assert str(error).startswith(BAD_FILE_MESSAGE)
    report = json.loads(out)
    assert report.pop("error") == str(error)
    assert report == {
        "inserted": 0,
        "updated": 0,
        "skipped": 0,
        "rejected": 7,
        "rejects": BAD_FILE_REJECTS,
    }
    assert table_counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "names", "message"),
    [
        (klines(2), {"symbol": "b"}, "symbol: 'b' is not a symbol like BTCUSDT"),
        (klines(2), {"timeframe": "2m"}, "timeframe: unknown timeframe '2m'"),
        (b"foo,bar\n1,2\n", {}, "unrecognised format"),
    ],
)
def test_json_output_of_an_unusable_request(tmp_path, data, names, message):
    error, out = failing_import(write(tmp_path, data), "--json", **names)
    assert message in str(error)
    assert json.loads(out) == {"error": str(error)}
    assert table_counts() == (0, 0, 0)


@pytest.mark.django_db
def test_without_json_a_rejected_file_lists_every_reject_on_stderr(tmp_path):
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_candles",
            write(tmp_path, bad_kline_file()),
            "--symbol",
            "BTCUSDT",
            "--timeframe",
            "1m",
            stdout=StringIO(),
            stderr=err,
        )
    assert str(caught.value).startswith(BAD_FILE_MESSAGE)
    listed = err.getvalue().splitlines()
    assert len(listed) == len(BAD_FILE_REJECTS) == 7  # all of them, not the first five
    assert listed[-1] == "  rejected line 10, field row: empty line"
    assert table_counts() == (0, 0, 0)


def test_unknown_format_option_is_refused(tmp_path):
    error, _ = failing_import(write(tmp_path, klines(2)), "--format", "xlsx")
    assert "invalid choice: 'xlsx'" in str(error)


@pytest.mark.django_db(transaction=True)
def test_manage_py_import_candles_as_a_subprocess(tmp_path):
    env = worker_environment(connection.settings_dict["NAME"])

    def manage(path: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "manage.py",
                "import_candles",
                path,
                "--symbol",
                "btc/usdt",
                "--timeframe",
                "1m",
                "--json",
            ],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = manage(write(tmp_path, klines(40), "good.csv"))

    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == {
        "inserted": 40,
        "updated": 0,
        "skipped": 0,
        "rejected": 0,
        "rejects": [],
    }
    assert selectors.find_series("BTCUSDT", "1m").candle_count == 40
    before = table_counts()

    bad = manage(write(tmp_path, bad_kline_file(), "bad.csv"))

    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["error"].startswith(BAD_FILE_MESSAGE)
    assert (report["rejected"], report["rejects"]) == (7, BAD_FILE_REJECTS)
    assert f"CommandError: {report['error']}" in bad.stderr
    assert table_counts() == before
