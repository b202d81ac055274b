"""Sync-run progress over WebSocket, through the real Redis channel layer."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from marketdata.api.serializers import SyncRunSerializer
from marketdata.models import SyncRun
from marketdata.progress import publish_sync_progress
from marketdata.services import get_or_create_symbol
from marketdata.sync import cancel_sync_run, create_manual_run, execute_sync_run
from tests.fakes.fake_binance import make_klines
from tests.ws import close_code, connect


@pytest.fixture
def run(transactional_db):
    return SyncRun.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"),
        timeframe="1h",
        start=datetime(2024, 1, 1, tzinfo=UTC),
    )


def test_operator_gets_the_snapshot_then_published_progress(operator, run):
    async def scenario():
        path = f"/ws/market-data/sync-runs/{run.pk}/"
        communicator, connected, _ = await connect(operator, path)
        assert connected
        snapshot = await communicator.receive_json_from(timeout=5)
        assert snapshot["id"] == run.pk and snapshot["status"] == "pending"
        assert (snapshot["phase"], snapshot["progress"]) == ("pending", 0.0)

        await sync_to_async(publish_sync_progress)(
            run.pk, {"id": run.pk, "status": "running", "rows_inserted": 1000}
        )
        update = await communicator.receive_json_from(timeout=5)
        assert update == {"id": run.pk, "status": "running", "rows_inserted": 1000}
        assert await communicator.receive_nothing(timeout=0.2)  # still open, still listening
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_users_without_the_sync_permission_are_refused_after_the_handshake(analyst, run):
    async def scenario():
        communicator, connected, _ = await connect(analyst, f"/ws/market-data/sync-runs/{run.pk}/")
        # Accepted first, so a browser's close event carries the reason.
        assert connected
        assert await close_code(communicator) == 4403

    async_to_sync(scenario)()


def test_unknown_run_is_refused_after_the_handshake(operator, run):
    async def scenario():
        communicator, connected, _ = await connect(
            operator, f"/ws/market-data/sync-runs/{run.pk + 99}/"
        )
        assert connected
        assert await close_code(communicator) == 4404

    async_to_sync(scenario)()


def test_snapshot_and_updates_have_one_shape_and_the_socket_closes_at_the_end(
    operator, transactional_db, fake_binance, binance_client
):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(minutes=2500)
    fake_binance.load_klines("BTCUSDT", "1m", make_klines("1m", start, end))
    run = create_manual_run("BTCUSDT", "1m", start, end)

    async def scenario():
        communicator, connected, _ = await connect(operator, f"/ws/market-data/sync-runs/{run.pk}/")
        assert connected
        snapshot = await communicator.receive_json_from(timeout=5)
        await sync_to_async(execute_sync_run)(run.pk, client=binance_client())
        updates = []
        while (output := await communicator.receive_output(timeout=5))["type"] != (
            "websocket.close"
        ):
            updates.append(json.loads(output["text"]))
        return snapshot, updates, output.get("code", 1000)

    snapshot, updates, close_code = async_to_sync(scenario)()

    rest_fields = set(SyncRunSerializer.Meta.fields)
    assert set(snapshot) == rest_fields | {"phase", "progress"}
    assert all(set(update) == set(snapshot) for update in updates)
    assert snapshot["start"] == "2024-01-01T00:00:00Z"  # the REST API's format
    assert updates[-1]["status"] == "succeeded" and updates[-1]["finished_at"].endswith("Z")
    progress = [snapshot["progress"]] + [update["progress"] for update in updates]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert close_code == 1000  # the run is over: nothing more will come


def test_a_finished_run_sends_its_snapshot_then_closes(operator, run):
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.FAILED, error="boom")

    async def scenario():
        communicator, connected, _ = await connect(operator, f"/ws/market-data/sync-runs/{run.pk}/")
        assert connected
        snapshot = await communicator.receive_json_from(timeout=5)
        return snapshot, await close_code(communicator)

    snapshot, code = async_to_sync(scenario)()

    assert (snapshot["status"], snapshot["error"]) == ("failed", "boom")
    assert (snapshot["phase"], snapshot["progress"]) == ("finished", 1.0)
    assert code == 1000


def test_a_watcher_gets_the_cancel_as_the_final_message(operator, run):
    path = f"/ws/market-data/sync-runs/{run.pk}/"

    async def scenario():
        communicator, connected, _ = await connect(operator, path)
        assert connected
        snapshot = await communicator.receive_json_from(timeout=5)
        assert await sync_to_async(cancel_sync_run)(run, actor=operator)
        final = await communicator.receive_json_from(timeout=5)
        code = await close_code(communicator)
        # Connecting afterwards: the cancelled state, then the close.
        late, connected, _ = await connect(operator, path)
        assert connected
        late_snapshot = await late.receive_json_from(timeout=5)
        return snapshot, final, code, late_snapshot, await close_code(late)

    snapshot, final, code, late_snapshot, late_code = async_to_sync(scenario)()

    assert snapshot["status"] == "pending"
    assert (final["status"], final["error"]) == ("cancelled", "cancelled by ops")
    assert (final["phase"], final["progress"]) == ("finished", 1.0)
    assert set(final) == set(snapshot) and final["finished_at"].endswith("Z")
    assert code == late_code == 1000
    assert late_snapshot == final
