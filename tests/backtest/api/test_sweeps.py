"""Sweep API: a grid becomes one queued backtest per cell; cells are ranked by a metric."""

from __future__ import annotations

from decimal import Decimal

import pytest
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from backtest.api.permissions import CanManageSweep
from backtest.models import Backtest, PerformanceSummary, RunStatus, Sweep

pytestmark = pytest.mark.django_db

LIST = "/api/sweeps/"
GRID = {"fast": [5, 10], "slow": [20, 30]}


def url(sweep: Sweep | int, action: str = "") -> str:
    return f"/api/sweeps/{getattr(sweep, 'pk', sweep)}/{action}"


@pytest.fixture
def strategy(analyst, make_strategy):
    return make_strategy(analyst)


@pytest.fixture
def sweep_body(strategy, candles) -> dict:
    return {
        "strategy": strategy.pk,
        "name": "windows",
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "grid": GRID,
        "options": {"fee": 0.002},
    }


@pytest.fixture
def sweep(analyst_client, sweep_body) -> Sweep:
    response = analyst_client.post(LIST, sweep_body, format="json")
    assert response.status_code == 202, response.json()
    return Sweep.objects.get(pk=response.json()["id"])


def cells(sweep: Sweep) -> list[Backtest]:
    return list(sweep.backtests.order_by("id"))


def test_post_creates_one_queued_backtest_per_cell(
    analyst_client, sweep_body, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = analyst_client.post(LIST, sweep_body, format="json")

    assert response.status_code == 202, response.json()
    assert len(callbacks) == 1  # the chord of the cells is sent once the rows are committed
    body = response.json()
    sweep = Sweep.objects.get()
    assert body["id"] == sweep.pk
    assert response["Location"] == body["url"] == f"http://testserver/api/sweeps/{sweep.pk}/"
    assert (body["status"], body["cell_count"], body["progress"]) == ("queued", 4, 0.0)
    assert body["counts"] == {
        "pending": 0,
        "queued": 4,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert (body["name"], body["rank_metric"], body["grid"]) == ("windows", "sharpe_ratio", GRID)
    assert body["owner"] == "ana"
    runs = cells(sweep)
    assert [run.parameters["parameters"] for run in runs] == [
        {"fast": 5, "slow": 20},
        {"fast": 5, "slow": 30},
        {"fast": 10, "slow": 20},
        {"fast": 10, "slow": 30},
    ]
    assert {run.parameters["fee"] for run in runs} == {0.002}
    assert {run.status for run in runs} == {RunStatus.QUEUED}
    assert [cell["backtest"] for cell in body["ranking"]] == [run.pk for run in runs]
    assert body["ranking"][0] == {
        "rank": None,
        "backtest": runs[0].pk,
        "url": f"http://testserver/api/backtests/{runs[0].pk}/",
        "parameters": {"fast": 5, "slow": 20},
        "status": "queued",
        "value": None,
        "total_pnl_percentage": None,
        "sharpe_ratio": None,
        "max_drawdown_percentage": None,
        "total_trades": None,
    }


def test_post_with_a_template(analyst_client, candles):
    body = {
        "template": "sma_cross",
        "params": {"slow": 40},
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "grid": {"fast": [3, 6, 9]},
        "rank_metric": "total_pnl",
    }
    response = analyst_client.post(LIST, body, format="json")
    assert response.status_code == 202, response.json()
    sweep = Sweep.objects.get()
    assert sweep.strategy is None and sweep.rank_metric == "total_pnl"
    assert [run.parameters["parameters"] for run in cells(sweep)] == [
        {"fast": 3, "slow": 40},
        {"fast": 6, "slow": 40},
        {"fast": 9, "slow": 40},
    ]


def test_post_reports_grid_problems_and_writes_nothing(analyst_client, sweep_body):
    sweep_body["grid"] = {"fast": [5, 5, "x"], "speed": [1]}
    sweep_body["rank_metric"] = "luck"

    response = analyst_client.post(LIST, sweep_body, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert {"grid.fast[1]", "grid.fast[2]", "grid.speed", "rank_metric"} <= set(errors)
    assert errors["rank_metric"][0].startswith("unknown metric 'luck'; use one of")
    assert not Sweep.objects.exists() and not Backtest.objects.exists()


@pytest.mark.parametrize("grid", [{}, [5, 10], "fast"])
def test_post_with_a_grid_that_is_not_a_mapping(analyst_client, sweep_body, grid):
    sweep_body["grid"] = grid
    response = analyst_client.post(LIST, sweep_body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["grid"]


def test_post_needs_the_add_permission_and_a_user(viewer_client, anon_client, sweep_body):
    assert viewer_client.post(LIST, sweep_body, format="json").status_code == 403
    assert anon_client.post(LIST, sweep_body, format="json").status_code == 401
    assert anon_client.get(LIST).status_code == 401
    assert not Sweep.objects.exists()


# --- ranking -------------------------------------------------------------------------


def finish(backtest: Backtest, **metrics: float | int | None) -> None:
    """A completed cell with the given metrics (the columns where the model has them)."""
    columns = {
        name: Decimal(str(value))
        for name, value in metrics.items()
        if name in {"sharpe_ratio", "max_drawdown_percentage", "total_pnl_percentage"}
        and value is not None
    }
    PerformanceSummary.objects.create(
        backtest=backtest,
        total_trades=metrics.get("total_trades", 3),
        winning_trades=1,
        losing_trades=2,
        metrics={"total_trades": 3, **metrics},
        **columns,
    )
    Backtest.objects.filter(pk=backtest.pk).update(status=RunStatus.COMPLETED)


@pytest.fixture
def ranked_sweep(sweep) -> tuple[Sweep, list[Backtest]]:
    runs = cells(sweep)
    finish(runs[0], sharpe_ratio=1.5, max_drawdown_percentage=12.0, total_pnl_percentage=8.0)
    finish(runs[1], sharpe_ratio=None, max_drawdown_percentage=3.0, total_pnl_percentage=0.5)
    finish(runs[2], sharpe_ratio=-0.2, max_drawdown_percentage=20.0, total_pnl_percentage=-4.0)
    # runs[3] is still queued: no summary
    return sweep, runs


def test_ranking_best_first_cells_without_a_value_last(ranked_sweep, analyst_client):
    sweep, runs = ranked_sweep

    body = analyst_client.get(url(sweep)).json()

    ranking = body["ranking"]
    assert [(cell["backtest"], cell["rank"], cell["value"]) for cell in ranking] == [
        (runs[0].pk, 1, 1.5),
        (runs[2].pk, 2, -0.2),
        (runs[1].pk, None, None),
        (runs[3].pk, None, None),
    ]
    assert ranking[0]["parameters"] == {"fast": 5, "slow": 20}
    assert ranking[0] | {"url": None} == {
        "rank": 1,
        "backtest": runs[0].pk,
        "url": None,
        "parameters": {"fast": 5, "slow": 20},
        "status": "completed",
        "value": 1.5,
        "total_pnl_percentage": 8.0,
        "sharpe_ratio": 1.5,
        "max_drawdown_percentage": 12.0,
        "total_trades": 3,
    }
    assert ranking[3]["status"] == "queued"
    assert body["counts"]["completed"] == 3
    assert body["progress"] == 75.0


def test_rerank_by_a_metric_where_lower_is_better(ranked_sweep, analyst_client):
    sweep, runs = ranked_sweep
    body = analyst_client.get(url(sweep), {"rank_metric": "max_drawdown_percentage"}).json()
    assert [cell["backtest"] for cell in body["ranking"]] == [
        runs[1].pk,
        runs[0].pk,
        runs[2].pk,
        runs[3].pk,
    ]
    assert [cell["value"] for cell in body["ranking"]] == [3.0, 12.0, 20.0, None]
    assert body["rank_metric"] == "sharpe_ratio"  # the sweep's own is unchanged


def test_rerank_by_a_higher_is_better_metric(ranked_sweep, analyst_client):
    sweep, _ = ranked_sweep
    body = analyst_client.get(url(sweep), {"rank_metric": "total_pnl_percentage"}).json()
    assert [cell["value"] for cell in body["ranking"]] == [8.0, 0.5, -4.0, None]


def test_rerank_by_an_unknown_metric_is_a_400(ranked_sweep, analyst_client):
    sweep, _ = ranked_sweep
    response = analyst_client.get(url(sweep), {"rank_metric": "luck"})
    assert response.status_code == 400
    assert list(response.json()) == ["rank_metric"]


def test_list_with_filters_and_progress(ranked_sweep, analyst_client):
    sweep, runs = ranked_sweep
    Backtest.objects.filter(pk=runs[3].pk).update(status=RunStatus.FAILED)

    body = analyst_client.get(LIST).json()
    assert body["count"] == 1
    listed = body["results"][0]
    assert (listed["id"], listed["progress"]) == (sweep.pk, 100.0)
    assert listed["counts"]["failed"] == 1
    assert "ranking" not in listed  # the detail ranks; a list page stays light
    assert analyst_client.get(LIST, {"status": "completed"}).json()["count"] == 0
    assert analyst_client.get(LIST, {"status": "queued", "symbol": "btc/usdt"}).json()["count"] == 1
    assert analyst_client.get(LIST, {"timeframe": "4h"}).json()["count"] == 0
    assert analyst_client.get(LIST, {"status": "asleep"}).status_code == 400


# --- visibility and cancel -----------------------------------------------------------


@pytest.fixture
def bob_client(make_user):
    client = APIClient()
    client.force_authenticate(make_user("bob", role="analyst"))
    return client


def test_another_users_sweep_is_404(sweep, bob_client):
    assert bob_client.get(url(sweep)).status_code == 404
    assert bob_client.post(url(sweep, "cancel/")).status_code == 404
    assert bob_client.get(LIST).json()["count"] == 0
    assert bob_client.get(f"/api/backtests/{cells(sweep)[0].pk}/").status_code == 404


def test_shared_sweep_and_its_cells_are_readable_not_cancellable(sweep, bob_client):
    from django.contrib.auth import get_user_model

    assign_perm("view_sweep", get_user_model().objects.get(username="bob"), sweep)

    assert bob_client.get(url(sweep)).json()["cell_count"] == 4
    assert bob_client.get(f"/api/backtests/{cells(sweep)[0].pk}/").status_code == 200
    assert bob_client.get("/api/backtests/", {"sweep": sweep.pk}).json()["count"] == 4
    response = bob_client.post(url(sweep, "cancel/"))
    assert response.status_code == 403
    assert response.json() == {"detail": CanManageSweep.message}
    sweep.refresh_from_db()
    assert sweep.status == RunStatus.QUEUED


def test_cancel_cancels_every_unfinished_cell(ranked_sweep, analyst_client):
    sweep, runs = ranked_sweep

    response = analyst_client.post(url(sweep, "cancel/"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["counts"]["cancelled"] == 1 and body["counts"]["completed"] == 3
    assert Backtest.objects.get(pk=runs[3].pk).status == RunStatus.CANCELLED
    again = analyst_client.post(url(sweep, "cancel/"))
    assert again.status_code == 409
    assert again.json() == {"detail": f"sweep #{sweep.pk} has already finished (cancelled)"}
