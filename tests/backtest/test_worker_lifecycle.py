"""Backtests and sweeps run by a real Celery worker, watched over the real channel layer."""

import json
import os
import signal
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from guardian.shortcuts import assign_perm

from backtest import execution, services
from backtest.models import Backtest, RunStatus, Sweep
from backtest.tasks import run_backtest
from tests.backtest.conftest import store_candles
from tests.conftest import current_test_database, start_worker, stop_worker, worker_environment
from tests.ws import close_code, connect

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def request(template="sma_cross", **options) -> services.BacktestRequest:
    return services.BacktestRequest(
        symbol="ETHUSDT", timeframe="1m", template=template, options=options
    )


@pytest.fixture
def minute_candles(transactional_db):
    store_candles("ETHUSDT", "1m", count=60_000, seed=5, step_ms=60_000)


def test_worker_runs_it_and_the_owner_watches_progress_to_the_end(
    celery_worker, analyst, minute_candles
):
    backtest = services.create_backtest(analyst, request(direction="both"))

    async def watch() -> tuple[list[dict], int]:
        communicator, connected, _ = await connect(analyst, f"/ws/backtests/{backtest.pk}/")
        assert connected
        snapshot = await communicator.receive_json_from(timeout=5)
        assert snapshot["status"] == "pending" and snapshot["progress"] == 0
        await sync_to_async(services.enqueue_backtest)(backtest)
        messages = []
        while True:
            output = await communicator.receive_output(timeout=60)
            if output["type"] == "websocket.close":
                return messages, output.get("code", 1000)
            messages.append(json.loads(output["text"]))

    messages, code = async_to_sync(watch)()
    assert code == 1000
    assert messages[-1]["status"] == "completed" and messages[-1]["progress"] == 100
    running = [m["progress"] for m in messages if m["status"] == "running"]
    assert len(running) >= 25  # every 2 % of the run, at most
    assert running == sorted(running) and all(0 <= p <= 100 for p in running)
    assert all(set(m) >= {"id", "status", "progress"} for m in messages)
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.COMPLETED and backtest.performance_summary


def test_others_are_refused_and_shared_users_may_watch(analyst, make_user, minute_candles):
    backtest = services.create_backtest(analyst, request())
    stranger = make_user("eve", role="analyst")
    friend = make_user("bob", role="analyst")
    assign_perm("backtest.view_backtest", friend, backtest)

    async def scenario():
        communicator, connected, _ = await connect(stranger, f"/ws/backtests/{backtest.pk}/")
        assert connected and await close_code(communicator) == 4403
        communicator, connected, _ = await connect(stranger, "/ws/backtests/999999/")
        assert connected and await close_code(communicator) == 4403
        communicator, connected, _ = await connect(friend, f"/ws/backtests/{backtest.pk}/")
        assert (await communicator.receive_json_from(timeout=5))["id"] == backtest.pk
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_sweep_fans_out_and_is_closed_by_its_chord(celery_worker, analyst, minute_candles):
    sweep = services.submit_sweep(
        analyst,
        request(),
        grid={"fast": [5, 10], "slow": [30, 60]},
        rank_metric="total_pnl_percentage",
    )
    wait_for(lambda: Sweep.objects.get(pk=sweep.pk).status == RunStatus.COMPLETED, timeout=120)
    cells = list(Backtest.objects.filter(sweep=sweep))
    assert len(cells) == 4 and {c.status for c in cells} == {RunStatus.COMPLETED}
    grids = sorted(
        (c.parameters["parameters"]["fast"], c.parameters["parameters"]["slow"]) for c in cells
    )
    assert grids == [(5, 30), (5, 60), (10, 30), (10, 60)]
    assert len({c.reproducibility_hash for c in cells}) == 4


def test_a_killed_worker_leaves_a_run_the_reaper_fails(
    django_db_blocker, analyst, settings, fake_binance_server
):
    store_candles("ETHUSDT", "1m", count=300_000, seed=9, step_ms=60_000)
    env = worker_environment(current_test_database(django_db_blocker))
    process, log_file = start_worker(env, "doomed", "doomed", "celery-doomed-worker.log")
    try:
        backtest = services.create_backtest(analyst, request(direction="both"))
        run_backtest.apply_async((backtest.pk,), queue="doomed")
        wait_for(
            lambda: Backtest.objects.get(pk=backtest.pk).status == RunStatus.RUNNING,
            timeout=60,
            interval=0.005,
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        stop_worker(process, log_file)
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.RUNNING  # nobody is left to finish it
    time.sleep(1.2)
    assert execution.reap_stale_backtests(timedelta(seconds=1)) == [backtest.pk]
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.FAILED and "stopped reporting" in backtest.error
