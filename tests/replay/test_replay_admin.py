"""The replay admin: operators see imports, fills, runs and executions, and cancel runs."""

from io import BytesIO

import pytest
from django.test import Client

from audit.models import SecurityAction, SecurityEvent
from replay import runs
from replay.imports import import_file
from replay.models import ReplayExecution, ReplayRun, RunStatus
from tests.replay.replay_helpers import T0, flat_candles

pytestmark = pytest.mark.django_db
ADMIN = "/admin/replay"
FILLS = (
    b"time,symbol,side,price,quantity,fee,fee_asset,type,id\n"
    b"2024-01-01T00:00:30Z,BTCUSDT,buy,100.5,0.01,0.001,USDT,limit,T-1\n"
    b"2024-01-01T00:02:10Z,BTCUSDT,sell,101,0.01,0.001,USDT,market,T-2\n"
)


@pytest.fixture
def operator_admin(client: Client, operator) -> Client:
    client.force_login(operator)
    return client


@pytest.fixture
def replayed(analyst) -> dict:
    flat_candles("BTCUSDT", T0, 5, 100.0)
    batch = import_file(analyst, BytesIO(FILLS), file_name="fills.csv")
    run = runs.create_replay(analyst, runs.ReplayRequest(symbol="BTCUSDT"))
    runs.execute_replay(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    return {
        "importbatch": batch,
        "transactionhistory": batch.transactions.first(),
        "replayrun": run,
        "replayexecution": ReplayExecution.objects.filter(replay_run=run).first(),
    }


def test_operators_open_every_list_and_page(operator_admin, replayed):
    for model, obj in replayed.items():
        for url in (f"{ADMIN}/{model}/", f"{ADMIN}/{model}/{obj.pk}/change/"):
            response = operator_admin.get(url)
            assert response.status_code == 200, url
    run_page = operator_admin.get(f"{ADMIN}/replayrun/{replayed['replayrun'].pk}/change/")
    assert "fills.csv" not in run_page.content.decode()  # a run, not the import
    assert "permissions" in run_page.content.decode()  # guardian's sharing pages


def test_nothing_is_added_or_deleted_here(operator_admin, replayed):
    for model in replayed:
        assert operator_admin.get(f"{ADMIN}/{model}/add/").status_code == 403


def test_cancelling_a_run_from_the_admin_goes_through_the_service(operator_admin, analyst):
    flat_candles("BTCUSDT", T0, 5, 100.0)
    import_file(analyst, BytesIO(FILLS), file_name="fills.csv")
    pending = runs.create_replay(analyst, runs.ReplayRequest(symbol="BTCUSDT"))

    response = operator_admin.post(
        f"{ADMIN}/replayrun/",
        {"action": "cancel", "_selected_action": [pending.pk]},
        follow=True,
    )

    assert "1 cancelled" in response.content.decode()
    assert ReplayRun.objects.get(pk=pending.pk).status == RunStatus.CANCELLED
    event = SecurityEvent.objects.get(action=SecurityAction.REPLAY_CANCELLED)
    assert event.actor_username == "ops" and event.ip == "127.0.0.1"


def test_analysts_stay_out(client: Client, analyst, replayed):
    client.force_login(analyst)
    assert client.get(f"{ADMIN}/replayrun/").status_code == 302  # to the admin's login
