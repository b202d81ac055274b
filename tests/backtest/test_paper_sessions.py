"""Paper sessions: warm-up, stepping on stored closed candles, risk limits, the kill
switch, the API's permissions and the task the stream queues.

The consistency test is the issue's requirement: for the same candles a paper session
and a backtest make the same trades. The session starts when only its warm-up is
stored; the later candles are then stored and stepped, as the stream would store them.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.urls import reverse

from audit.models import SecurityAction, SecurityEvent
from backtest import paper, services, tasks, validators
from backtest.engine.metrics import METRIC_NAMES, compute_metrics
from backtest.engine.stepper import window_length
from backtest.engine.types import Bars, TradeLog
from backtest.execution import execute_backtest
from backtest.models import PaperSession, PaperStatus, RunStatus
from backtest.strategy_templates import template_strategy
from marketdata.selectors import OHLCV, candle_arrays, find_series
from marketdata.services import import_candles
from marketdata.timeframes import get_timeframe
from tests.backtest.api.conftest import sine_klines

pytestmark = pytest.mark.django_db

BARS = 300
PARAMS = {"fast": 5, "slow": 20}
STRATEGY = template_strategy("sma_cross", PARAMS)
WARM_UP = window_length(STRATEGY["entry_rules"], STRATEGY["exit_rules"], PARAMS)
TRADE_FIELDS = (
    "entry_time",
    "exit_time",
    "side",
    "quantity",
    "entry_price",
    "exit_price",
    "pnl",
    "pnl_percentage",
    "fees",
    "entry_reason",
    "exit_reason",
)


# The sine series from its 10th bar: the first moving-average cross then falls after
# the first stored candles (STORED_FIRST), so the warm-up holds no signal a backtest
# over the same candles would trade on.
OFFSET = 10
# The fewest candles a run may start on (its lookback plus two); the session's warm-up
# is the last WARM_UP of them.
STORED_FIRST = WARM_UP + 1
STEPPED = BARS - STORED_FIRST


def store(first: int, last: int, symbol: str = "BTCUSDT") -> None:
    """Candles first..last-1 of the series (hourly)."""
    lines = sine_klines(BARS + OFFSET).decode().splitlines(keepends=True)
    lines = lines[OFFSET + first : OFFSET + last]
    import_candles(io.BytesIO("".join(lines).encode()), symbol=symbol, timeframe="1h")


def run_request(symbol: str = "BTCUSDT", **options) -> services.BacktestRequest:
    return services.BacktestRequest(
        template="sma_cross",
        parameters=dict(PARAMS),
        symbol=symbol,
        timeframe="1h",
        options={"direction": "both", **options},
    )


def trade_rows(trades) -> list[tuple]:
    return [tuple(getattr(trade, name) for name in TRADE_FIELDS) for trade in trades]


def catch_up(session: PaperSession, batch: int) -> int:
    total = 0
    while (count := paper.advance_session(session, batch=batch)) > 0:
        total += count
    return total


def test_a_session_makes_the_same_trades_as_a_backtest_over_the_same_candles(analyst):
    store(0, STORED_FIRST)
    session = paper.start_session(analyst, run_request())
    assert session.status == PaperStatus.RUNNING
    assert session.warm_up_bars == WARM_UP
    assert paper.advance_session(session) == 0  # nothing after the warm-up yet

    store(STORED_FIRST, BARS)
    # Bounded batches: 37 candles per transaction, resumed from the saved state.
    assert catch_up(session, batch=37) == STEPPED
    assert session.bars_stepped == STEPPED
    assert len(session.equity_points) == STEPPED

    backtest = services.create_backtest(analyst, run_request())
    execute_backtest(backtest.pk, respect_user_limit=False)
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.COMPLETED, backtest.error
    expected = list(backtest.trades.order_by("entry_time", "id"))
    # The backtest closes what is still open on its last bar; live data has no last bar.
    last = expected.pop() if expected[-1].exit_reason == "end_of_data" else None
    got = list(session.trades.order_by("entry_time", "id"))
    assert len(got) >= 8
    assert trade_rows(got) == trade_rows(expected)
    if session.state["open_trade"] is None:
        realised = float(backtest.initial_balance) + sum(float(t.pnl) for t in got)
        assert float(session.equity) == pytest.approx(realised)
    if last is not None:
        open_trade = session.state["open_trade"]
        assert open_trade["side"] == last.side
        assert open_trade["entry_price"] == float(last.entry_price)


def test_a_drawdown_breaker_halts_the_session(analyst):
    store(0, STORED_FIRST)
    session = paper.start_session(analyst, run_request(fee=0.01, risk={"max_drawdown": 0.03}))
    store(STORED_FIRST, BARS)
    catch_up(session, batch=500)
    assert session.status == PaperStatus.HALTED
    assert session.halted_reason == "max_drawdown"
    assert session.state["breakers"]["max_drawdown"]
    assert session.state["open_trade"] is None
    halted_at = session.last_timestamp
    assert session.bars_stepped < STEPPED  # stopped stepping when it halted
    # A halted session is not stepped again.
    assert paper.advance_session(session) == 0
    assert session.last_timestamp == halted_at


def test_the_kill_switch_closes_the_position_and_halts_audited(analyst, operator):
    store(0, STORED_FIRST)
    session = paper.start_session(analyst, run_request())
    store(STORED_FIRST, BARS)
    while session.state["open_trade"] is None:
        assert paper.advance_session(session, batch=1) == 1
    with pytest.raises(services.NotAllowed):
        paper.kill_session(session, analyst)
    trades_before = session.trades.count()

    assert paper.kill_session(session, operator)
    assert session.status == PaperStatus.HALTED
    assert session.halted_reason == "kill_switch"
    assert session.killed_by == operator
    assert session.state["open_trade"] is None
    assert session.trades.count() == trades_before + 1
    assert session.trades.order_by("-exit_time", "-id").first().exit_reason == "kill_switch"
    event = SecurityEvent.objects.get(action=SecurityAction.PAPER_SESSION_KILLED)
    assert event.actor == operator
    assert event.target_id == str(session.pk)
    assert event.detail["closed_position"] is True
    # Killed for good: neither stepped nor killed again.
    assert paper.advance_session(session) == 0
    assert not paper.kill_session(session, operator)


def test_kill_all_halts_every_running_session(analyst, operator):
    store(0, STORED_FIRST)
    sessions = [paper.start_session(analyst, run_request()) for _ in range(2)]
    stopped = paper.start_session(analyst, run_request())
    paper.stop_session(stopped, actor=analyst)
    assert sorted(paper.kill_all(operator)) == sorted(s.pk for s in sessions)
    for session in sessions:
        session.refresh_from_db()
        assert session.status == PaperStatus.HALTED
    assert SecurityEvent.objects.filter(action=SecurityAction.PAPER_SESSION_KILLED).count() == 2


def test_the_task_advances_every_running_session_of_the_series_once(analyst):
    store(0, STORED_FIRST)
    store(0, STORED_FIRST, symbol="ETHUSDT")
    first, second = (paper.start_session(analyst, run_request()) for _ in range(2))
    other = paper.start_session(analyst, run_request(symbol="ETHUSDT"))
    store(STORED_FIRST, BARS)

    result = tasks.advance_paper_sessions("BTCUSDT", "1h")
    assert result["stepped"] == {first.pk: STEPPED, second.pk: STEPPED}
    first.refresh_from_db(), second.refresh_from_db(), other.refresh_from_db()
    assert trade_rows(first.trades.all()) == trade_rows(second.trades.all())
    assert other.bars_stepped == 0
    trades = first.trades.count()
    # Again (a duplicate or late task): nothing new, nothing twice.
    assert tasks.advance_paper_sessions("BTCUSDT", "1h")["stepped"] == {first.pk: 0, second.pk: 0}
    assert first.trades.count() == trades


def test_the_stream_hook_queues_the_task_only_for_a_series_with_running_sessions(
    analyst, django_capture_on_commit_callbacks
):
    store(0, STORED_FIRST)
    with django_capture_on_commit_callbacks() as callbacks:
        paper.schedule_advance("BTCUSDT", "1h")
    assert callbacks == []
    paper.start_session(analyst, run_request())
    with django_capture_on_commit_callbacks() as callbacks:
        paper.schedule_advance("BTCUSDT", "1h")
    assert len(callbacks) == 1


def test_a_strategy_no_bounded_window_reproduces_is_refused(analyst):
    store(0, 60)
    strategy = services.create_strategy(
        analyst,
        name="obv",
        entry_rules={"long": {"left": {"indicator": "obv"}, "op": ">", "right": {"value": 0}}},
        exit_rules={},
        config={},
    )
    request = services.BacktestRequest(strategy=strategy, symbol="BTCUSDT", timeframe="1h")
    with pytest.raises(services.InvalidBacktestInput, match="obv"):
        paper.start_session(analyst, request)
    assert not PaperSession.objects.exists()


def test_api_owner_sees_stranger_does_not_viewer_cannot_start(
    analyst, make_user, viewer, analyst_client, viewer_client
):
    store(0, STORED_FIRST)
    body = {"template": "sma_cross", "params": PARAMS, "symbol": "BTCUSDT", "timeframe": "1h"}
    response = analyst_client.post(reverse("paper-session-list"), body, format="json")
    assert response.status_code == 201, response.content
    session_id = response.json()["id"]
    assert response.json()["status"] == "running"
    detail = analyst_client.get(reverse("paper-session-detail", args=[session_id]))
    assert detail.status_code == 200
    assert {"trades", "equity_curve", "position"} <= detail.json().keys()

    with_range = {**body, "start": "2024-01-01T00:00:00Z"}
    refused = analyst_client.post(reverse("paper-session-list"), with_range, format="json")
    assert refused.status_code == 400

    from rest_framework.test import APIClient

    stranger = APIClient()
    stranger.force_authenticate(make_user("stan", role="analyst"))
    assert stranger.get(reverse("paper-session-detail", args=[session_id])).status_code == 404
    assert stranger.get(reverse("paper-session-list")).json()["count"] == 0
    assert viewer_client.post(reverse("paper-session-list"), body, format="json").status_code == 403
    stop = analyst_client.post(reverse("paper-session-stop", args=[session_id]))
    assert stop.status_code == 200 and stop.json()["status"] == "stopped"
    assert analyst_client.post(reverse("paper-session-stop", args=[session_id])).status_code == 409


def test_admin_lists_sessions_read_only_and_kills_through_the_action(client, analyst, operator):
    store(0, STORED_FIRST)
    session = paper.start_session(analyst, run_request())
    store(STORED_FIRST, BARS)
    paper.advance_session(session, batch=60)
    client.force_login(operator)
    base = "/admin/backtest/papersession/"
    assert client.get(base, {"status": "running"}).status_code == 200
    page = client.get(f"{base}{session.pk}/change/")
    assert page.status_code == 200
    assert b"Engine state" in page.content
    response = client.post(base, {"action": "kill", "_selected_action": [session.pk]}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["1 killed."]
    session.refresh_from_db()
    assert session.status == PaperStatus.HALTED
    assert session.killed_by == operator
    halted = client.get(base, {"status": "halted"})
    assert b"kill_switch" in halted.content
    # Analysts have no admin; and only the kill permission offers the action.
    client.force_login(analyst)
    assert client.get(base).status_code == 302


def test_a_session_keeps_a_backtests_metrics_of_its_equity_and_trades(analyst):
    store(0, STORED_FIRST)
    session = paper.start_session(analyst, run_request())
    assert session.metrics == {}
    store(STORED_FIRST, BARS)
    catch_up(session, batch=100)
    metrics = session.metrics
    assert set(metrics) == set(METRIC_NAMES)

    # The engine's own code over the same equity points, candles and stored trades.
    points = session.equity_points
    times = np.array([point[0] for point in points], dtype=np.int64)
    equity = np.array([point[1] for point in points])
    series = find_series("BTCUSDT", "1h", session.source)
    candles = candle_arrays(
        series, paper._to_datetime(times[0]), paper._to_datetime(times[-1] + 1), OHLCV
    )
    assert candles["timestamp"].tolist() == times.tolist()
    trades = list(session.trades.order_by("exit_time", "id"))
    index = {t: i for i, t in enumerate(times.tolist())}
    log = TradeLog(
        entry_index=np.array([index[paper._to_microseconds(t.entry_time)] for t in trades]),
        exit_index=np.array([index[paper._to_microseconds(t.exit_time)] for t in trades]),
        side=np.array([1 if t.side == "long" else -1 for t in trades], dtype=np.int8),
        **{
            name: np.array([float(getattr(t, name)) for t in trades])
            for name in ("quantity", "entry_price", "exit_price", "pnl", "pnl_percentage", "fees")
        },
        entry_reason=np.zeros(len(trades), dtype=np.int8),
        exit_reason=np.zeros(len(trades), dtype=np.int8),
    )
    config = validators.build_engine_config(
        session.parameters, get_timeframe("1h").periods_per_year
    )
    expected = compute_metrics(Bars.from_arrays(candles), log, equity, config)
    for name in ("total_pnl_percentage", "max_drawdown_percentage", "total_trades", "win_rate"):
        assert metrics[name] == expected[name], name
    assert metrics == expected

    # And what they mean, from the session itself.
    assert metrics["total_trades"] == session.trades.count() >= 8
    winners = session.trades.filter(pnl__gt=0).count()
    assert metrics["win_rate"] == pytest.approx(winners / session.trades.count() * 100)
    initial = float(session.initial_balance)
    assert metrics["total_pnl_percentage"] == pytest.approx(
        (float(session.equity) / initial - 1) * 100
    )
    assert metrics["max_drawdown_percentage"] == pytest.approx(
        max(point[2] for point in points) * 100
    )
