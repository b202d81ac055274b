"""Internal errors: the user sees a plain message, operators see the traceback (secrets
masked) on the run's admin page and the queue page; the API never returns it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from backtest import execution, services
from backtest.models import Backtest, RunStatus
from marketdata import sync
from marketdata.models import SyncRun
from marketdata.services import request_sync
from tests.backtest.api.conftest import sma_cross_definition
from tests.backtest.conftest import store_candles

pytestmark = pytest.mark.django_db

SECRET = "api_secret=Sup3rSecretValue99"


def broken(*args, **kwargs):
    raise RuntimeError(f"disk on fire ({SECRET})")


@pytest.fixture
def failed_backtest(analyst, monkeypatch) -> Backtest:
    store_candles()
    strategy = services.create_strategy(analyst, name="S", **sma_cross_definition())
    run = services.create_backtest(
        analyst, services.BacktestRequest(strategy=strategy, symbol="BTCUSDT", timeframe="1h")
    )
    monkeypatch.setattr(execution, "_run", broken)
    execution.execute_backtest(run.pk, respect_user_limit=False)
    return Backtest.objects.get(pk=run.pk)


def test_an_internal_error_stores_a_masked_traceback_the_user_never_sees(
    failed_backtest, analyst_client
):
    run = failed_backtest
    assert run.status == RunStatus.FAILED
    assert "internal error" in run.error and "disk on fire" not in run.error
    assert "Traceback (most recent call last)" in run.traceback
    assert "RuntimeError: disk on fire" in run.traceback
    assert "Sup3rSecretValue99" not in run.traceback

    body = analyst_client.get(f"/api/backtests/{run.pk}/").content.decode()
    assert "disk on fire" not in body and "Traceback" not in body


def test_operators_read_it_on_the_queue_page_and_the_runs_admin_page(failed_backtest, admin_client):
    page = admin_client.get(reverse("admin-queues")).content.decode()
    assert "data-traceback" in page and "RuntimeError: disk on fire" in page
    assert "Sup3rSecretValue99" not in page

    change = admin_client.get(
        reverse("admin:backtest_backtest_change", args=[failed_backtest.pk])
    ).content.decode()
    assert "RuntimeError: disk on fire" in change


def test_a_rerun_of_the_claim_clears_an_old_traceback(failed_backtest, monkeypatch):
    Backtest.objects.filter(pk=failed_backtest.pk).update(status=RunStatus.QUEUED)
    monkeypatch.setattr(execution, "_run", lambda backtest, report: None)
    execution.execute_backtest(failed_backtest.pk, respect_user_limit=False)
    assert Backtest.objects.get(pk=failed_backtest.pk).traceback == ""


def test_a_sync_that_breaks_unexpectedly_keeps_its_traceback(operator, monkeypatch):
    run = request_sync("BTCUSDT", "1h", datetime(2024, 1, 1, tzinfo=UTC), user=operator)
    monkeypatch.setattr(sync._SyncJob, "execute", broken)
    with pytest.raises(RuntimeError):
        sync.execute_sync_run(run.pk)
    run = SyncRun.objects.get(pk=run.pk)
    assert run.status == SyncRun.Status.FAILED
    assert "RuntimeError: disk on fire" in run.traceback
    assert "Sup3rSecretValue99" not in run.traceback
