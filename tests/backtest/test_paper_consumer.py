"""A paper session's live updates over WebSocket, through the real Redis channel layer."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from backtest import paper
from tests.backtest.test_paper_sessions import STORED_FIRST, run_request, store
from tests.ws import close_code, connect


@pytest.fixture
def session(transactional_db, analyst):
    store(0, STORED_FIRST)
    return paper.start_session(analyst, run_request())


def test_the_owner_gets_the_snapshot_then_each_step_then_the_stop(analyst, session):
    async def scenario():
        communicator, connected, _ = await connect(analyst, f"/ws/paper-sessions/{session.pk}/")
        assert connected
        snapshot = await communicator.receive_json_from(timeout=5)
        assert snapshot["id"] == session.pk
        assert (snapshot["status"], snapshot["bars_stepped"]) == ("running", 0)
        assert snapshot["position"]["open_trade"] is None

        await sync_to_async(store)(STORED_FIRST, STORED_FIRST + 40)
        stepped = await sync_to_async(paper.advance_session)(session.pk)
        assert stepped == 40
        update = await communicator.receive_json_from(timeout=5)
        assert update["status"] == "running"
        assert update["bars_stepped"] == 40
        assert update["last_timestamp"].endswith("Z")
        assert isinstance(update["new_trades"], int)
        assert float(update["equity"]) > 0

        await sync_to_async(paper.stop_session)(session, analyst)
        final = await communicator.receive_json_from(timeout=5)
        assert final["status"] == "stopped"
        assert await close_code(communicator) == 1000  # nothing changes any more

    async_to_sync(scenario)()


def test_a_stranger_is_refused(make_user, session):
    stranger = make_user("stranger", "analyst")

    async def scenario():
        communicator, connected, _ = await connect(stranger, f"/ws/paper-sessions/{session.pk}/")
        assert connected  # accepted first, so a browser sees the reason
        assert await close_code(communicator) == 4403

    async_to_sync(scenario)()


def test_an_operator_may_watch_and_an_unknown_id_is_refused(operator, session):
    async def scenario():
        communicator, connected, _ = await connect(operator, f"/ws/paper-sessions/{session.pk}/")
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["id"] == session.pk
        await communicator.disconnect()
        communicator, _, _ = await connect(operator, f"/ws/paper-sessions/{session.pk + 99}/")
        assert await close_code(communicator) == 4403

    async_to_sync(scenario)()
