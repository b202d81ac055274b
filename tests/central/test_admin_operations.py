"""The operators' admin as a whole: every model registered, history read-only, the
operations actions end to end (with the real worker where they start tasks), run
retention, and the queue page."""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta

import pytest
import redis
from auditlog.models import LogEntry
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.sharing import is_shareable
from accounts.sharing_admin import SharingAdmin
from audit.models import SecurityAction, SecurityEvent
from audit.registry import PROJECT_APPS
from backtest import services as backtest_services
from backtest.models import Backtest, EquityCurve, PerformanceSummary, RunStatus, Sweep, Trade
from central.admin_mixins import NOT_IN_ADMIN
from central.queue_status import queue_depths
from central.run_retention import purge_old_runs
from marketdata.models import CandleSeries, SyncRun
from marketdata.sample_data import kline_rows
from marketdata.services import get_or_create_symbol, import_candles
from replay.models import ReplayExecution, ReplayRun, TransactionHistory
from tests.backtest.test_admin import make_backtest
from tests.fakes.fake_binance import make_klines
from tests.replay.replay_helpers import T0, flat_candles, make_fills

MINUTE = timedelta(minutes=1)
# Models of the project apps listed without a date hierarchy, and why.
NO_DATE_HIERARCHY = {
    "marketdata.CandleRecord": "millions of rows: the drill-down would scan them per page",
    "backtest.Trade": "millions of rows; reached per run",
    "backtest.EquityCurve": "no date of its own",
    "replay.ReplayExecution": "millions of rows; reached per run",
}
# History an edit would corrupt: no add, change or delete, even for a superuser.
READ_ONLY = (
    "marketdata.CandleRecord",
    "marketdata.CandleSeries",
    "marketdata.SyncRun",
    "backtest.Trade",
    "backtest.PerformanceSummary",
    "backtest.EquityCurve",
    "replay.TransactionHistory",
    "replay.ReplayExecution",
    "audit.SecurityEvent",
    "auditlog.LogEntry",
)


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """The manifest storage needs `collectstatic`, which tests do not run."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def project_models() -> list[type[models.Model]]:
    return [model for label in PROJECT_APPS for model in apps.get_app_config(label).get_models()]


def admin_of(model: type[models.Model]) -> admin.ModelAdmin:
    return admin.site.get_model_admin(model)


def changelist(model: type[models.Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


# --- coverage ---------------------------------------------------------------------------


def test_every_model_of_the_project_is_in_the_admin_or_says_why_not():
    missing = [
        model._meta.label
        for model in project_models()
        if not admin.site.is_registered(model) and model._meta.label not in NOT_IN_ADMIN
    ]
    assert missing == []
    stale = [label for label in NOT_IN_ADMIN if admin.site.is_registered(apps.get_model(label))]
    assert stale == []


def test_every_admin_has_columns_filters_or_search_and_a_date_hierarchy():
    for model in project_models():
        if not admin.site.is_registered(model):
            continue
        model_admin, label = admin_of(model), model._meta.label
        assert model_admin.list_display != ("__str__",), label
        assert model_admin.list_filter or model_admin.search_fields, label
        has_date = any(isinstance(f, models.DateTimeField) for f in model._meta.fields)
        if has_date and label not in NO_DATE_HIERARCHY:
            assert model_admin.date_hierarchy, f"{label} has dates but no date hierarchy"


def test_every_shareable_model_has_guardians_sharing_pages():
    shareable = [model for model in project_models() if is_shareable(model)]
    assert {m._meta.label for m in shareable} >= {
        "backtest.Strategy",
        "backtest.Backtest",
        "backtest.Sweep",
        "replay.ImportBatch",
        "replay.ReplayRun",
    }
    for model in shareable:
        assert isinstance(admin_of(model), SharingAdmin), model._meta.label


@pytest.fixture
def history(analyst) -> dict[str, models.Model]:
    """One row of each read-only model."""
    kline = kline_rows(1_704_067_200_000, 60_000, 3, 100.0, 1)
    import_candles(io.BytesIO(kline), symbol="BTCUSDT", timeframe="1m", filename="k.csv")
    backtest = make_backtest(analyst, status=RunStatus.COMPLETED)
    [fill] = make_fills(analyst, [{"time": T0, "side": "buy", "price": 100, "quantity": 1}])
    run = ReplayRun.objects.create(owner=analyst, status=RunStatus.COMPLETED)
    rows = {
        "marketdata.CandleSeries": CandleSeries.objects.get(),
        "marketdata.SyncRun": SyncRun.objects.create(
            symbol=get_or_create_symbol("BTCUSDT"), timeframe="1m", start=T0
        ),
        "backtest.Trade": Trade.objects.create(
            backtest=backtest, entry_time=T0, entry_price=1, quantity=1, side="long"
        ),
        "backtest.PerformanceSummary": PerformanceSummary.objects.create(
            backtest=backtest, total_trades=1, winning_trades=1, losing_trades=0
        ),
        "backtest.EquityCurve": EquityCurve.objects.create(
            backtest=backtest, bar_count=0, timestamps=b"", equity=b"", exposure=b""
        ),
        "replay.TransactionHistory": fill,
        "replay.ReplayExecution": ReplayExecution.objects.create(
            replay_run=run, transaction_history=fill, status="completed"
        ),
        "audit.SecurityEvent": SecurityEvent.objects.create(action=SecurityAction.LOGOUT),
    }
    rows["auditlog.LogEntry"] = LogEntry.objects.first()
    return rows


@pytest.mark.django_db
def test_history_is_read_only_even_for_a_superuser(admin_client, history):
    for label in READ_ONLY:
        model = apps.get_model(label)
        meta = model._meta
        base = f"admin:{meta.app_label}_{meta.model_name}"
        assert admin_client.get(changelist(model)).status_code == 200, label
        assert admin_client.get(reverse(f"{base}_add")).status_code == 403, label
        obj = history.get(label)
        if obj is None:  # candles: a list without detail pages
            continue
        change = reverse(f"{base}_change", args=[obj.pk])
        assert admin_client.post(change, {}).status_code == 403, label
        delete = reverse(f"{base}_delete", args=[obj.pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403, label
        assert model.objects.filter(pk=obj.pk).exists(), label


@pytest.mark.django_db
def test_operators_open_every_list_they_are_given(client, operator, history):
    client.force_login(operator)
    for label in ("backtest.PerformanceSummary", "backtest.EquityCurve"):
        page = client.get(changelist(apps.get_model(label)))
        assert page.status_code == 200, label
        assert f"backtest #{history['backtest.Trade'].backtest_id}" in page.content.decode()


# --- actions --------------------------------------------------------------------------


def run_action(client: Client, model, action: str, objects) -> list[str]:
    response = client.post(
        changelist(model),
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def wait_for(predicate, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_sync_now_brings_a_series_up_to_date_through_the_worker(
    celery_worker, fake_binance, client, operator
):
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - 60 * MINUTE
    stored = kline_rows(int(start.timestamp() * 1000), 60_000, 30, 100.0, 1)
    import_candles(io.BytesIO(stored), symbol="BTCUSDT", timeframe="1m", filename="k.csv")
    fake_binance.load_klines("BTCUSDT", "1m", make_klines("1m", start, now))
    series = CandleSeries.objects.get()
    client.force_login(operator)

    shown = run_action(client, CandleSeries, "sync_now", [series])

    run = SyncRun.objects.get()
    assert shown == [f"Queued 1 sync run(s): #{run.pk}."]
    assert (run.trigger, run.requested_by, run.start) == ("admin", operator, series.last_timestamp)
    wait_for(lambda: SyncRun.objects.get().status not in ("pending", "running"), what="the sync")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    series.refresh_from_db()
    assert series.candle_count > 30 and series.last_timestamp >= now - 2 * MINUTE
    launched = SecurityEvent.objects.get(action=SecurityAction.SYNC_LAUNCHED)
    assert launched.actor == operator


@pytest.mark.django_db
def test_sync_now_refuses_imported_series_and_skips_busy_ones(admin_client):
    kline = kline_rows(1_704_067_200_000, 60_000, 3, 100.0, 1)
    import_candles(
        io.BytesIO(kline), symbol="ETHUSDT", timeframe="1m", filename="k", source_name="csv"
    )
    import_candles(io.BytesIO(kline), symbol="BTCUSDT", timeframe="1m", filename="k")
    busy = SyncRun.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"), timeframe="1m", start=T0, status="running"
    )

    shown = run_action(admin_client, CandleSeries, "sync_now", CandleSeries.objects.all())

    assert SyncRun.objects.get() == busy
    assert "a sync is already pending or running for: BTCUSDT 1m (binance)." in shown[0]
    assert shown[1] == "Not queued, ETHUSDT 1m (csv): source: csv series are imported, not synced"


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_replay_selected_transactions_makes_one_replay_per_owner_and_symbol(
    celery_worker, client, operator, analyst, make_user
):
    other = make_user("bea", role="analyst")
    flat_candles("BTCUSDT", T0, 30, 100.0)
    flat_candles("ETHUSDT", T0, 30, 10.0)
    mine = make_fills(
        analyst,
        [
            {"time": T0 + 1 * MINUTE, "side": "buy", "price": 99, "quantity": 1},
            {"time": T0 + 2 * MINUTE, "side": "sell", "price": 101, "quantity": 1},
            {"time": T0 + 3 * MINUTE, "side": "buy", "price": 98, "quantity": 1},  # not selected
            {
                "time": T0 + 4 * MINUTE,
                "symbol": "ETHUSDT",
                "side": "buy",
                "price": 9,
                "quantity": 2,
            },
        ],
    )
    theirs = make_fills(
        other, [{"time": T0 + 5 * MINUTE, "side": "buy", "price": 100, "quantity": 1}]
    )
    selected = [mine[0], mine[1], mine[3], theirs[0]]
    client.force_login(operator)

    shown = run_action(client, TransactionHistory, "replay_selected", selected)

    replays = list(ReplayRun.objects.order_by("pk"))
    assert [(r.owner, r.symbol, r.transaction_count) for r in replays] == [
        (analyst, "BTCUSDT", 2),
        (analyst, "ETHUSDT", 1),
        (other, "BTCUSDT", 1),
    ]
    assert shown[0].startswith("Queued 3 replay(s): ")
    wait_for(
        lambda: not ReplayRun.objects.exclude(status=RunStatus.COMPLETED).exists(),
        what="the replays",
    )
    replayed = set(ReplayExecution.objects.values_list("transaction_history_id", flat=True))
    assert replayed == {fill.pk for fill in selected}
    # The change log names the operator who asked, though the runs are the owners'.
    created = LogEntry.objects.get_for_objects(ReplayRun.objects.all()).filter(action=0)
    assert {entry.actor for entry in created} == {operator}


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_rerun_makes_a_new_run_the_worker_completes_and_cancel_stops_one(
    celery_worker, client, operator, analyst
):
    flat_candles("BTCUSDT", T0, 300, 100.0)
    request = backtest_services.BacktestRequest(
        symbol="BTCUSDT", timeframe="1m", template="sma_cross"
    )
    original = backtest_services.create_backtest(analyst, request)
    Backtest.objects.filter(pk=original.pk).update(status=RunStatus.FAILED)
    waiting = backtest_services.create_backtest(analyst, request)
    client.force_login(operator)

    shown = run_action(client, Backtest, "rerun", [original])

    copy = Backtest.objects.get(metadata__rerun_of=original.pk)
    assert shown == [f"Queued 1 re-run(s): #{copy.pk}."]
    assert copy.owner == analyst
    wait_for(
        lambda: Backtest.objects.get(pk=copy.pk).status == RunStatus.COMPLETED, what="the re-run"
    )
    assert PerformanceSummary.objects.filter(backtest=copy).exists()

    assert run_action(client, Backtest, "cancel", [waiting, copy]) == [
        "1 cancelled, 1 already finished."
    ]
    assert Backtest.objects.get(pk=waiting.pk).status == RunStatus.CANCELLED


# --- purging old runs -------------------------------------------------------------------


def finished(days_ago: float) -> datetime:
    return timezone.now() - timedelta(days=days_ago)


@pytest.fixture
def runs_of_all_ages(analyst) -> dict[str, models.Model]:
    def backtest(status=RunStatus.COMPLETED, days_ago=None, **extra) -> Backtest:
        return make_backtest(
            analyst,
            status=status,
            finished_at=finished(days_ago) if days_ago is not None else None,
            **extra,
        )

    old = backtest(days_ago=100)
    Trade.objects.bulk_create(
        Trade(backtest=old, entry_time=T0, entry_price=1, quantity=1, side="long") for _ in range(3)
    )
    PerformanceSummary.objects.create(
        backtest=old, total_trades=3, winning_trades=1, losing_trades=2
    )
    sweep = Sweep.objects.create(
        owner=analyst,
        symbol="BTCUSDT",
        timeframe="1m",
        grid={"fast": [1, 2]},
        status=RunStatus.COMPLETED,
        finished_at=finished(120),
    )
    cells = [backtest(days_ago=120, sweep=sweep) for _ in range(2)]
    fill = make_fills(analyst, [{"time": T0, "side": "buy", "price": 1, "quantity": 1}])[0]
    old_replay = ReplayRun.objects.create(
        owner=analyst, status=RunStatus.FAILED, finished_at=finished(95)
    )
    ReplayExecution.objects.create(
        replay_run=old_replay, transaction_history=fill, status="completed"
    )
    symbol = get_or_create_symbol("BTCUSDT")
    return {
        "old": old,
        "sweep": sweep,
        "cells": cells,
        "recent": backtest(days_ago=10),
        "old but running": backtest(status=RunStatus.RUNNING, days_ago=100),
        "old replay": old_replay,
        "recent replay": ReplayRun.objects.create(
            owner=analyst, status=RunStatus.COMPLETED, finished_at=finished(1)
        ),
        "old sync": SyncRun.objects.create(
            symbol=symbol, timeframe="1m", start=T0, status="failed", finished_at=finished(91)
        ),
        "running sync": SyncRun.objects.create(symbol=symbol, timeframe="1m", start=T0),
        "fill": fill,
    }


@pytest.mark.django_db
def test_purge_removes_only_old_finished_runs_with_their_results(runs_of_all_ages, settings):
    settings.RUN_RETENTION_DAYS = 90
    runs = runs_of_all_ages

    dry = purge_old_runs(dry_run=True)
    assert dict(dry.deleted) == {"sweeps": 1, "backtests": 1, "replays": 1, "sync runs": 1}
    assert Backtest.objects.count() == 5

    report = purge_old_runs()

    assert dict(report.deleted) == {
        "sweep cells": 2,
        "sweeps": 1,
        "trades": 3,
        "backtests": 1,
        "replay executions": 1,
        "replays": 1,
        "sync runs": 1,
    }
    assert set(Backtest.objects.values_list("pk", flat=True)) == {
        runs["recent"].pk,
        runs["old but running"].pk,
    }
    assert not Trade.objects.exists() and not PerformanceSummary.objects.exists()
    assert list(ReplayRun.objects.all()) == [runs["recent replay"]]
    assert list(SyncRun.objects.all()) == [runs["running sync"]]
    assert TransactionHistory.objects.filter(pk=runs["fill"].pk).exists()  # fills stay
    deleted = LogEntry.objects.filter(action=LogEntry.Action.DELETE)
    assert deleted.filter(content_type__model="backtest").count() == 3


@pytest.mark.django_db
def test_purge_action_is_for_admins_and_reports_what_it_kept(
    admin_client, admin_user, client, operator, runs_of_all_ages
):
    runs = runs_of_all_ages
    client.force_login(operator)
    actions = client.get(changelist(Backtest)).context["action_form"].fields["action"].choices
    assert "purge" not in dict(actions)  # deleting others' results is an admin's decision

    shown = run_action(
        admin_client, Backtest, "purge", [runs["old"], runs["recent"], runs["old but running"]]
    )

    assert shown[0].startswith("Deleted 3 trades, 1 backtests (finished before ")
    assert shown[1] == (
        "Kept 2 of the selected backtests: unfinished, or finished within the last "
        f"{settings.RUN_RETENTION_DAYS} days (RUN_RETENTION_DAYS)."
    )
    assert not Backtest.objects.filter(pk=runs["old"].pk).exists()
    entry = LogEntry.objects.get(action=LogEntry.Action.DELETE, object_pk=str(runs["old"].pk))
    assert entry.actor == admin_user
    shown = run_action(admin_client, SyncRun, "purge", SyncRun.objects.all())
    assert shown[0].startswith("Deleted 1 sync runs")
    shown = run_action(admin_client, ReplayRun, "purge", ReplayRun.objects.all())
    assert shown[0].startswith("Deleted 1 replay executions, 1 replays")
    shown = run_action(admin_client, Sweep, "purge", [runs["sweep"]])
    assert shown[0].startswith("Deleted 2 sweep cells, 1 sweeps")


@pytest.mark.django_db
def test_purge_runs_command_uses_the_setting_or_the_given_age(runs_of_all_ages, settings):
    out = io.StringIO()
    settings.RUN_RETENTION_DAYS = 200
    call_command("purge_runs", stdout=out)
    assert out.getvalue().startswith("Deleted nothing")

    call_command("purge_runs", "--older-than-days", "5", "--dry-run", stdout=out)
    assert "Would delete 1 sweeps, 2 backtests, 1 replays, 1 sync runs" in out.getvalue()
    assert Backtest.objects.count() == 5

    call_command("purge_runs", "--older-than-days", "5", stdout=out)
    assert Backtest.objects.count() == 1  # the running one
    entry = LogEntry.objects.filter(action=LogEntry.Action.DELETE).first()
    assert entry.actor.username == "central-cli"


# --- the queue page ---------------------------------------------------------------------


def test_queue_depth_counts_every_priority_list_of_the_queue():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    name = "ops-test-queue"
    try:
        client.rpush(name, "a", "b", "c")
        client.rpush(f"{name}\x06\x163", "d")
        assert queue_depths([name, "ops-test-empty"]) == {name: 4, "ops-test-empty": 0}
    finally:
        client.delete(name, f"{name}\x06\x163")
        client.close()


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_queue_page_shows_queued_runs_workers_and_failures(
    celery_worker, client, operator, analyst
):
    # No task sent: it waits where the page can see it.
    queued = make_backtest(analyst, status=RunStatus.QUEUED)
    failed = ReplayRun.objects.create(
        owner=analyst,
        status=RunStatus.FAILED,
        error="no BTCUSDT 1m candles are stored\nTraceback line",
        finished_at=timezone.now(),
    )
    client.force_login(operator)

    index = client.get("/admin/").content.decode()
    assert reverse("admin-queues") in index
    response = client.get(reverse("admin-queues"))

    assert response.status_code == 200
    page = response.context["page"]
    by_name = {queue.name: queue for queue in page.queues}
    assert list(by_name) == ["default", "marketdata", "backtests", "replays"]
    assert [(job.kind, job.pk) for job in by_name["backtests"].jobs] == [("backtest", queued.pk)]
    assert by_name["backtests"].counts == {"backtest queued": 1}
    assert by_name["replays"].jobs == [] and by_name["marketdata"].jobs == []
    assert all(isinstance(queue.waiting_messages, int) for queue in page.queues)
    assert page.workers and set(page.workers[0].queues) == set(by_name)
    assert all(by_name[name].workers for name in by_name)
    [failure] = page.failures
    assert (failure.kind, failure.pk, failure.owner) == ("replay", failed.pk, "ana")
    html = response.content.decode()
    assert f'data-kind="backtest" data-id="{queued.pk}"' in html
    assert "no BTCUSDT 1m candles are stored\nTraceback line" in html


@pytest.mark.django_db
def test_queue_page_is_for_staff_only(client, analyst):
    url = reverse("admin-queues")
    assert client.get(url).status_code == 302  # to the admin's sign-in page
    client.force_login(analyst)
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
