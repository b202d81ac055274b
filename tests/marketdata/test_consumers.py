"""Sync-run progress over WebSocket, through the real Redis channel layer."""

from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from central.routing import websocket_urlpatterns
from marketdata.models import SyncRun
from marketdata.progress import publish_sync_progress
from marketdata.services import get_or_create_symbol


def _as(user, application):
    async def app(scope, receive, send):
        return await application({**scope, "user": user}, receive, send)

    return app


@pytest.fixture
def run(transactional_db):
    return SyncRun.objects.create(
        symbol=get_or_create_symbol("BTCUSDT"),
        timeframe="1h",
        start=datetime(2024, 1, 1, tzinfo=UTC),
    )


async def _connect(user, path):
    communicator = WebsocketCommunicator(_as(user, URLRouter(websocket_urlpatterns)), path)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def test_operator_gets_the_snapshot_then_published_progress(operator, run):
    async def scenario():
        path = f"/ws/market-data/sync-runs/{run.pk}/"
        communicator, connected, _ = await _connect(operator, path)
        assert connected
        snapshot = await communicator.receive_json_from(timeout=5)
        assert snapshot["id"] == run.pk and snapshot["status"] == "pending"
        from asgiref.sync import sync_to_async

        await sync_to_async(publish_sync_progress)(
            run.pk, {"id": run.pk, "status": "running", "rows_inserted": 1000}
        )
        update = await communicator.receive_json_from(timeout=5)
        assert update == {"id": run.pk, "status": "running", "rows_inserted": 1000}
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_users_without_the_sync_permission_are_refused(analyst, run):
    async def scenario():
        _, connected, code = await _connect(analyst, f"/ws/market-data/sync-runs/{run.pk}/")
        assert not connected and code == 4403

    async_to_sync(scenario)()


def test_unknown_run_is_refused(operator, run):
    async def scenario():
        _, connected, code = await _connect(operator, f"/ws/market-data/sync-runs/{run.pk + 99}/")
        assert not connected and code == 4404

    async_to_sync(scenario)()
