"""`manage.py replay_transactions`: runs in-process, saves the run, prints its summary."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backtest.models import RunStatus
from replay.models import ReplayExecution, ReplayRun
from tests.replay.replay_helpers import at, flat_candles, make_fills, store_candles

pytestmark = pytest.mark.django_db


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("replay_transactions", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def fills(analyst):
    store_candles(
        "BTCUSDT",
        [(at(0), 100.0, 110.0, 90.0, 105.0), (at(1), 105.0, 112.0, 104.0, 111.0)],
    )
    flat_candles("ETHUSDT", at(0), 2, 10.0)
    return make_fills(
        analyst,
        [
            {"time": at(0.5), "side": "buy", "price": 106, "quantity": 1},
            {"time": at(1), "side": "sell", "price": 112, "quantity": 1},
            {"time": at(1), "side": "buy", "price": 10, "quantity": 3, "symbol": "ETHUSDT"},
            {"time": at(5), "side": "sell", "price": 11, "quantity": 3, "symbol": "ETHUSDT"},
        ],
    )


def test_json_prints_the_whole_summary(fills):
    data = json.loads(
        run_command("--user", "ana", "--symbol", "btcusdt", "--fill", "open", "--json")
    )
    run = ReplayRun.objects.get()
    assert data["replay_id"] == run.pk and data["status"] == "completed"
    assert (data["owner"], data["symbol"], data["fill"]) == ("ana", "BTCUSDT", "open")
    btc = data["summary"]["symbols"]["BTCUSDT"]
    # Bought at 106 against an open of 100 (+6), sold at 112 against 105 (-7).
    assert btc["value_difference"] == -1.0
    assert btc["real"]["realised_pnl"] == 6.0 and btc["replayed"]["realised_pnl"] == 5.0
    assert btc["difference"]["net_pnl"] == -1.0
    assert ReplayExecution.objects.filter(replay_run=run).count() == 2


def test_text_lists_each_symbol_and_the_totals(fills):
    out = run_command("--user", "ana", "--timeframe", "1m")
    lines = out.splitlines()
    assert lines[0] == f"replay #{ReplayRun.objects.get().pk} all symbols 1m, fill close: completed"
    assert lines[1] == "  4 transactions: 3 replayed, 1 without a candle"
    assert lines[2].startswith("  BTCUSDT: slippage cost 0.0;")
    assert lines[3].startswith("  ETHUSDT: slippage cost 0.0;")
    assert lines[4].startswith("  total in USDT:")


def test_errors_name_the_parameter_and_save_nothing(fills):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        run_command("--user", "nobody")
    with pytest.raises(CommandError, match="timeframe unknown timeframe '7m'"):
        run_command("--user", "ana", "--timeframe", "7m")
    with pytest.raises(CommandError, match="start: 'yesterday' is not an ISO 8601"):
        run_command("--user", "ana", "--start", "yesterday")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("replay_transactions", "--user", "ana", "--symbol", "XRPUSDT", "--json",
                     stdout=out)  # fmt: skip
    assert json.loads(out.getvalue()) == {"error": "symbol you have no transactions in XRPUSDT"}
    assert not ReplayRun.objects.exists()


def test_viewers_may_not_replay(viewer):
    make_fills(viewer, [{"time": at(0), "side": "buy", "price": 1, "quantity": 1}])
    with pytest.raises(CommandError, match="permission"):
        run_command("--user", "vic")


def test_a_failed_run_exits_non_zero(fills, monkeypatch):
    from replay import replaying

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(replaying, "summarise", broken)
    monkeypatch.setattr("replay.runs.summarise", broken)
    with pytest.raises(CommandError, match="failed: an internal error stopped the replay"):
        run_command("--user", "ana")
    run = ReplayRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert "RuntimeError: disk on fire" in run.traceback  # for operators only
    assert "disk on fire" not in run.error
    assert not ReplayExecution.objects.exists()
