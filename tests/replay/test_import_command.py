"""python manage.py import_transactions: text and --json output, exit status and stderr
when an import is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from replay.models import ImportBatch
from tests.conftest import BASE_DIR, worker_environment
from tests.replay.import_helpers import (
    BAD_EXPORT_REJECTS,
    BINANCE_EXPORT,
    BINANCE_EXPORT_BAD,
    GENERIC_MAPPED,
    GENERIC_MAPPING,
    table_counts,
)


def command(*arguments: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_transactions", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_json_reports_what_the_import_did(analyst):
    out, _ = command(str(BINANCE_EXPORT), "--user", analyst.username, "--json")

    report = json.loads(out)
    batch = ImportBatch.objects.get()
    assert report == {
        "batch": batch.pk,
        "format": "binance_trades",
        "status": "completed",
        "rows_total": 5,
        "inserted": 5,
        "skipped": 0,
        "rejected": 0,
        "rejects": [],
    }
    again = json.loads(command(str(BINANCE_EXPORT), "--user", analyst.username, "--json")[0])
    assert (again["inserted"], again["skipped"]) == (0, 5)


@pytest.mark.django_db
def test_skip_invalid_lists_the_rejects(analyst):
    out, _ = command(
        str(BINANCE_EXPORT_BAD), "--user", analyst.username, "--format", "binance_trades",
        "--skip-invalid",
    )  # fmt: skip

    lines = out.splitlines()
    assert lines[0].endswith("inserted 2, skipped 0 (imported before), rejected 4")
    assert lines[1] == "  rejected line 4, field price: 'abc' is not a number"
    assert len(lines) == 5


@pytest.mark.django_db
def test_a_mapping_reads_a_generic_file(analyst):
    out, _ = command(
        str(GENERIC_MAPPED), "--user", analyst.username, "--mapping", GENERIC_MAPPING, "--json",
        "--exchange", "kraken",
    )  # fmt: skip
    assert json.loads(out)["inserted"] == 2


@pytest.mark.django_db
def test_a_refused_import_raises_with_every_reject_on_stderr(analyst):
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="4 of 6 rows are invalid, nothing was imported"):
        call_command(
            "import_transactions",
            str(BINANCE_EXPORT_BAD),
            "--user",
            analyst.username,
            "--json",
            stdout=out,
            stderr=err,
        )
    report = json.loads(out.getvalue())
    assert (report["inserted"], report["rejected"], report["rejects"]) == (0, 4, BAD_EXPORT_REJECTS)
    assert report["error"].startswith("4 of 6 rows are invalid")
    assert "rejected line 4, field price: 'abc' is not a number" in err.getvalue()
    assert table_counts() == (0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--user", "nobody"], "--user: no user named 'nobody'"),
        (["--user", "ana", "--mapping", "when=x"], "mapping: unknown field 'when'"),
        (["--user", "ana", "--format", "binance_trades"], "not the header of Binance's"),
        (["--user", "ana", "--format", "generic"], "no column for time, symbol, side, price"),
    ],
)
def test_bad_arguments_are_named(analyst, arguments, message):
    with pytest.raises(CommandError, match=message):
        command(str(GENERIC_MAPPED), *arguments)


@pytest.mark.django_db(transaction=True)
def test_the_process_exits_non_zero_with_the_errors_on_stderr(analyst):
    result = subprocess.run(
        [
            sys.executable,
            str(BASE_DIR / "manage.py"),
            "import_transactions",
            str(BINANCE_EXPORT_BAD),
            "--user",
            analyst.username,
        ],
        env=worker_environment(connection.settings_dict["NAME"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "rejected line 4, field price: 'abc' is not a number" in result.stderr
    assert "CommandError: 4 of 6 rows are invalid, nothing was imported" in result.stderr
    assert result.stdout == ""
    assert table_counts() == (0, 0)
