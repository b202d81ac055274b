"""Structured logs: one JSON object per line, secrets masked, and a correlation id that
follows a request into the Celery tasks it starts (central/log_format.py,
central/correlation.py)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import runpy
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backtest.models import FINAL_STATUSES, Backtest, RunStatus, Sweep
from central import correlation
from central.correlation import (
    TASK_HEADER,
    CorrelationIdASGIMiddleware,
    CorrelationIdFilter,
    bound,
    get_correlation_id,
)
from central.log_format import JsonFormatter
from central.logging_filters import SecretMaskingFilter
from tests.backtest.conftest import store_candles
from tests.conftest import BASE_DIR

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def json_lines(text: str) -> list[dict]:
    lines = text.splitlines()
    assert lines, "nothing was logged: the assertions below would prove nothing"
    return [json.loads(line) for line in lines]


@contextlib.contextmanager
def configured_console() -> Iterator[io.StringIO]:
    """What the settings' root console handler writes (its filters, in JSON), captured."""
    (console,) = [h for h in logging.getLogger().handlers if h.name == "console"]
    stream = io.StringIO()
    previous_stream = console.setStream(stream)
    previous_formatter = console.formatter
    console.setFormatter(JsonFormatter())  # LOG_FORMAT=plain in the environment or not
    try:
        yield stream
    finally:
        console.setStream(previous_stream)
        console.setFormatter(previous_formatter)


# --- The formatter ---------------------------------------------------------------------------


@pytest.fixture
def json_log():
    """A logger whose handler is built like the settings' console handler."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretMaskingFilter())
    handler.addFilter(CorrelationIdFilter())
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("central.test.json")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log, stream
    log.removeHandler(handler)
    log.propagate = True


def test_a_record_is_one_line_of_json_with_the_fields(json_log):
    log, stream = json_log
    with bound("corr-1", task_name="backtest.tasks.run_backtest", task_id="t-1", user_id=7):
        log.warning("run %s slowed\ndown", 42, extra={"symbol": "BTCUSDT"})
    log.info("outside")

    text = stream.getvalue()
    assert text.count("\n") == 2  # the newline in the message is escaped
    inside, outside = json_lines(text)
    assert inside == {
        "timestamp": inside["timestamp"],
        "level": "WARNING",
        "logger": "central.test.json",
        "message": "run 42 slowed\ndown",
        "correlation_id": "corr-1",
        "task_name": "backtest.tasks.run_backtest",
        "task_id": "t-1",
        "user_id": 7,
        "symbol": "BTCUSDT",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", inside["timestamp"])
    assert outside["correlation_id"] is None and "task_id" not in outside


def test_secrets_are_masked_in_the_json(json_log):
    log, stream = json_log
    log.info("binance call api_key=%s api_secret=%s", "AKIA-plain-key", "s3cr3t-value")
    log.info("headers %s", {"Authorization": "Token 0123456789abcdef0123", "Accept": "json"})
    log.info("payload", extra={"api_secret": "extra-secret-1", "detail": {"token": "nested-9"}})

    text = stream.getvalue()
    for secret in ("AKIA-plain-key", "s3cr3t-value", "0123456789abcdef0123", "extra-secret-1"):
        assert secret not in text
    assert "nested-9" not in text
    first, second, third = json_lines(text)
    assert first["message"] == "binance call api_key=*** api_secret=***"
    assert second["message"] == "headers {'Authorization': '***', 'Accept': 'json'}"
    assert (third["api_secret"], third["detail"]) == ("***", {"token": "***"})


def test_an_exception_gives_its_type_and_masked_traceback(json_log):
    log, stream = json_log
    try:
        raise ConnectionError("binance refused signature=abcdef123456")
    except ConnectionError:
        log.exception("sync failed")

    (line,) = json_lines(stream.getvalue())
    assert line["level"] == "ERROR" and line["message"] == "sync failed"
    assert line["exc_type"] == "ConnectionError"
    assert line["traceback"].startswith("Traceback (most recent call last):")
    assert "test_an_exception_gives_its_type_and_masked_traceback" in line["traceback"]
    assert line["traceback"].endswith("ConnectionError: binance refused signature=***")


def test_values_json_cannot_write_are_written_as_text(json_log):
    log, stream = json_log
    log.info("odd extras", extra={"when": object(), "by_tuple": {(1, 2): "x"}})
    (line,) = json_lines(stream.getvalue())
    assert line["when"].startswith("<object object")
    assert line["by_tuple"] == "{(1, 2): 'x'}"


# --- Settings --------------------------------------------------------------------------------


def settings_with(monkeypatch, **environment: str) -> dict:
    for name in ("LOG_FORMAT", "DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "x" * 50)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(BASE_DIR / "central" / "settings.py"))


def test_log_format_is_json_in_production_and_plain_under_debug(monkeypatch):
    production = settings_with(monkeypatch, DEBUG="false")
    assert production["LOGGING"]["handlers"]["console"]["formatter"] == "json"
    assert production["LOGGING"]["handlers"]["console"]["filters"] == [
        "mask_secrets",
        "correlation",
    ]
    assert settings_with(monkeypatch, DEBUG="true")["LOG_FORMAT"] == "plain"
    forced = settings_with(monkeypatch, DEBUG="true", LOG_FORMAT="json")
    assert forced["LOGGING"]["handlers"]["console"]["formatter"] == "json"
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        settings_with(monkeypatch, LOG_FORMAT="xml")


def test_the_plain_format_shows_the_correlation_id():
    from central.log_format import plain_formatter

    record = logging.LogRecord("central.x", logging.INFO, __file__, 1, "hello", None, None)
    assert plain_formatter().format(record).endswith("INFO central.x [-] hello")
    record.correlation_id = "corr-9"
    assert plain_formatter().format(record).endswith("INFO central.x [corr-9] hello")


# --- Requests --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_keeps_a_sane_request_id_and_its_records_carry_it(analyst_client, analyst):
    with configured_console() as output:
        response = analyst_client.get("/api/credentials/", headers={"X-Request-ID": "abc123"})
        missing = analyst_client.get("/api/no-such-endpoint/", headers={"X-Request-ID": "abc124"})

    assert response.status_code == 200 and missing.status_code == 404
    assert response["X-Request-ID"] == "abc123" and missing["X-Request-ID"] == "abc124"
    lines = json_lines(output.getvalue())
    [access] = [r for r in lines if r["logger"] == "central.request" and r["status"] == 200]
    assert access["correlation_id"] == "abc123"
    assert access["message"] == "GET /api/credentials/ 200"
    assert (access["method"], access["path"], access["user_id"]) == (
        "GET",
        "/api/credentials/",
        analyst.pk,
    )
    assert access["duration_ms"] >= 0
    # Django's own record of the 404, written deep inside the request, carries the id.
    [not_found] = [r for r in lines if r["logger"] == "django.request"]
    assert not_found["correlation_id"] == "abc124" and not_found["status"] == 404
    assert not_found["path"] == "/api/no-such-endpoint/"
    assert get_correlation_id() is None  # unbound once the request is answered


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["has spaces", "x" * 129, "semi;colon", "ünïcode", ""], ids=str)
def test_an_unusable_request_id_is_replaced(client, sent):
    with configured_console() as output:
        response = client.get("/accounts/login/", headers={"X-Request-ID": sent})

    assert response.status_code == 200
    generated = response["X-Request-ID"]
    assert GENERATED_ID.fullmatch(generated)
    [access] = [r for r in json_lines(output.getvalue()) if r["logger"] == "central.request"]
    assert access["correlation_id"] == generated
    assert "user_id" not in access  # anonymous


def test_static_files_are_answered_with_an_id_but_not_logged_at_info(client):
    with configured_console() as output:
        response = client.get("/static/css/central.css")
    assert response.status_code == 200
    assert GENERATED_ID.fullmatch(response["X-Request-ID"])
    assert "central.request" not in output.getvalue()


@pytest.mark.django_db
def test_requests_without_an_id_get_distinct_ones(client):
    first = client.get("/accounts/login/")["X-Request-ID"]
    second = client.get("/accounts/login/")["X-Request-ID"]
    assert GENERATED_ID.fullmatch(first) and GENERATED_ID.fullmatch(second)
    assert first != second


@pytest.mark.django_db
def test_a_secret_in_the_url_stays_out_of_the_request_log(client):
    with configured_console() as output:
        client.get("/accounts/reset/MQ/c0ffee-5ecret-t0ken/?api_key=LEAKED-KEY")

    text = output.getvalue()
    assert "c0ffee-5ecret-t0ken" not in text and "LEAKED-KEY" not in text
    [access] = [r for r in json_lines(text) if r["logger"] == "central.request"]
    assert access["path"] == "/accounts/reset/MQ/***/"
    assert access["message"].startswith("GET /accounts/reset/MQ/***/?api_key=***")


def test_the_id_is_kept_under_asgi():
    """Django's async request path (as under daphne): the middleware runs as a coroutine
    and the id it binds reaches the records written in the sync view's thread."""
    with configured_console() as output:
        response = asyncio.run(
            AsyncClient().get("/api/no-such-endpoint/", headers={"X-Request-ID": "asgi-1"})
        )
    assert response.status_code == 404 and response["X-Request-ID"] == "asgi-1"
    lines = json_lines(output.getvalue())
    assert {r["logger"] for r in lines} >= {"django.request", "central.request"}
    assert {r["correlation_id"] for r in lines} == {"asgi-1"}


def test_a_websocket_connection_gets_its_own_id():
    seen = []

    async def consumer(scope, receive, send):
        seen.append((scope["correlation_id"], get_correlation_id()))

    middleware = CorrelationIdASGIMiddleware(consumer)
    sent = {"type": "websocket", "path": "/ws/x/", "headers": [(b"x-request-id", b"ws-42")]}
    asyncio.run(middleware(sent, None, None))
    asyncio.run(middleware({**sent, "headers": [(b"x-request-id", b"bad id")]}, None, None))

    assert seen[0] == ("ws-42", "ws-42")
    assert GENERATED_ID.fullmatch(seen[1][0]) and seen[1][0] == seen[1][1]
    assert get_correlation_id() is None


# --- Celery ----------------------------------------------------------------------------------


def test_a_published_task_carries_the_bound_id_in_its_headers():
    inside: dict = {}
    outside: dict = {}
    with bound("corr-7"):
        correlation._add_correlation_header(headers=inside)
    correlation._add_correlation_header(headers=outside)
    assert inside == {TASK_HEADER: "corr-7"} and outside == {}


def worker_log_lines(correlation_id: str, *finished_tasks: str) -> list[dict]:
    """The session worker's JSON lines with this correlation id, once each named task's
    "succeeded" line is among them (the worker writes it just after the result)."""
    path = Path(os.environ.get("CENTRAL_TEST_ARTIFACTS", BASE_DIR / "test-artifacts"))
    path /= "celery-worker.log"
    deadline = time.monotonic() + 20
    while True:
        text = path.read_text(errors="replace").replace("\x00", "")
        records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        ours = [r for r in records if r.get("correlation_id") == correlation_id]
        succeeded = {r.get("task_name") for r in ours if "succeeded" in r["message"]}
        if succeeded >= set(finished_tasks):
            return ours
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no JSON lines with correlation_id {correlation_id} saying {finished_tasks} "
                f"succeeded in {path} ({len(records)} JSON lines; is it this run's worker?)"
            )
        time.sleep(0.2)


def token_client(user) -> APIClient:
    """Token authentication, so the acting user also travels to the worker."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_request_id_follows_the_request_into_the_worker(celery_worker, analyst):
    store_candles("BTCUSDT", "1h", count=400, seed=5)
    client = token_client(analyst)
    request_id = f"test-{uuid.uuid4().hex}"

    response = client.post(
        "/api/backtests/",
        {"symbol": "BTCUSDT", "timeframe": "1h", "template": "sma_cross"},
        format="json",
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 202, response.content
    assert response["X-Request-ID"] == request_id
    deadline = time.monotonic() + 60
    while Backtest.objects.get(pk=response.json()["id"]).status not in FINAL_STATUSES:
        assert time.monotonic() < deadline, "the worker did not finish the backtest"
        time.sleep(0.1)

    assert Backtest.objects.get(pk=response.json()["id"]).status == RunStatus.COMPLETED
    lines = worker_log_lines(request_id, "backtest.tasks.run_backtest")
    task_ids = {r["task_id"] for r in lines}
    assert len(task_ids) == 1 and task_ids != {None}
    for record in lines:
        assert record["task_name"] == "backtest.tasks.run_backtest"
        assert record["user_id"] == analyst.pk  # the acting user's header, too
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", record["timestamp"])
    # Celery's own logger wrote it, through Central's handler and formatter.
    [succeeded] = [r for r in lines if "succeeded" in r["message"]]
    assert succeeded["logger"] == "celery.app.trace" and succeeded["level"] == "INFO"


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_tasks_started_by_tasks_keep_the_id(celery_worker, analyst):
    """A sweep is a chord: the worker that finishes the last cell sends the callback."""
    store_candles("BTCUSDT", "1h", count=400, seed=6)
    request_id = f"test-{uuid.uuid4().hex}"
    response = token_client(analyst).post(
        "/api/sweeps/",
        {
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "template": "sma_cross",
            "grid": {"fast": [5, 8], "slow": [30]},
        },
        format="json",
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 202, response.content
    deadline = time.monotonic() + 90
    while Sweep.objects.get(pk=response.json()["id"]).status not in FINAL_STATUSES:
        assert time.monotonic() < deadline, "the worker did not finish the sweep"
        time.sleep(0.2)

    lines = worker_log_lines(
        request_id, "backtest.tasks.run_backtest", "backtest.tasks.finish_sweep"
    )
    tasks = {(r["task_name"], r["task_id"]) for r in lines if "succeeded" in r["message"]}
    assert sorted(name for name, _ in tasks) == [
        "backtest.tasks.finish_sweep",
        "backtest.tasks.run_backtest",
        "backtest.tasks.run_backtest",
    ]
