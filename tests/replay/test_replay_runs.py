"""Replay runs through the service on a real database: what is stored per transaction,
the summary per symbol and in total, validation, cancellation, events, the reaper."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import SecurityAction, SecurityEvent
from backtest.models import RunStatus
from backtest.services import NotAllowed
from replay import runs
from replay.models import ExecutionStatus, ReplayExecution, ReplayRun, TransactionHistory
from tests.replay.replay_helpers import at, flat_candles, make_fills, store_candles

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch) -> list[dict]:
    """Every progress message the run publishes (the channel layer is tested elsewhere)."""
    messages: list[dict] = []

    def record(run):
        messages.append({"status": run.status, "progress": float(run.progress)})

    monkeypatch.setattr(runs, "publish_replay_progress", record)
    return messages


def btc_minutes() -> None:
    """00:00 and 00:01 stored, 00:02 missing (a gap), 00:03 stored."""
    store_candles(
        "BTCUSDT",
        [
            (at(0), 100.0, 110.0, 90.0, 105.0),
            (at(1), 105.0, 112.0, 104.0, 111.0),
            (at(3), 111.0, 115.0, 108.0, 113.0),
        ],
    )


def run_now(owner, **request) -> ReplayRun:
    run = runs.create_replay(owner, runs.ReplayRequest(**request))
    state = runs.execute_replay(run.pk)
    run.refresh_from_db()
    assert state["status"] == run.status
    return run


def test_each_transaction_gets_its_own_candle_or_a_reason(analyst, published):
    btc_minutes()
    buy, sell, in_gap = make_fills(
        analyst,
        [
            {"time": at(0.5), "side": "buy", "price": 106, "quantity": 1},
            # Exactly at 00:01: the candle opening then, not the one before.
            {"time": at(1), "side": "sell", "price": 112, "quantity": 0.5},
            {"time": at(2.5), "side": "buy", "price": 107, "quantity": 1},
        ],
    )
    run = run_now(analyst, symbol="BTCUSDT", fill_model="close")
    assert run.status == RunStatus.COMPLETED and run.progress == 100
    assert run.transaction_count == 3
    executions = {
        e.transaction_history_id: e for e in ReplayExecution.objects.filter(replay_run=run)
    }

    first = executions[buy.pk]
    assert first.status == ExecutionStatus.COMPLETED
    assert first.candle_time == at(0)
    assert first.replay_price == Decimal("105")
    assert first.slippage == Decimal("1")  # paid 106 against a close of 105
    assert first.slippage_pct == pytest.approx(1 / 105 * 100)
    assert first.value_difference == Decimal("1")
    assert first.result["candle"] == {"open": 100.0, "high": 110.0, "low": 90.0, "close": 105.0}
    assert first.executed_at is not None

    second = executions[sell.pk]
    assert second.candle_time == at(1) and second.replay_price == Decimal("111")
    assert second.slippage == Decimal("-1")  # sold at 112, above the close: better
    assert second.value_difference == Decimal("-0.5")

    gap = executions[in_gap.pk]
    assert gap.status == ExecutionStatus.FAILED
    assert gap.candle_time is None and gap.replay_price is None and gap.slippage is None
    assert gap.result == {"error": "no candle for 2024-01-01T00:02:30Z"}

    replayed = set(TransactionHistory.objects.filter(is_replayed=True).values_list("pk", flat=True))
    assert replayed == {buy.pk, sell.pk}
    # The executions are stored in transaction time order.
    ordered = ReplayExecution.objects.filter(replay_run=run).order_by("id")
    assert [e.transaction_history_id for e in ordered] == [buy.pk, sell.pk, in_gap.pk]

    running = [m["progress"] for m in published if m["status"] == "running"]
    assert running == sorted(running) and running[0] == 0
    assert published[-1] == {"status": "completed", "progress": 100.0}


def test_the_summary_compares_real_and_replayed_positions(analyst, published):
    btc_minutes()
    make_fills(
        analyst,
        [
            {"time": at(0.5), "side": "buy", "price": 106, "quantity": 1},
            {"time": at(1), "side": "sell", "price": 112, "quantity": 0.5},
            {"time": at(2.5), "side": "buy", "price": 107, "quantity": 1},
        ],
    )
    summary = run_now(analyst, fill_model="close").summary
    assert (summary["transactions"], summary["completed"], summary["failed"]) == (3, 2, 1)
    # Positions are valued one minute after the last transaction (00:03:30): the last
    # candle closed by then is 00:01's, close 111 (00:03's closes at 00:04).
    assert summary["marked_at"] == "2024-01-01T00:03:30Z"
    btc = summary["symbols"]["BTCUSDT"]
    assert btc["mark"] == {"time": "2024-01-01T00:02:00Z", "price": 111.0}
    assert btc["quote_asset"] == "USDT"
    assert (btc["transactions"], btc["completed"], btc["failed"]) == (3, 2, 1)
    # Real: bought 1 @ 106, sold 0.5 @ 112: realised 3; 0.5 open @ 106 marked at 111.
    assert btc["real"] == {
        "realised_pnl": 3.0,
        "unrealised_pnl": 2.5,
        "fees": 0.0,
        "net_pnl": 5.5,
    }
    # Replayed at the closes 105 and 111: realised 3, unrealised 0.5 * 6 = 3.
    assert btc["replayed"] == {
        "realised_pnl": 3.0,
        "unrealised_pnl": 3.0,
        "fees": 0.0,
        "net_pnl": 6.0,
    }
    assert btc["difference"] == {"realised_pnl": 0.0, "unrealised_pnl": 0.5, "net_pnl": 0.5}
    # ... which is the sum of the value differences: +1 (buy) - 0.5 (sell).
    assert btc["value_difference"] == 0.5
    assert btc["open_quantity"] == 0.5
    assert summary["total"]["USDT"]["difference"]["net_pnl"] == 0.5
    assert set(summary["timings"]) == {
        "load_transactions",
        "match",
        "write_executions",
        "mark_replayed",
    }


def test_fees_are_converted_at_the_candle_or_reported_unconverted(analyst, published):
    flat_candles("BTCUSDT", at(0), 10, 40_000.0)
    flat_candles("ETHUSDT", at(0), 10, 2_000.0)
    flat_candles("BNBUSDT", at(0), 5, 300.0)  # 00:00 to 00:04 only
    make_fills(
        analyst,
        [
            {"time": at(1), "side": "buy", "price": 40_000, "quantity": 1,
             "fee": "4", "fee_asset": "USDT"},
            {"time": at(2), "side": "buy", "price": 40_000, "quantity": 1,
             "fee": "0.0001", "fee_asset": "BTC"},  # 0.0001 * 40000 = 4
            {"time": at(3), "side": "sell", "price": 40_000, "quantity": 2,
             "fee": "0.01", "fee_asset": "BNB"},  # 0.01 * 300 = 3
            {"time": at(4), "side": "buy", "price": 2_000, "quantity": 1, "symbol": "ETHUSDT",
             "fee": "0.002", "fee_asset": "BNB"},  # BNBUSDT 00:04: 0.6
            {"time": at(7), "side": "sell", "price": 2_000, "quantity": 1, "symbol": "ETHUSDT",
             "fee": "0.005", "fee_asset": "BNB"},  # no BNBUSDT candle at 00:07
        ],
    )  # fmt: skip
    summary = run_now(analyst).summary
    btc, eth = summary["symbols"]["BTCUSDT"], summary["symbols"]["ETHUSDT"]
    assert btc["real"]["fees"] == pytest.approx(11.0)
    assert btc["real"]["net_pnl"] == pytest.approx(-11.0)  # flat prices: fees alone
    assert btc["fees_unconverted"] == {}
    assert eth["real"]["fees"] == pytest.approx(0.6)
    assert eth["fees_unconverted"] == {"BNB": 0.005}
    total = summary["total"]["USDT"]
    assert total["transactions"] == 5
    assert total["real"]["fees"] == pytest.approx(11.6)
    assert total["replayed"]["fees"] == pytest.approx(11.6)
    assert total["fees_unconverted"] == {"BNB": 0.005}
    fees = {
        e.transaction_history.metadata["fee_asset"] + e.transaction_history.symbol: e.result
        for e in ReplayExecution.objects.select_related("transaction_history")
    }
    assert fees["BTCBTCUSDT"]["fee_in_quote"] == pytest.approx(4.0)
    assert fees["BNBBTCUSDT"]["fee_in_quote"] == pytest.approx(3.0)


def test_a_fee_that_is_not_a_number_counts_as_none(analyst, published):
    flat_candles("BTCUSDT", at(0), 3, 100.0)
    make_fills(
        analyst,
        [
            {"time": at(0), "side": "buy", "price": 100, "quantity": 1,
             "fee": "n/a", "fee_asset": "USDT"},
            {"time": at(1), "side": "sell", "price": 100, "quantity": 1,
             "fee": "0.25", "fee_asset": "usdt"},
        ],
    )  # fmt: skip
    run = run_now(analyst)
    assert run.status == RunStatus.COMPLETED
    assert run.summary["symbols"]["BTCUSDT"]["real"]["fees"] == 0.25


def test_symbols_quoted_in_different_assets_are_totalled_apart(analyst, published):
    flat_candles("BTCUSDT", at(0), 3, 100.0)
    flat_candles("ETHUSDT", at(0), 3, 10.0)
    flat_candles("ETHBTC", at(0), 3, 0.05)
    make_fills(
        analyst,
        [
            {"time": at(0), "side": "buy", "price": 101, "quantity": 1},
            {"time": at(1), "side": "buy", "price": 11, "quantity": 2, "symbol": "ETHUSDT"},
            {"time": at(2), "side": "buy", "price": 0.051, "quantity": 10, "symbol": "ETHBTC"},
        ],
    )
    summary = run_now(analyst, fill_model="open").summary
    assert set(summary["symbols"]) == {"BTCUSDT", "ETHBTC", "ETHUSDT"}
    assert set(summary["total"]) == {"USDT", "BTC"}
    assert summary["total"]["USDT"]["value_difference"] == pytest.approx(1.0 + 2.0)
    assert summary["total"]["BTC"]["value_difference"] == pytest.approx(0.01)


def test_a_symbol_without_candles_is_reported_per_transaction(analyst, published):
    flat_candles("BTCUSDT", at(0), 2, 100.0)
    make_fills(
        analyst,
        [
            {"time": at(0), "side": "buy", "price": 100, "quantity": 1},
            {"time": at(1), "side": "buy", "price": 1, "quantity": 1, "symbol": "XRPUSDT"},
        ],
    )
    run = run_now(analyst)
    assert run.status == RunStatus.COMPLETED
    assert run.summary["symbols_without_candles"] == ["XRPUSDT"]
    assert run.summary["symbols"]["XRPUSDT"]["failed"] == 1
    failed = ReplayExecution.objects.get(replay_run=run, status=ExecutionStatus.FAILED)
    assert failed.result == {
        "error": "no candle for 2024-01-01T00:01:00Z: no XRPUSDT 1m candles are stored"
    }


def test_filters_select_the_transactions(analyst, published):
    flat_candles("BTCUSDT", at(0), 10, 100.0)
    flat_candles("ETHUSDT", at(0), 10, 10.0)
    fills = make_fills(
        analyst,
        [{"time": at(k), "side": "buy", "price": 100, "quantity": 1} for k in range(5)]
        + [{"time": at(1), "side": "buy", "price": 10, "quantity": 1, "symbol": "ETHUSDT"}],
    )
    run = run_now(analyst, symbol="btc/usdt", start=at(1), end=at(3))
    assert run.symbol == "BTCUSDT" and run.transaction_count == 2
    assert set(run.executions.values_list("transaction_history_id", flat=True)) == {
        fills[1].pk,
        fills[2].pk,
    }
    only = run_now(analyst, transaction_ids=[fills[4].pk, fills[5].pk])
    assert only.transaction_count == 2 and set(only.summary["symbols"]) == {"BTCUSDT", "ETHUSDT"}
    assert only.parameters == {
        "source": "binance",
        "transaction_ids": sorted([fills[4].pk, fills[5].pk]),
    }


def test_bad_requests_name_every_parameter_and_write_nothing(analyst, make_user):
    other = make_user("olga", role="analyst")
    (theirs,) = make_fills(other, [{"time": at(0), "side": "buy", "price": 1, "quantity": 1}])
    (mine,) = make_fills(analyst, [{"time": at(0), "side": "buy", "price": 1, "quantity": 1}])
    with pytest.raises(runs.InvalidReplayInput) as caught:
        runs.create_replay(
            analyst,
            runs.ReplayRequest(
                symbol="??",
                timeframe="7m",
                fill_model="mid",
                start=at(5),
                end=at(1),
                transaction_ids=[mine.pk, theirs.pk, 999_999],
            ),
        )
    problems = {p.path: p.message for p in caught.value.problems}
    assert set(problems) == {"symbol", "timeframe", "fill", "end", "transaction_ids"}
    assert problems["transaction_ids"] == f"not transactions of yours: #{theirs.pk}, #999999"
    assert "use open, close, typical, worst" in problems["fill"]

    with pytest.raises(runs.InvalidReplayInput, match="no transactions in ETHUSDT"):
        runs.create_replay(analyst, runs.ReplayRequest(symbol="ETHUSDT"))
    with pytest.raises(runs.InvalidReplayInput, match="no transactions to replay"):
        runs.create_replay(make_user("newbie", role="analyst"), runs.ReplayRequest())
    assert not ReplayRun.objects.exists()
    assert not SecurityEvent.objects.filter(action=SecurityAction.REPLAY_LAUNCHED).exists()


def test_viewers_may_not_replay(viewer):
    make_fills(viewer, [{"time": at(0), "side": "buy", "price": 1, "quantity": 1}])
    with pytest.raises(NotAllowed):
        runs.create_replay(viewer, runs.ReplayRequest())


def test_launch_and_cancel_are_security_events(analyst, make_user, published):
    flat_candles("BTCUSDT", at(0), 2, 100.0)
    make_fills(analyst, [{"time": at(0), "side": "buy", "price": 100, "quantity": 1}])
    run = runs.create_replay(analyst, runs.ReplayRequest(fill_model="worst"))
    launched = SecurityEvent.objects.get(action=SecurityAction.REPLAY_LAUNCHED)
    assert launched.actor == analyst and launched.target_id == str(run.pk)
    assert launched.detail == {
        "symbol": None,
        "timeframe": "1m",
        "fill_model": "worst",
        "transactions": 1,
    }
    operator = make_user("otto", role="operator")
    assert runs.cancel_replay(run, actor=operator)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.error == "cancelled by the user"
    cancelled = SecurityEvent.objects.get(action=SecurityAction.REPLAY_CANCELLED)
    assert cancelled.actor == operator and cancelled.target_id == str(run.pk)
    # A cancelled run is not started, and cancelling again changes nothing.
    assert runs.execute_replay(run.pk)["status"] == "cancelled"
    assert not runs.cancel_replay(run, actor=analyst)
    assert SecurityEvent.objects.filter(action=SecurityAction.REPLAY_CANCELLED).count() == 1
    assert not ReplayExecution.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_cancel_from_elsewhere_while_it_writes_keeps_nothing(analyst, monkeypatch):
    flat_candles("BTCUSDT", at(0), 100, 100.0)
    make_fills(
        analyst,
        [{"time": at(k % 100), "side": "buy", "price": 101, "quantity": 1} for k in range(60_000)],
    )
    run = runs.create_replay(analyst, runs.ReplayRequest())
    outcome = {}

    def cancel_elsewhere():
        try:  # another connection, as the API's would be
            outcome["cancelled"] = runs.cancel_replay(ReplayRun.objects.get(pk=run.pk))
        finally:
            connection.close()

    def cancel_while_writing(running):
        if running.status == RunStatus.RUNNING and running.progress > 55 and not outcome:
            canceller = threading.Thread(target=cancel_elsewhere)
            canceller.start()
            canceller.join(timeout=20)  # it must not wait for the writing to end
            assert not canceller.is_alive()

    monkeypatch.setattr(runs, "publish_replay_progress", cancel_while_writing)
    assert runs.execute_replay(run.pk)["status"] == "cancelled"
    assert outcome == {"cancelled": True}
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.summary == {}
    assert not ReplayExecution.objects.exists()
    assert not TransactionHistory.objects.filter(is_replayed=True).exists()


def test_the_reaper_fails_silent_and_forgotten_runs(analyst, published):
    make_fills(analyst, [{"time": at(0), "side": "buy", "price": 1, "quantity": 1}])
    silent = runs.create_replay(analyst, runs.ReplayRequest())
    forgotten = runs.create_replay(analyst, runs.ReplayRequest())
    fresh = runs.create_replay(analyst, runs.ReplayRequest())
    long_ago = timezone.now() - timedelta(minutes=10)
    ReplayRun.objects.filter(pk=silent.pk).update(status=RunStatus.RUNNING, heartbeat_at=long_ago)
    ReplayRun.objects.filter(pk=forgotten.pk).update(created_at=long_ago)
    assert sorted(runs.reap_stale_replays(timedelta(minutes=5))) == sorted(
        [silent.pk, forgotten.pk]
    )
    silent.refresh_from_db()
    forgotten.refresh_from_db()
    fresh.refresh_from_db()
    assert silent.status == RunStatus.FAILED and "stopped reporting" in silent.error
    assert forgotten.status == RunStatus.FAILED and "not started" in forgotten.error
    assert fresh.status == RunStatus.PENDING


def test_a_transaction_is_replayed_by_its_owner_only(analyst, make_user, published):
    (fill,) = make_fills(analyst, [{"time": at(0), "side": "buy", "price": 1, "quantity": 1}])
    with pytest.raises(NotAllowed):
        runs.replay_transaction(make_user("olga", role="analyst"), fill)
    run = runs.replay_transaction(analyst, fill, fill_model="typical", timeframe="1h")
    assert run.status == RunStatus.QUEUED
    assert (run.symbol, run.timeframe, run.fill_model) == ("BTCUSDT", "1h", "typical")
    assert run.parameters["transaction_ids"] == [fill.pk]
    assert run.transaction_count == 1


def test_a_run_whose_transactions_are_gone_fails_with_a_message(analyst, published):
    make_fills(analyst, [{"time": at(0), "side": "buy", "price": 1, "quantity": 1}])
    run = runs.create_replay(analyst, runs.ReplayRequest())
    TransactionHistory.objects.all().delete()
    state = runs.execute_replay(run.pk)
    assert state["status"] == "failed"
    assert "exist any more" in state["error"]


def test_a_position_open_at_the_end_is_marked_at_the_run_s_end(analyst, published):
    store_candles(
        "BTCUSDT",
        [(at(k), 100.0 + k, 100.0 + k, 100.0 + k, 100.0 + k) for k in range(10)],
    )
    make_fills(analyst, [{"time": at(1), "side": "buy", "price": 100, "quantity": 2}])
    summary = run_now(analyst, end=at(6)).summary
    btc = summary["symbols"]["BTCUSDT"]
    # The last candle closed by 00:06 is 00:05's (close 105).
    assert btc["mark"] == {"time": (at(6)).isoformat().replace("+00:00", "Z"), "price": 105.0}
    assert btc["real"]["unrealised_pnl"] == pytest.approx(10.0)
    assert btc["replayed"]["unrealised_pnl"] == pytest.approx(2 * (105 - 101))
