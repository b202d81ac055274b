"""Running a backtest in-process: progress, cancellation, limits, the reaper."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backtest import execution, runner, services
from backtest.models import Backtest, EquityCurve, PerformanceSummary, RunStatus, Trade
from tests.backtest.conftest import store_candles

pytestmark = pytest.mark.django_db

MINUTE_MS = 60_000


@pytest.fixture
def minute_candles(db) -> str:
    store_candles("ETHUSDT", "1m", count=20_000, seed=11, step_ms=MINUTE_MS)
    return "ETHUSDT"


def queued(owner, symbol="ETHUSDT", timeframe="1m", **options) -> Backtest:
    request = services.BacktestRequest(
        symbol=symbol, timeframe=timeframe, template="sma_cross", options=options
    )
    backtest = services.create_backtest(owner, request)
    Backtest.objects.filter(pk=backtest.pk).update(status=RunStatus.QUEUED)
    return backtest


@pytest.fixture
def published(monkeypatch) -> list[dict]:
    """Every progress message the run publishes (the channel layer is tested elsewhere)."""
    messages: list[dict] = []
    monkeypatch.setattr(execution, "publish_backtest_progress", lambda b: messages.append(
        {"status": b.status, "progress": float(b.progress)}
    ))  # fmt: skip
    return messages


def test_progress_is_published_at_least_every_two_percent(analyst, minute_candles, published):
    backtest = queued(analyst)
    state = execution.execute_backtest(backtest.pk)
    assert state["status"] == "completed" and state["progress"] == 100
    running = [m["progress"] for m in published if m["status"] == "running"]
    assert running == sorted(running)  # never goes back
    steps = [b - a for a, b in zip([0.0, *running], running, strict=False)]
    assert max(steps) <= 2.0 + 1e-9
    assert published[-1] == {"status": "completed", "progress": 100.0}
    backtest.refresh_from_db()
    assert backtest.metadata["bars"] == 20_000
    assert set(backtest.metadata["timings"]) == {"load", "compute", "persist"}
    assert EquityCurve.objects.get(backtest=backtest).bar_count == 20_000


def test_cancelling_while_it_runs_stops_it_and_keeps_no_results(
    analyst, minute_candles, monkeypatch
):
    backtest = queued(analyst)

    def cancel_halfway(running):
        if running.status == RunStatus.RUNNING and running.progress >= 50:
            services.cancel_backtest(Backtest.objects.get(pk=running.pk))

    monkeypatch.setattr(execution, "publish_backtest_progress", cancel_halfway)
    state = execution.execute_backtest(backtest.pk)
    assert state["status"] == "cancelled"
    backtest.refresh_from_db()
    assert 50 <= backtest.progress < 100
    assert not Trade.objects.filter(backtest=backtest).exists()
    assert not PerformanceSummary.objects.filter(backtest=backtest).exists()
    assert not EquityCurve.objects.filter(backtest=backtest).exists()


def test_a_cancelled_run_is_not_started(analyst, minute_candles, published):
    backtest = queued(analyst)
    assert services.cancel_backtest(backtest)
    assert execution.execute_backtest(backtest.pk)["status"] == "cancelled"
    assert not services.cancel_backtest(backtest)  # already finished
    assert published == []


def test_a_user_at_the_limit_waits_and_others_do_not(
    analyst, make_user, minute_candles, settings, published
):
    settings.BACKTEST_MAX_RUNNING_PER_USER = 1
    busy = queued(analyst)
    Backtest.objects.filter(pk=busy.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=timezone.now()
    )
    waiting = queued(analyst)
    with pytest.raises(execution.NoFreeSlot):
        execution.execute_backtest(waiting.pk)
    waiting.refresh_from_db()
    assert waiting.status == RunStatus.QUEUED and waiting.started_at is None

    other = queued(make_user("bea", role="analyst"))
    assert execution.execute_backtest(other.pk)["status"] == "completed"
    # The CLI runs regardless of the user's queue.
    assert execution.execute_backtest(waiting.pk, respect_user_limit=False)["status"] == (
        "completed"
    )


def test_time_limit_fails_the_run_with_a_message(analyst, minute_candles, settings, published):
    settings.BACKTEST_TIME_LIMIT_SECONDS = 0
    backtest = queued(analyst)
    state = execution.execute_backtest(backtest.pk)
    assert state["status"] == "failed"
    assert "time limit of 0 s" in state["error"]
    assert not Trade.objects.filter(backtest=backtest).exists()


def test_reaper_fails_runs_whose_worker_went_silent(analyst, minute_candles, published):
    silent = queued(analyst)
    alive = queued(analyst)
    now = timezone.now()
    Backtest.objects.filter(pk=silent.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=now - timedelta(minutes=10)
    )
    Backtest.objects.filter(pk=alive.pk).update(status=RunStatus.RUNNING, heartbeat_at=now)
    assert execution.reap_stale_backtests(timedelta(minutes=5)) == [silent.pk]
    silent.refresh_from_db()
    alive.refresh_from_db()
    assert silent.status == RunStatus.FAILED and "stopped reporting" in silent.error
    assert alive.status == RunStatus.RUNNING
    assert published == [{"status": "failed", "progress": 0.0}]


def test_an_unexpected_error_fails_the_run_and_is_not_raised(
    analyst, minute_candles, monkeypatch, published
):
    backtest = queued(analyst)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(runner, "simulate", broken)
    state = execution.execute_backtest(backtest.pk)
    assert state["status"] == "failed"
    assert state["error"] == execution.INTERNAL_ERROR.format(id=backtest.pk)
    assert "boom" not in state["error"]  # internals stay in the log


def test_waiting_cells_ask_again_later_and_later_with_jitter(settings):
    from backtest.tasks import slot_retry_delay

    settings.BACKTEST_SLOT_RETRY_SECONDS = 2
    assert 1.5 <= slot_retry_delay(0) <= 2.5
    assert 6 <= slot_retry_delay(2) <= 10
    assert all(24 <= slot_retry_delay(n) <= 40 for n in (4, 9, 50))
    assert len({slot_retry_delay(3) for _ in range(20)}) > 1


def test_reaper_fails_runs_never_started_and_closes_finished_sweeps(
    analyst, minute_candles, published
):
    from backtest.models import Sweep

    old = timezone.now() - timedelta(minutes=10)
    forgotten = services.create_backtest(analyst, services.BacktestRequest(
        symbol="ETHUSDT", timeframe="1m", template="sma_cross"
    ))  # fmt: skip
    Backtest.objects.filter(pk=forgotten.pk).update(created_at=old)
    sweep = Sweep.objects.create(
        owner=analyst, symbol="ETHUSDT", timeframe="1m", grid={"fast": [5, 10]},
        status=RunStatus.RUNNING, cell_count=2,
    )  # fmt: skip
    for status in (RunStatus.COMPLETED, RunStatus.FAILED):
        cell = queued(analyst)
        Backtest.objects.filter(pk=cell.pk).update(sweep=sweep, status=status)
    busy_sweep = Sweep.objects.create(
        owner=analyst, symbol="ETHUSDT", timeframe="1m", grid={"fast": [5]},
        status=RunStatus.QUEUED, cell_count=1,
    )  # fmt: skip
    Backtest.objects.filter(pk=queued(analyst).pk).update(sweep=busy_sweep)

    assert execution.reap_stale_backtests(timedelta(minutes=5)) == [forgotten.pk]
    forgotten.refresh_from_db()
    assert forgotten.status == RunStatus.FAILED and "not started" in forgotten.error
    sweep.refresh_from_db()
    busy_sweep.refresh_from_db()
    assert sweep.status == RunStatus.COMPLETED and sweep.finished_at
    assert busy_sweep.status == RunStatus.QUEUED  # a cell still waits


def test_a_sweep_cell_starting_marks_its_sweep_running(analyst, minute_candles, published):
    from backtest.models import Sweep

    sweep = Sweep.objects.create(
        owner=analyst, symbol="ETHUSDT", timeframe="1m", grid={"fast": [5]},
        status=RunStatus.QUEUED, cell_count=1,
    )  # fmt: skip
    cell = queued(analyst)
    Backtest.objects.filter(pk=cell.pk).update(sweep=sweep)
    seen = []
    real_claim = execution._claim

    def claim_and_look(*args):
        claimed = real_claim(*args)
        seen.append(Sweep.objects.get(pk=sweep.pk).status)
        return claimed

    execution._claim = claim_and_look
    try:
        assert execution.execute_backtest(cell.pk)["status"] == "completed"
    finally:
        execution._claim = real_claim
    assert seen == [RunStatus.RUNNING]


def test_an_unreachable_broker_fails_the_run_instead_of_leaving_it_queued(
    analyst, minute_candles, monkeypatch, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    from backtest import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(tasks.run_backtest, "delay", broker_down)
    request = services.BacktestRequest(symbol="ETHUSDT", timeframe="1m", template="sma_cross")
    with django_capture_on_commit_callbacks(execute=True):
        backtest = services.submit_backtest(analyst, request)
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.FAILED
    assert backtest.error == services.UNSENT_ERROR and "127.0.0.1" not in backtest.error
