"""Submitting a sweep: every cell checked, and a few queries whatever its size."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backtest import services
from backtest.models import Backtest, RunStatus

pytestmark = pytest.mark.django_db


def test_a_large_sweep_is_checked_and_stored_in_a_bounded_number_of_queries(
    analyst, hourly_candles, django_capture_on_commit_callbacks
):
    request = services.BacktestRequest(symbol="BTCUSDT", timeframe="1h", template="sma_cross")
    analyst.has_perm("backtest.add_sweep")  # the user's permissions, loaded once
    ContentType.objects.clear_cache()  # both measures start with a cold cache
    with CaptureQueriesContext(connection) as small:
        services.submit_sweep(analyst, request, {"fast": [3, 4]}, rank_metric="sqn")
    grid = {"fast": [3, 4, 5, 6, 7, 8, 9, 10], "slow": [20, 30, 40, 50, 60]}
    ContentType.objects.clear_cache()
    with (
        django_capture_on_commit_callbacks(execute=False) as launches,
        CaptureQueriesContext(connection) as large,
    ):
        sweep = services.submit_sweep(analyst, request, grid, rank_metric="sqn")
    # The same few queries for 40 cells as for 2 (cells, their owner permissions: one
    # insert each; the sweep's change-log entry; the launch event).
    assert len(large) == len(small) <= 15
    assert len(launches) == 1  # one chord, sent after the commit
    cells = Backtest.objects.filter(sweep=sweep)
    assert cells.count() == sweep.cell_count == 40
    assert {cell.status for cell in cells} == {RunStatus.QUEUED}
    assert {
        (c.parameters["parameters"]["fast"], c.parameters["parameters"]["slow"]) for c in cells
    } == {(fast, slow) for fast in grid["fast"] for slow in grid["slow"]}
    assert all(analyst.has_perm("backtest.delete_backtest", cell) for cell in cells)
    assert analyst.has_perm("backtest.change_sweep", sweep)


def test_a_cell_whose_window_outgrows_the_data_is_named_and_nothing_is_stored(
    analyst, hourly_candles
):
    request = services.BacktestRequest(symbol="BTCUSDT", timeframe="1h", template="sma_cross")
    with pytest.raises(services.InvalidBacktestInput) as refused:
        services.submit_sweep(analyst, request, {"slow": [50, 5000]})
    assert "grid cell 1 {'slow': 5000}" in str(refused.value)
    assert "600 bars" in str(refused.value)
    assert not Backtest.objects.exists()
