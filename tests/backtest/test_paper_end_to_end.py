"""A paper session end to end: the stream stores closed klines from the fake Binance
WebSocket, its hook queues `advance_paper_sessions`, and the real Celery worker steps
the session; the test waits on the session's row, never for a fixed time."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest

from backtest import paper
from backtest.models import PaperSession, PaperStatus
from backtest.services import BacktestRequest
from marketdata.services import import_candles
from marketdata.stream import MarketStreamService
from tests.fakes.fake_binance import make_klines, ws_kline
from tests.marketdata.test_stream import BTC_1M, RunningStream

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

MINUTE = timedelta(minutes=1)
STORED = 40  # more than the sma_cross 5/20 warm-up needs
STREAMED = 12
# Recent and closed: the stream's backfill after connecting asks the fake REST for them.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=STORED + STREAMED + 5)
ROWS = make_klines("1m", T0, T0 + (STORED + STREAMED) * MINUTE, seed=21)


def wait_for_session(pk: int, predicate, what: str, timeout: float = 40.0) -> PaperSession:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = PaperSession.objects.get(pk=pk)
        if predicate(session):
            return session
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {PaperSession.objects.get(pk=pk)!r}")


def test_streamed_candles_advance_a_running_session_through_the_worker(
    celery_worker, fake_binance, settings, analyst
):
    csv = "".join(",".join(str(value) for value in row) + "\n" for row in ROWS[:STORED])
    import_candles(io.BytesIO(csv.encode()), symbol="BTCUSDT", timeframe="1m")
    fake_binance.load_klines("BTCUSDT", "1m", ROWS[:STORED])  # the backfill finds no gap
    session = paper.start_session(
        analyst,
        BacktestRequest(
            template="sma_cross",
            parameters={"fast": 5, "slow": 20},
            symbol="BTCUSDT",
            timeframe="1m",
            options={"direction": "both"},
        ),
    )
    assert session.status == PaperStatus.RUNNING
    assert session.bars_stepped == 0
    stored_last = session.last_timestamp

    streamed = ROWS[STORED:]
    fake_binance.ws_script(
        [
            *(ws_kline("BTCUSDT", "1m", row, closed=False) for row in streamed[:1]),
            *(ws_kline("BTCUSDT", "1m", row) for row in streamed),
        ]
    )
    settings.BINANCE_WS_URL = fake_binance.ws_url
    stream = RunningStream(
        MarketStreamService("paper-e2e", [BTC_1M], backoff_base=0.05, backoff_max=0.2)
    )
    stream.thread.start()
    try:
        last_streamed = T0 + (STORED + STREAMED - 1) * MINUTE
        session = wait_for_session(
            session.pk,
            lambda s: s.last_timestamp == last_streamed,
            "the worker to step the last streamed candle",
        )
    finally:
        stream.stop()

    assert stored_last == T0 + (STORED - 1) * MINUTE
    assert session.status == PaperStatus.RUNNING, session.error
    assert session.bars_stepped == STREAMED
    expected_times = [
        paper._to_microseconds(T0 + i * MINUTE) for i in range(STORED, STORED + STREAMED)
    ]
    assert [point[0] for point in session.equity_points] == expected_times
    assert session.metrics["total_trades"] == session.trades.count()
    assert session.metrics["final_balance"] == pytest.approx(session.equity_points[-1][1])
