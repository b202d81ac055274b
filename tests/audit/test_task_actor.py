"""The acting user follows an API request into the Celery task it starts: what the
worker changes is logged by django-auditlog under that user and address."""

import time

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backtest.models import Backtest, RunStatus
from tests.backtest.conftest import store_candles

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def wait_for_status(backtest_id: int, timeout: float = 60.0) -> Backtest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backtest = Backtest.objects.get(pk=backtest_id)
        if backtest.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return backtest
        time.sleep(0.1)
    raise AssertionError("the worker did not finish the backtest")


def test_a_backtest_started_through_the_api_is_logged_under_its_user_in_the_worker(
    celery_worker, analyst
):
    store_candles("BTCUSDT", "1h", count=800, seed=3, step_ms=3_600_000)
    client = APIClient(REMOTE_ADDR="198.51.100.23")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=analyst).key}")

    response = client.post(
        "/api/backtests/",
        {"symbol": "BTCUSDT", "timeframe": "1h", "template": "sma_cross"},
        format="json",
    )
    assert response.status_code == 202, response.content
    backtest = wait_for_status(response.json()["id"])
    assert backtest.status == RunStatus.COMPLETED, backtest.error

    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Backtest), object_pk=str(backtest.pk)
    ).order_by("id")
    assert entries[0].action == LogEntry.Action.CREATE and entries[0].actor == analyst
    # Written by the worker, in another process, when it claimed the run:
    started = next(e for e in entries if e.changes_dict.get("status", [None])[-1] == "running")
    assert started.changes_dict["status"] == [RunStatus.QUEUED, RunStatus.RUNNING]
    assert started.actor == analyst
    assert started.remote_addr == "198.51.100.23"


def test_tasks_without_a_user_log_no_actor(celery_worker, analyst):
    from backtest import services

    store_candles("BTCUSDT", "1h", count=800, seed=3, step_ms=3_600_000)
    backtest = services.submit_backtest(
        analyst, services.BacktestRequest(symbol="BTCUSDT", timeframe="1h", template="sma_cross")
    )
    backtest = wait_for_status(backtest.pk)
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Backtest), object_pk=str(backtest.pk)
    )
    started = next(e for e in entries if e.changes_dict.get("status", [None])[-1] == "running")
    assert started.actor is None
