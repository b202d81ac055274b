"""Cancelling sync runs: the service, the worker side, the API and the admin, on the real
PostgreSQL and Redis, with the fake Binance for runs that download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import SecurityAction, SecurityEvent
from central.celery import app
from marketdata import selectors, sync
from marketdata.models import SyncRun
from marketdata.services import get_or_create_symbol
from marketdata.sync import cancel_sync_run, create_manual_run, execute_sync_run
from tests.fakes.fake_binance import make_klines
from tests.marketdata.test_sync import published, subscribe

START = datetime(2024, 1, 1, tzinfo=UTC)
COUNT = 2500  # three requests of up to 1000 candles
END = START + COUNT * timedelta(minutes=1)


def cancel_url(run_id: int) -> str:
    return reverse("marketdata-sync-run-cancel", args=[run_id])


def cancel_events() -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(action=SecurityAction.SYNC_CANCELLED))


def stored_count() -> int:
    series = selectors.find_series("BTCUSDT", "1m")
    return series.candle_count if series else 0


@pytest.fixture
def btc(fake_binance):
    """2500 one-minute candles of BTCUSDT on the fake exchange."""
    fake_binance.load_klines("BTCUSDT", "1m", make_klines("1m", START, END))
    return fake_binance


@pytest.fixture
def revoked(monkeypatch) -> list[tuple[tuple, dict]]:
    """The arguments of every revoke sent to the workers (it still goes to the broker)."""
    calls: list[tuple[tuple, dict]] = []
    real = app.control.revoke

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(app.control, "revoke", spy)
    return calls


def cancel_while_downloading(client, run_id: int, actor, *, on_call: int = 1):
    """Wrap the client so the `on_call`-th fetch cancels the run (as an operator would,
    through the service) once Binance has answered it."""
    fetch = client.fetch_klines
    calls = 0

    def fetch_then_cancel(*args, **kwargs):
        nonlocal calls
        klines = fetch(*args, **kwargs)
        calls += 1
        if calls == on_call:
            assert cancel_sync_run(SyncRun.objects.get(pk=run_id), actor=actor)
        return klines

    client.fetch_klines = fetch_then_cancel
    return client


# --- a pending run --------------------------------------------------------------------


@pytest.mark.django_db
def test_api_cancels_a_pending_run_audited_and_a_worker_then_does_nothing(
    operator, operator_client, btc, binance_client, revoked, django_capture_on_commit_callbacks
):
    run = create_manual_run("BTCUSDT", "1m", START, END)
    channel = subscribe(run.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(cancel_url(run.pk))

    assert response.status_code == 200, response.content
    assert response.data["id"] == run.pk and response.data["status"] == "cancelled"
    assert response.data["error"] == "cancelled by ops"
    assert response.data["finished_at"] is not None
    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED and run.finished_at is not None
    (event,) = cancel_events()
    assert (event.actor, event.actor_username, event.ip) == (operator, "ops", "127.0.0.1")
    assert (event.target_type, event.target_id) == ("marketdata.syncrun", str(run.pk))
    assert event.detail == {"symbol": "BTCUSDT", "timeframe": "1m", "previous_status": "pending"}
    # The queued task is revoked, not terminated (a running one stops by itself).
    assert revoked == [((run.task_id,), {})]
    (final,) = published(channel)
    assert (final["status"], final["phase"], final["progress"]) == ("cancelled", "finished", 1.0)

    # The task reaches a worker all the same (revokes are best effort): it does nothing.
    summary = execute_sync_run(run.pk, client=binance_client())

    assert summary["status"] == "cancelled" and summary["error"] == "cancelled by ops"
    assert btc.kline_requests() == []
    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED and run.started_at is None
    assert stored_count() == 0


@pytest.mark.django_db
def test_a_finished_run_answers_409_and_records_nothing(operator_client):
    run = SyncRun.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"),
        timeframe="1h",
        start=START,
        status=SyncRun.Status.SUCCEEDED,
    )

    response = operator_client.post(cancel_url(run.pk))

    assert response.status_code == 409
    assert response.json() == {"detail": f"sync run #{run.pk} has already finished (succeeded)"}
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.error == ""
    assert cancel_events() == []


@pytest.mark.django_db
def test_cancelling_twice_answers_409_the_second_time(operator_client):
    run = create_manual_run("BTCUSDT", "1h", START)

    assert operator_client.post(cancel_url(run.pk)).status_code == 200
    again = operator_client.post(cancel_url(run.pk))

    assert again.status_code == 409
    assert again.json() == {"detail": f"sync run #{run.pk} has already finished (cancelled)"}
    assert len(cancel_events()) == 1


@pytest.mark.django_db
def test_unknown_run_answers_404(operator_client):
    assert operator_client.post(cancel_url(999_999)).status_code == 404


@pytest.mark.django_db
def test_only_operators_may_cancel(analyst_client, anon_client):
    run = create_manual_run("BTCUSDT", "1h", START)

    assert analyst_client.post(cancel_url(run.pk)).status_code == 403
    assert anon_client.post(cancel_url(run.pk)).status_code == 401

    run.refresh_from_db()
    assert run.status == SyncRun.Status.PENDING
    assert cancel_events() == []


# --- a running run ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_cancelled_mid_download_stops_and_keeps_what_it_stored(operator, btc, binance_client):
    run = create_manual_run("BTCUSDT", "1m", START, END)
    channel = subscribe(run.pk)
    client = cancel_while_downloading(binance_client(), run.pk, operator)

    summary = execute_sync_run(run.pk, client=client)

    assert summary["status"] == "cancelled"
    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED and run.error == "cancelled by ops"
    # The chunk fetched when the cancel came is stored; no further request was sent.
    assert len(btc.kline_requests()) == 1
    assert stored_count() == 1000
    assert (run.rows_inserted, run.requests_made) == (1000, 1)
    assert run.gaps_found == 0  # stopped before the gap pass
    assert run.started_at is not None and run.finished_at is not None
    (event,) = cancel_events()
    assert event.actor == operator and event.detail["previous_status"] == "running"
    # Watchers' last word (the worker's, with what it stored) says cancelled.
    payloads = published(channel)
    assert all(p["status"] == "running" for p in payloads[:-1])
    last = payloads[-1]
    assert (last["status"], last["phase"], last["rows_inserted"]) == ("cancelled", "finished", 1000)


@pytest.mark.django_db
def test_a_cancel_after_the_last_chunk_is_not_overwritten_by_success(
    operator, btc, binance_client, monkeypatch
):
    """The cancel lands after the worker's last check, before it records the end."""
    run = create_manual_run("BTCUSDT", "1m", START, END)
    publish = sync._publish

    def publish_then_cancel(progressing: SyncRun, *, phase: str, progress: float) -> None:
        publish(progressing, phase=phase, progress=progress)
        if (phase, progress) == ("gaps", 1.0):
            cancel_sync_run(SyncRun.objects.get(pk=progressing.pk), actor=operator)

    monkeypatch.setattr(sync, "_publish", publish_then_cancel)

    summary = execute_sync_run(run.pk, client=binance_client())

    assert summary["status"] == "cancelled"
    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED and run.error == "cancelled by ops"
    assert (run.rows_inserted, run.requests_made) == (COUNT, 3)
    assert stored_count() == COUNT


@pytest.mark.django_db
def test_a_failure_after_the_cancel_leaves_the_run_cancelled(operator, btc, binance_client):
    """Cancelled while its request was out; the request then failed (an unlisted symbol)."""
    run = create_manual_run("NOPEUSDT", "1m", START, END)
    client = binance_client()
    fetch = client.fetch_klines

    def cancel_then_fetch(*args, **kwargs):
        cancel_sync_run(SyncRun.objects.get(pk=run.pk), actor=operator)
        return fetch(*args, **kwargs)

    client.fetch_klines = cancel_then_fetch

    summary = execute_sync_run(run.pk, client=client)

    assert summary["status"] == "cancelled" and summary["error"] == "cancelled by ops"
    assert summary["requests_made"] == 1


@pytest.mark.django_db
def test_the_command_exits_with_an_error_when_its_run_is_cancelled(operator, btc, monkeypatch):
    publish = sync._publish

    def publish_then_cancel(progressing: SyncRun, *, phase: str, progress: float) -> None:
        publish(progressing, phase=phase, progress=progress)
        if phase == "download":
            cancel_sync_run(SyncRun.objects.get(pk=progressing.pk), actor=operator)

    monkeypatch.setattr(sync, "_publish", publish_then_cancel)

    with pytest.raises(CommandError, match=r"^sync run #\d+ cancelled: cancelled by ops$"):
        call_command(
            "sync_market_data",
            "--symbol=BTCUSDT",
            "--timeframe=1m",
            f"--start={START.isoformat()}",
            f"--end={END.isoformat()}",
            stdout=StringIO(),
        )

    # Cancelled as the first chunk was reported: the worker noticed at the second.
    assert len(btc.kline_requests()) == 2 and stored_count() == 2000


@pytest.mark.django_db
def test_the_service_returns_false_for_a_finished_run(operator):
    run = SyncRun.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"),
        timeframe="1h",
        start=START,
        status=SyncRun.Status.FAILED,
        error="boom",
    )

    assert cancel_sync_run(run, actor=operator) is False

    assert (run.status, run.error) == (SyncRun.Status.FAILED, "boom")
    assert cancel_events() == []


# --- the admin -------------------------------------------------------------------------


@pytest.mark.usefixtures("admin_pages")
@pytest.mark.django_db
def test_operator_cancels_runs_in_the_admin(client, operator):
    symbol = get_or_create_symbol("BTCUSDT")
    pending, running, done = (
        SyncRun.objects.create(symbol=symbol, timeframe="1h", start=START, status=status)
        for status in (SyncRun.Status.PENDING, SyncRun.Status.RUNNING, SyncRun.Status.SUCCEEDED)
    )
    client.force_login(operator)

    response = client.post(
        reverse("admin:marketdata_syncrun_changelist"),
        {"action": "cancel", "_selected_action": [pending.pk, running.pk, done.pk]},
        follow=True,
        REMOTE_ADDR="198.51.100.9",
    )

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["2 cancelled, 1 already finished."]
    statuses = dict(SyncRun.objects.values_list("pk", "status"))
    assert statuses == {pending.pk: "cancelled", running.pk: "cancelled", done.pk: "succeeded"}
    events = cancel_events()
    assert sorted(int(e.target_id) for e in events) == [pending.pk, running.pk]
    assert {(e.actor, e.ip) for e in events} == {(operator, "198.51.100.9")}
    page = client.get(reverse("admin:marketdata_syncrun_changelist"))
    assert "Cancel selected sync runs" in page.content.decode()


# --- the OpenAPI schema ------------------------------------------------------------------


def test_the_cancel_route_is_described_with_its_answers_and_examples(tmp_path, django_db_blocker):
    out = tmp_path / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    operation = yaml.safe_load(out.read_text())["paths"]["/api/market-data/sync-runs/{id}/cancel/"][
        "post"
    ]

    assert set(operation["responses"]) == {"200", "401", "403", "404", "409"}
    assert "requestBody" not in operation
    examples = {
        code: next(iter(answer["content"]["application/json"]["examples"].values()))["value"]
        for code, answer in operation["responses"].items()
        if code in ("200", "409")
    }
    assert examples["200"]["status"] == "cancelled"
    assert examples["409"] == {"detail": "sync run #7 has already finished (succeeded)"}
