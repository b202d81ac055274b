"""`manage.py seed_demo`: what `make run` gives a fresh platform, idempotently."""

from io import StringIO

import pytest
from django.core.management import call_command

from backtest.models import Backtest, RunStatus, Strategy, Trade
from backtest.strategy_templates import TEMPLATES
from marketdata.models import CandleSeries

pytestmark = pytest.mark.django_db


def test_seed_demo_gives_users_candles_strategies_and_a_finished_backtest():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "demo analyst" in out.getvalue()
    assert CandleSeries.objects.filter(candle_count__gt=0).count() == 3
    strategies = Strategy.objects.filter(owner__username="analyst")
    assert strategies.count() == len(TEMPLATES)
    backtest = Backtest.objects.get(owner__username="analyst")
    assert backtest.status == RunStatus.COMPLETED and backtest.performance_summary
    assert Trade.objects.filter(backtest=backtest).exists()

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert Strategy.objects.count() == len(TEMPLATES)
    assert Backtest.objects.count() == 1
    assert "0 new" in again.getvalue() and "exists" in again.getvalue()
