"""Replays API: starting runs (filters, one transaction), results, cancel, shares, who
may do what, the OpenAPI schema, and live progress from a real worker over WebSocket."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from unittest import mock

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import sharing
from audit.models import SecurityAction, SecurityEvent
from backtest.models import RunStatus
from replay import runs
from replay.models import ImportBatch, ReplayRun
from tests.replay.replay_helpers import at, flat_candles, make_fills, store_candles
from tests.ws import close_code, connect

LIST = "/api/replays/"


def url(run: ReplayRun | int, action: str = "") -> str:
    return f"/api/replays/{getattr(run, 'pk', run)}/{action}"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def btc_data(owner) -> list:
    """Three minutes of BTCUSDT with 00:02 missing; three fills, one in the gap."""
    store_candles(
        "BTCUSDT",
        [
            (at(0), 100.0, 110.0, 90.0, 105.0),
            (at(1), 105.0, 112.0, 104.0, 111.0),
            (at(3), 111.0, 115.0, 108.0, 113.0),
        ],
    )
    return make_fills(
        owner,
        [
            {"time": at(0.5), "side": "buy", "price": 106, "quantity": 1},
            {"time": at(1), "side": "sell", "price": 112, "quantity": 0.5},
            {"time": at(2.5), "side": "buy", "price": 107, "quantity": 1},
        ],
    )


def post_replay(client, body):
    """POST with the task's sending replaced (no worker here): returns the response."""
    with mock.patch("replay.replay_tasks.run_replay.delay") as delay:
        delay.return_value.id = "task-1"
        response = client.post(LIST, body, format="json")
    return response


# --- starting and reading --------------------------------------------------------------


@pytest.mark.django_db
def test_an_analyst_replays_and_reads_the_results(
    analyst, analyst_client, django_capture_on_commit_callbacks
):
    buy, _, in_gap = btc_data(analyst)
    body = {"symbol": "btc/usdt", "timeframe": "1m", "fill": "open", "start": "2024-01-01"}
    with (
        mock.patch("replay.replay_tasks.run_replay.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        delay.return_value.id = "task-7"
        response = analyst_client.post(LIST, body, format="json")
    assert response.status_code == 202, response.json()
    run = ReplayRun.objects.get()
    delay.assert_called_once_with(run.pk)
    data = response.json()
    assert data["url"] == f"http://testserver/api/replays/{run.pk}/"
    assert response["Location"] == data["url"]
    assert (data["status"], data["symbol"], data["fill"], data["source"]) == (
        "queued",
        "BTCUSDT",
        "open",
        "binance",
    )
    assert data["transaction_count"] == 3
    assert data["links"]["ws"] == f"/ws/replays/{run.pk}/"
    assert ReplayRun.objects.get().task_id == "task-7"

    runs.execute_replay(run.pk)  # what the worker does
    detail = analyst_client.get(url(run)).json()
    assert detail["status"] == "completed" and detail["progress"] == 100
    assert detail["summary"]["completed"] == 2 and detail["summary"]["failed"] == 1
    assert detail["executions_truncated"] is False
    first, second, third = detail["executions"]
    assert first["transaction"] == buy.pk and first["status"] == "completed"
    assert (first["replay_price"], first["slippage"], first["value_difference"]) == (
        "100",
        "6",
        "6",
    )  # bought at 106 against the open, 100
    assert first["candle"] == {"open": 100.0, "high": 110.0, "low": 90.0, "close": 105.0}
    assert first["candle_time"] == "2024-01-01T00:00:00Z"
    assert (first["side"], first["price"], first["quantity"]) == ("buy", "106", "1")
    assert second["slippage"] == "-7"  # sold at 112 against an open of 105: 7 better
    assert third["status"] == "failed" and third["replay_price"] is None
    assert third["error"] == "no candle for 2024-01-01T00:02:30Z"

    failed = analyst_client.get(url(run, "executions/") + "?status=failed").json()
    assert failed["count"] == 1 and failed["results"][0]["transaction"] == in_gap.pk
    page = analyst_client.get(url(run, "executions/") + "?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    listed = analyst_client.get(LIST + "?symbol=btcusdt&status=completed").json()
    assert [item["id"] for item in listed["results"]] == [run.pk]
    assert analyst_client.get(LIST + "?fill=close").json()["count"] == 0


@pytest.mark.django_db
def test_bad_requests_name_each_parameter(analyst, analyst_client, make_user):
    btc_data(analyst)
    (theirs,) = make_fills(
        make_user("olga", role="analyst"),
        [{"time": at(0), "side": "buy", "price": 1, "quantity": 1}],
    )
    response = post_replay(
        analyst_client,
        {
            "timeframe": "7m",
            "transaction_ids": [theirs.pk],
            "start": "2024-01-02",
            "end": "2024-01-01",
        },
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"timeframe", "transaction_ids", "end"}
    assert errors["transaction_ids"] == [f"not transactions of yours: #{theirs.pk}"]
    assert errors["end"] == ["must be after start"]
    response = post_replay(analyst_client, {"end": "soon"})
    assert response.status_code == 400 and set(response.json()) == {"end"}
    response = post_replay(analyst_client, {"fill": "mid"})
    assert response.status_code == 400 and set(response.json()) == {"fill"}
    response = post_replay(analyst_client, {"symbol": "ETHUSDT"})
    assert response.json() == {"symbol": ["you have no transactions in ETHUSDT"]}
    assert not ReplayRun.objects.exists()


@pytest.mark.django_db
def test_a_large_run_lists_its_first_executions_and_pages_the_rest(analyst, analyst_client):
    flat_candles("BTCUSDT", at(0), 200, 50.0)
    make_fills(
        analyst, [{"time": at(k), "side": "buy", "price": 50, "quantity": 1} for k in range(150)]
    )
    run = runs.create_replay(analyst, runs.ReplayRequest())
    runs.execute_replay(run.pk)
    detail = analyst_client.get(url(run)).json()
    assert len(detail["executions"]) == 100 and detail["executions_truncated"] is True
    times = [e["transaction_time"] for e in detail["executions"]]
    assert times == sorted(times)
    rest = analyst_client.get(url(run, "executions/") + "?page=2").json()
    assert rest["count"] == 150 and len(rest["results"]) == 50


@pytest.mark.django_db
def test_replaying_one_transaction(analyst, analyst_client, make_user):
    buy, _, _ = btc_data(analyst)
    with mock.patch("replay.replay_tasks.run_replay.delay") as delay:
        delay.return_value.id = "task-1"
        response = analyst_client.post(
            f"/api/transactions/history/{buy.pk}/replay/",
            {"timeframe": "1m", "fill": "worst"},
            format="json",
        )
    assert response.status_code == 202, response.json()
    data = response.json()
    assert data["transaction_ids"] == [buy.pk] and data["transaction_count"] == 1
    assert (data["symbol"], data["fill"], data["status"]) == ("BTCUSDT", "worst", "queued")
    runs.execute_replay(data["id"])
    (execution,) = analyst_client.get(url(data["id"])).json()["executions"]
    assert execution["replay_price"] == "110" and execution["slippage"] == "-4"
    event = SecurityEvent.objects.get(action=SecurityAction.REPLAY_LAUNCHED)
    assert event.actor == analyst and event.ip == "127.0.0.1"
    assert event.detail["transactions"] == 1


@pytest.mark.django_db
def test_a_transaction_seen_through_a_shared_import_is_not_the_viewer_s_to_replay(
    analyst, make_user
):
    batch = ImportBatch.objects.create(owner=analyst, format="generic")
    (fill,) = make_fills(analyst, [{"time": at(0), "side": "buy", "price": 1, "quantity": 1}])
    fill.import_batch = batch
    fill.save()
    colleague = make_user("cole", role="analyst")
    sharing.share(batch, grantee_type="user", grantee="cole", actor=analyst)
    client = client_for(colleague)
    assert client.get(f"/api/transactions/history/{fill.pk}/").status_code == 200
    response = client.post(f"/api/transactions/history/{fill.pk}/replay/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only the transaction's owner may replay it."
    stranger = client_for(make_user("eve", role="analyst"))
    assert stranger.post(f"/api/transactions/history/{fill.pk}/replay/").status_code == 404
    assert not ReplayRun.objects.exists()


@pytest.mark.django_db
def test_cancel_stops_an_unfinished_run_once(analyst, analyst_client, make_user):
    btc_data(analyst)
    run = runs.submit_replay(analyst, runs.ReplayRequest())
    friend = make_user("fred", role="analyst")
    sharing.share(run, grantee_type="user", grantee="fred", actor=analyst)
    assert client_for(friend).post(url(run, "cancel/")).status_code == 403  # a view share
    response = analyst_client.post(url(run, "cancel/"))
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    event = SecurityEvent.objects.get(action=SecurityAction.REPLAY_CANCELLED)
    assert event.actor == analyst and event.target_id == str(run.pk)
    again = analyst_client.post(url(run, "cancel/"))
    assert again.status_code == 409
    assert again.json()["detail"] == f"replay #{run.pk} has already finished (cancelled)"


@pytest.mark.django_db
def test_sharing_a_run_lets_the_colleague_read_it(analyst, analyst_client, viewer):
    btc_data(analyst)
    run = runs.create_replay(analyst, runs.ReplayRequest())
    runs.execute_replay(run.pk)
    viewer_client = client_for(viewer)
    assert viewer_client.get(url(run)).status_code == 404
    response = analyst_client.post(
        url(run, "shares/"), {"grantee": "vic", "permission": "view"}, format="json"
    )
    assert response.status_code == 201
    assert viewer_client.get(url(run)).json()["summary"]["transactions"] == 3
    assert viewer_client.get(LIST).json()["count"] == 1


# --- who may do what -------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # formatted with run, queued, fill
    owner: int
    viewer: int
    stranger: int
    operator: int
    anonymous: int
    body: dict | None = None
    query: str = ""


REPLAY_BODY = {"symbol": "BTCUSDT", "timeframe": "1m", "fill": "close"}
SHARE = {"grantee_type": "user", "grantee": "operator", "permission": "view"}
# fmt: off
MATRIX = (
    #     method    path                                          own  view strg ops  anon
    Case("get",    "/api/replays/",                               200, 200, 200, 200, 401),
    # The stranger and the operator own no transactions: nothing to replay (400).
    Case("post",   "/api/replays/",                               202, 403, 400, 400, 401,
         body=REPLAY_BODY),
    Case("get",    "/api/replays/{run}/",                         200, 200, 404, 200, 401),
    Case("get",    "/api/replays/{run}/executions/",              200, 200, 404, 200, 401),
    Case("post",   "/api/replays/{queued}/cancel/",               200, 403, 404, 200, 401),
    Case("get",    "/api/replays/{run}/shares/",                  200, 403, 404, 200, 401),
    Case("post",   "/api/replays/{run}/shares/",                  201, 403, 404, 201, 401,
         body=SHARE),
    Case("delete", "/api/replays/{run}/shares/",                  204, 403, 404, 204, 401,
         query="grantee_type=user&grantee=viewer"),
    # The owner's fill, in an import shared with the viewer: only its owner replays it.
    Case("post",   "/api/transactions/history/{fill}/replay/",    202, 403, 404, 403, 401,
         body={"fill": "open"}),
)
# fmt: on
ROLES = {"owner": "analyst", "viewer": "viewer", "stranger": "analyst", "operator": "operator"}


@pytest.fixture
def world(make_user) -> dict:
    users = {name: make_user(name, role=role) for name, role in ROLES.items()}
    owner = users["owner"]
    fills = btc_data(owner)
    batch = ImportBatch.objects.create(owner=owner, format="generic")
    fills[0].import_batch = batch
    fills[0].save()
    run = runs.create_replay(owner, runs.ReplayRequest())
    runs.execute_replay(run.pk)
    queued = runs.submit_replay(owner, runs.ReplayRequest())
    for shared in (run, queued, batch):
        sharing.share(shared, grantee_type="user", grantee="viewer", actor=owner)
    return {"users": users, "run": run.pk, "queued": queued.pk, "fill": fills[0].pk}


@pytest.mark.django_db
@pytest.mark.parametrize("who", ("owner", "viewer", "stranger", "operator", "anonymous"))
@pytest.mark.parametrize("case", MATRIX, ids=lambda c: f"{c.method}-{c.path}")
def test_permission_matrix(world, case: Case, who: str):
    client = APIClient()
    if who != "anonymous":
        client.force_authenticate(world["users"][who])
    path = case.path.format(**world)
    if case.query:
        path += "?" + case.query
    with mock.patch("replay.replay_tasks.run_replay.delay"):
        response = getattr(client, case.method)(path, case.body, format="json")
    expected = getattr(case, who)
    assert response.status_code == expected, (
        f"{case.method.upper()} {path} as {who}: {response.content[:300]}"
    )


@pytest.mark.django_db
def test_lists_cost_the_same_queries_whatever_their_length(analyst, operator):
    btc_data(analyst)

    def count_queries(user, path: str) -> tuple[int, int]:
        client = client_for(get_user_model().objects.get(pk=user.pk))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        body = response.json()
        return len(queries), len(body["results"])

    def add_runs(count: int) -> None:
        for _ in range(count):
            run = runs.create_replay(analyst, runs.ReplayRequest())
            runs.execute_replay(run.pk)

    add_runs(2)
    for user in (analyst, operator):
        count_queries(user, LIST)
        small, two = count_queries(user, LIST)
        add_runs(3)
        large, five = count_queries(user, LIST + "?page_size=100")
        assert large == small and five == two + 3
    run = ReplayRun.objects.first()
    count_queries(analyst, url(run, "executions/"))
    assert (
        count_queries(analyst, url(run, "executions/"))[0]
        == count_queries(analyst, url(run, "executions/") + "?page_size=1")[0]
    )


# --- the schema ------------------------------------------------------------------------

REPLAY_PATHS = {
    "/api/replays/": {"get", "post"},
    "/api/replays/{id}/": {"get"},
    "/api/replays/{id}/executions/": {"get"},
    "/api/replays/{id}/cancel/": {"post"},
    "/api/replays/{id}/shares/": {"get", "post", "delete"},
    "/api/transactions/history/{id}/replay/": {"post"},
}


@pytest.mark.django_db
def test_the_schema_describes_every_replay_route_with_errors_and_examples(tmp_path):
    import yaml

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    paths = yaml.safe_load(out.read_text())["paths"]
    for path, methods in REPLAY_PATHS.items():
        assert {m for m in paths[path] if m != "parameters"} == methods, path
        for method in methods:
            codes = set(paths[path][method]["responses"])
            assert "401" in codes, (path, method)
            if "{id}" in path:
                assert "404" in codes, (path, method)
            if method != "get":
                assert "403" in codes, (path, method)
    post = paths["/api/replays/"]["post"]["requestBody"]["content"]["application/json"]
    assert next(iter(post["examples"].values()))["value"]["fill"] == "close"
    detail = paths["/api/replays/{id}/"]["get"]["responses"]["200"]["content"]
    assert "examples" in detail["application/json"]


# --- live progress from a real worker ---------------------------------------------------


@pytest.fixture
def many_fills(transactional_db, analyst):
    flat_candles("BTCUSDT", at(0), 1_000, 100.0)
    make_fills(
        analyst,
        [{"time": at(k % 1000), "side": "buy", "price": 101, "quantity": 1} for k in range(60_000)],
    )
    return analyst


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_replays_and_the_owner_watches_progress_to_100(celery_worker, many_fills):
    run = runs.create_replay(many_fills, runs.ReplayRequest())

    async def watch() -> tuple[list[dict], int]:
        communicator, connected, _ = await connect(many_fills, f"/ws/replays/{run.pk}/")
        assert connected
        snapshot = await communicator.receive_json_from(timeout=5)
        assert snapshot["status"] == "pending" and snapshot["progress"] == 0
        await sync_to_async(runs.enqueue_replay)(run)
        messages = []
        while True:
            output = await communicator.receive_output(timeout=60)
            if output["type"] == "websocket.close":
                return messages, output.get("code", 1000)
            messages.append(json.loads(output["text"]))

    messages, code = async_to_sync(watch)()
    assert code == 1000
    final = messages[-1]
    assert final["status"] == "completed" and final["progress"] == 100
    assert (final["completed"], final["failed"], final["transaction_count"]) == (60_000, 0, 60_000)
    running = [m["progress"] for m in messages if m["status"] == "running"]
    assert len(running) >= 4 and running == sorted(running)
    assert any(5 < p < 100 for p in running)  # progress while it works, not only the ends
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED and run.executions.count() == 60_000


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_run_posted_to_the_api_is_completed_by_the_worker(celery_worker, analyst):
    btc_data(analyst)
    response = client_for(analyst).post(LIST, {"fill": "typical"}, format="json")
    assert response.status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = ReplayRun.objects.get(pk=response.json()["id"])
        if run.status == RunStatus.COMPLETED:
            break
        time.sleep(0.1)
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.task_id and run.summary["completed"] == 2


@pytest.mark.django_db(transaction=True)
def test_only_those_who_see_a_run_may_watch_it(analyst, make_user):
    btc_data(analyst)
    run = runs.create_replay(analyst, runs.ReplayRequest())
    stranger = make_user("eve", role="analyst")
    friend = make_user("bob", role="viewer")
    sharing.share(run, grantee_type="user", grantee="bob", actor=analyst)

    async def scenario():
        communicator, connected, _ = await connect(stranger, f"/ws/replays/{run.pk}/")
        assert connected and await close_code(communicator) == 4403
        communicator, connected, _ = await connect(stranger, "/ws/replays/999999/")
        assert connected and await close_code(communicator) == 4403
        communicator, connected, _ = await connect(friend, f"/ws/replays/{run.pk}/")
        assert (await communicator.receive_json_from(timeout=5))["id"] == run.pk
        await communicator.disconnect()

    async_to_sync(scenario)()
