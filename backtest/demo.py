"""Demo research for `make run`: the analyst's copies of the templates and one finished
backtest to open. Idempotent: a second run changes nothing."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from backtest import services
from backtest.execution import execute_backtest
from backtest.models import Backtest, Strategy
from backtest.strategy_templates import TEMPLATES

DEMO_SYMBOL, DEMO_TIMEFRAME = "BTCUSDT", "1h"


def ensure_demo_strategies(owner: AbstractBaseUser) -> list[tuple[Strategy, bool]]:
    """One strategy per template, named after it; (strategy, created) for each."""
    results = []
    for name in TEMPLATES:
        existing = Strategy.objects.filter(owner=owner, name=TEMPLATES[name].title).first()
        if existing:
            results.append((existing, False))
        else:
            results.append((services.strategy_from_template(owner, name), True))
    return results


def ensure_demo_backtest(owner: AbstractBaseUser, strategy: Strategy) -> tuple[Backtest, bool]:
    """A completed run of the strategy on the sample candles, unless the owner has one."""
    existing = Backtest.objects.filter(owner=owner, strategy=strategy).first()
    if existing:
        return existing, False
    request = services.BacktestRequest(
        symbol=DEMO_SYMBOL, timeframe=DEMO_TIMEFRAME, strategy=strategy
    )
    backtest = services.create_backtest(owner, request)
    execute_backtest(backtest.pk, respect_user_limit=False)
    backtest.refresh_from_db()
    return backtest, True
