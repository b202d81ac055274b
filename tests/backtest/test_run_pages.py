"""The backtest run pages and the dashboard through Django's test client: sign-in,
visibility (another user's run is 404), the controls each role gets, queue positions,
and the data the pages hand to their scripts."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from backtest import services
from backtest.execution import execute_backtest
from backtest.models import Backtest, RunStatus, Strategy
from backtest.selectors import queue_positions
from marketdata.services import import_candles
from tests.backtest.api.conftest import sine_klines, sma_cross_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def candles() -> None:
    import_candles(io.BytesIO(sine_klines()), symbol="BTCUSDT", timeframe="1h")


def make_strategy(owner, name: str = "SMA cross") -> Strategy:
    return services.create_strategy(owner, name=name, **sma_cross_definition())


def queue(owner, strategy: Strategy | None = None, **request) -> Backtest:
    """A queued run (tests do not run on-commit callbacks: no worker is reached)."""
    strategy = strategy or make_strategy(owner, name=f"SMA {Strategy.objects.count()}")
    return services.submit_backtest(
        owner,
        services.BacktestRequest(strategy=strategy, symbol="BTCUSDT", timeframe="1h", **request),
    )


def complete(owner, **request) -> Backtest:
    backtest = queue(owner, **request)
    execute_backtest(backtest.pk, respect_user_limit=False)
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.COMPLETED, backtest.error
    return backtest


def page_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="page-data" type="application/json">') + len(
        '<script id="page-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_pages_need_sign_in(client, analyst, candles):
    run = queue(analyst)
    for path in ("/backtests/", "/backtests/new/", f"/backtests/{run.pk}/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/login/"), path


def test_another_users_run_is_404_on_its_page_and_as_a_template(
    client, analyst, make_user, candles
):
    run = queue(analyst)
    client.force_login(make_user("bob", role="analyst"))
    assert client.get(f"/backtests/{run.pk}/").status_code == 404
    assert client.get(f"/backtests/new/?from={run.pk}").status_code == 404
    assert client.get("/backtests/999999/").status_code == 404
    listing = client.get("/backtests/")
    assert listing.status_code == 200 and f'data-row-id="{run.pk}"' not in listing.content.decode()


def test_owner_gets_cancel_rerun_and_sharing(client, analyst, candles):
    run = queue(analyst)
    client.force_login(analyst)
    html = client.get(f"/backtests/{run.pk}/").content.decode()
    assert 'data-status="queued"' in html
    assert "data-cancel" in html and "data-rerun" in html and "data-share-panel" in html
    assert f"/backtests/new/?from={run.pk}" in html
    assert f"/api/backtests/{run.pk}/shares/" in html


def test_viewer_of_a_shared_run_sees_no_controls(client, analyst, viewer, candles):
    run = complete(analyst)
    assign_perm("view_backtest", viewer, run)
    client.force_login(viewer)
    response = client.get(f"/backtests/{run.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-status="completed"' in html
    for control in ("data-cancel", "data-rerun", "data-share-panel", "share.js"):
        assert control not in html, control
    assert f"/api/backtests/{run.pk}/report.csv" in html
    # And the viewer may not run one: the form is replaced by an explanation.
    new = client.get("/backtests/new/").content.decode()
    assert "data-cannot-run" in new and 'id="backtest-form"' not in new


def test_queue_positions_count_every_users_earlier_waiting_runs(analyst, make_user, candles):
    bob = make_user("bob", role="analyst")
    now = timezone.now()
    first, second, third = queue(analyst), queue(bob), queue(analyst)
    for minutes, run in ((3, first), (2, second), (1, third)):
        Backtest.objects.filter(pk=run.pk).update(queued_at=now - timedelta(minutes=minutes))
    running = queue(bob)
    Backtest.objects.filter(pk=running.pk).update(
        status=RunStatus.RUNNING, queued_at=now - timedelta(minutes=10)
    )
    runs = list(Backtest.objects.filter(pk__in=[first.pk, second.pk, third.pk, running.pk]))
    assert queue_positions(runs) == {first.pk: 1, second.pk: 2, third.pk: 3}


def test_pages_show_the_queue_position(client, analyst, make_user, candles):
    bob = make_user("bob", role="analyst")
    now = timezone.now()
    ahead, mine = queue(bob), queue(analyst)
    Backtest.objects.filter(pk=ahead.pk).update(queued_at=now - timedelta(minutes=2))
    Backtest.objects.filter(pk=mine.pk).update(queued_at=now - timedelta(minutes=1))
    client.force_login(analyst)
    assert "#2 in the queue" in client.get(f"/backtests/{mine.pk}/").content.decode()
    assert "#2 in the queue" in client.get("/").content.decode()
    assert "#2 in queue" in client.get("/backtests/").content.decode()


def test_result_page_delivers_the_rule_indicators_for_the_chart(client, analyst, candles):
    run = complete(analyst, start=None, end=None)
    client.force_login(analyst)
    data = page_data(client.get(f"/backtests/{run.pk}/"))
    assert (data["id"], data["status"], data["symbol"], data["timeframe"]) == (
        run.pk,
        "completed",
        "BTCUSDT",
        "1h",
    )
    labels = [overlay["label"] for overlay in data["overlays"]]
    assert labels == ["sma(window=5)", "sma(window=20)"]
    assert {overlay["pane"] for overlay in data["overlays"]} == {"price"}
    fast = data["overlays"][0]["points"]
    # 500 bars, the first 4 are warm-up; the first value is the mean of closes 0..4.
    assert len(fast) == 496 and fast[0][0] == "2024-01-01T04:00:00Z"


def test_new_page_preselects_a_strategy_and_copies_a_run(client, analyst, candles):
    strategy = make_strategy(analyst, name="Mine")
    client.force_login(analyst)
    html = client.get(f"/backtests/new/?strategy={strategy.pk}").content.decode()
    assert f'<option value="{strategy.pk}" selected>Mine</option>' in html
    start = datetime(2024, 1, 2, tzinfo=UTC)
    run = queue(analyst, strategy=strategy, start=start, parameters={"fast": 8})
    prefill = page_data(client.get(f"/backtests/new/?from={run.pk}"))["prefill"]
    assert prefill["from"] == run.pk and prefill["strategy"] == strategy.pk
    assert prefill["start"] == "2024-01-02T00:00:00Z" and prefill["end"] is None
    assert prefill["parameters"] == {"fast": 8, "slow": 20}
    assert prefill["options"]["cash"] == 10000 and prefill["options"]["direction"] == "long"


def test_list_shows_visible_runs_with_metrics_and_filters_by_status(client, analyst, candles):
    done, waiting = complete(analyst), queue(analyst)
    client.force_login(analyst)
    html = client.get("/backtests/").content.decode()
    assert f'data-row-id="{done.pk}" data-status="completed"' in html
    assert f'data-row-id="{waiting.pk}" data-status="queued"' in html
    assert 'name="ids"' in html and "data-compare" in html
    only_queued = client.get("/backtests/?status=queued").content.decode()
    assert f'data-row-id="{done.pk}"' not in only_queued


def test_dashboard_lists_recent_runs_with_failures_and_keeps_the_landing(client, analyst, candles):
    failed = queue(analyst)
    Backtest.objects.filter(pk=failed.pk).update(status=RunStatus.FAILED, error="boom: no data")
    anonymous = client.get("/").content.decode()
    assert "data-dashboard-runs" not in anonymous and "/accounts/login/" in anonymous
    client.force_login(analyst)
    html = client.get("/").content.decode()
    assert f'data-run-row="{failed.pk}" data-status="failed"' in html
    assert "boom: no data" in html
