"""Changes to strategies through the API enter the audit trail with their actor."""

import pytest
from auditlog.models import LogEntry
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backtest.models import Strategy
from tests.backtest.api.conftest import sma_cross_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_client(analyst) -> APIClient:
    """Authenticated by a real token header, as integrators are."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=analyst).key}")
    return client


def test_strategy_create_update_and_delete_are_audited(analyst, token_client):
    created = token_client.post(
        "/api/strategies/", {"name": "audited", **sma_cross_definition()}, format="json"
    )
    assert created.status_code == 201, created.content
    strategy = Strategy.objects.get(pk=created.json()["id"])
    changed = token_client.patch(
        f"/api/strategies/{strategy.pk}/", {"description": "tuned"}, format="json"
    )
    assert changed.status_code == 200
    assert token_client.delete(f"/api/strategies/{strategy.pk}/").status_code == 204

    entries = LogEntry.objects.filter(object_pk=str(strategy.pk), content_type__model="strategy")
    actions = sorted(entries.values_list("action", flat=True))
    assert actions == [LogEntry.Action.CREATE, LogEntry.Action.UPDATE, LogEntry.Action.DELETE]
    assert {entry.actor for entry in entries} == {analyst}
    update = entries.get(action=LogEntry.Action.UPDATE)
    assert update.changes_dict["description"] == ["", "tuned"]


def test_launching_and_cancelling_runs_are_security_events(
    analyst, operator, analyst_client, make_strategy, candles
):
    from audit.models import SecurityAction, SecurityEvent

    strategy = make_strategy(analyst, name="audited run")
    response = analyst_client.post(
        "/api/backtests/",
        {"strategy": strategy.pk, "symbol": "BTCUSDT", "timeframe": "1h"},
        format="json",
        HTTP_USER_AGENT="pytest",
    )
    assert response.status_code == 202, response.content
    backtest_id = response.json()["id"]
    launched = SecurityEvent.objects.get(action=SecurityAction.BACKTEST_LAUNCHED)
    assert (launched.actor, launched.target_type, launched.target_id) == (
        analyst,
        "backtest.backtest",
        str(backtest_id),
    )
    assert launched.detail == {"symbol": "BTCUSDT", "timeframe": "1h"}

    operator_client = APIClient()
    operator_client.force_authenticate(operator)
    assert operator_client.post(f"/api/backtests/{backtest_id}/cancel/").status_code == 200
    cancelled = SecurityEvent.objects.get(action=SecurityAction.BACKTEST_CANCELLED)
    assert (cancelled.actor, cancelled.target_id) == (operator, str(backtest_id))
    # a second cancel changes nothing and records nothing
    assert operator_client.post(f"/api/backtests/{backtest_id}/cancel/").status_code == 409
    assert SecurityEvent.objects.filter(action=SecurityAction.BACKTEST_CANCELLED).count() == 1
